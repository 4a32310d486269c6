"""Give a converted graph a batch dimension, without touching a weight: many windows per invoke.

A model converted from a ``[1, window, channels]`` signature carries the batch size 1 in two places:
the I/O shape signatures and the constant shape operands of its RESHAPE ops (``[1, 1, 128, 2]``).
LiteRT's ``resize_tensor_input`` alone therefore fails on it (XNNPACK: "failed to reshape"). This
module rewrites exactly those numbers to ``-1`` (a dynamic batch) or ``N`` (a fixed one), leaving
every weight, scale and operator as it was. Two proofs before anything is returned:

1. every operator must be one that computes each window from that window alone (element-wise ops,
   NHWC convolutions and pools, fully connected rows, reductions and gathers that do not run along
   the batch axis); a graph that slices, packs or reduces across the batch (``x[0]``) is refused,
   since in a batch it would judge one window by another, and fail-closed checks stay per window;
2. on check windows (extreme ones included), each window's output in a batch and alone must be
   bit-identical to the original model's.

The manifest then declares ``model.batch`` (``"dynamic"`` or ``N``, docs/bundles.md).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from edge_runtime.errors import UserError

CHECK_BATCH = 37  # an odd size, so padding or tiling bugs show


def parse_batch(value: str | int) -> int | str:
    """``"dynamic"``, or a fixed batch size ``N >= 1`` (``1`` keeps the one-window graph)."""
    if isinstance(value, str) and value.strip().lower() == "dynamic":
        return "dynamic"
    try:
        n = int(value)
    except (TypeError, ValueError):
        raise UserError(f"batch must be 'dynamic' or a positive number of windows, got {value!r}") from None
    if n < 1:
        raise UserError(f"batch must be 'dynamic' or a positive number of windows, got {value!r}")
    return n


def rebatch(model: bytes, batch: int | str) -> bytes:
    """TFLite bytes with batch 1 -> the same graph taking ``batch`` windows (``"dynamic"`` or N).

    Raises :class:`UserError` when the graph's batch cannot be rewritten safely (a RESHAPE whose
    shape is computed, or anything but a leading batch of 1) or when the rewritten graph's outputs
    are not bit-identical to the original's.
    """
    from ai_edge_litert import schema_py_generated as schema

    from converters.flatbuffer import read_model, write_model

    batch = parse_batch(batch)
    if batch == 1:
        return bytes(model)
    dim = -1 if batch == "dynamic" else int(batch)
    obj = read_model(model)
    if len(obj.subgraphs) != 1:
        raise UserError(f"batch: the model has {len(obj.subgraphs)} subgraphs; only single-graph models are rebatched")
    sub = obj.subgraphs[0]
    codes = [max(c.builtinCode, c.deprecatedBuiltinCode) for c in obj.operatorCodes]
    for idx in list(sub.inputs) + list(sub.outputs):
        t = sub.tensors[idx]
        if list(t.shape)[:1] != [1]:
            raise UserError(f"batch: model I/O tensor has shape {list(t.shape)}, expected a leading batch of 1")
        t.shapeSignature = np.array([dim] + list(t.shape)[1:], dtype=np.int32)
        if batch != "dynamic":
            t.shape = np.array([dim] + list(t.shape)[1:], dtype=np.int32)
    names = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
    for op in sub.operators:
        _check_row_wise(obj, sub, op, names.get(codes[op.opcodeIndex], str(codes[op.opcodeIndex])))
        if codes[op.opcodeIndex] == schema.BuiltinOperator.RESHAPE:
            _rebatch_reshape(obj, sub, op, dim)
    out = write_model(obj)
    check_rebatched(model, out, batch)
    return out


ROW_WISE = {  # each output row depends on the same input row only, whatever their parameters
    "ABS", "ADD", "CAST", "CEIL", "COS", "DEQUANTIZE", "DIV", "ELU", "EQUAL", "EXP", "FLOOR", "FLOOR_DIV",
    "FLOOR_MOD", "GELU",
    "GREATER", "GREATER_EQUAL", "HARD_SWISH", "LEAKY_RELU", "LESS", "LESS_EQUAL", "LOG", "LOGICAL_AND",
    "LOGICAL_NOT", "LOGICAL_OR", "LOGISTIC", "LOG_SOFTMAX", "MAXIMUM", "MINIMUM", "MUL", "NEG", "NOT_EQUAL",
    "POW", "PRELU", "QUANTIZE", "RELU", "RELU6", "RELU_N1_TO_1", "ROUND", "RSQRT", "SELECT", "SELECT_V2",
    "SIN", "SOFTMAX", "SQRT", "SQUARE", "SQUARED_DIFFERENCE", "SUB", "TANH",
    "CONV_2D", "DEPTHWISE_CONV_2D", "MAX_POOL_2D", "AVERAGE_POOL_2D", "L2_POOL_2D",  # NHWC: N is the batch
    "FULLY_CONNECTED",  # one output row per input row
    "RESHAPE",  # its leading 1 is rewritten to the batch below
}
LEADING_PARAM = {  # op -> (operand, test of its constant values): the batch axis is left alone
    "TILE": (1, lambda v: int(v[0]) == 1),
    "PAD": (1, lambda v: int(v[0]) == 0 and int(v[1]) == 0),
    "PADV2": (1, lambda v: int(v[0]) == 0 and int(v[1]) == 0),
    "MIRROR_PAD": (1, lambda v: int(v[0]) == 0 and int(v[1]) == 0),
    "TRANSPOSE": (1, lambda v: int(v[0]) == 0),
}
ROW_WISE |= {"RESIZE_NEAREST_NEIGHBOR", "RESIZE_BILINEAR", "TRANSPOSE_CONV"}  # NHWC as well
REDUCTIONS = {"MEAN", "SUM", "REDUCE_MAX", "REDUCE_MIN", "REDUCE_PROD", "REDUCE_ANY", "ARG_MAX", "ARG_MIN"}


def _constant(obj: Any, sub: Any, index: int) -> np.ndarray | None:
    """A constant operand's values (integers; raw bytes for other types), or ``None`` when computed."""
    if index < 0:
        return None
    t = sub.tensors[index]
    buf = obj.buffers[t.buffer]
    if buf is None or buf.data is None or len(buf.data) == 0:
        return None
    dtype = {2: np.int32, 4: np.int64}.get(int(t.type), np.uint8)  # TFLite TensorType INT32, INT64
    return np.frombuffer(bytes(buf.data), dtype=dtype)


def _check_row_wise(obj: Any, sub: Any, op: Any, name: str) -> None:
    def refuse(why: str) -> None:
        raise UserError(f"batch: {name} {why}; in a batch it could judge one window by another, not rebatching")

    if name in ROW_WISE:
        return
    rank = len(sub.tensors[op.inputs[0]].shape)
    if name in REDUCTIONS:
        axes = _constant(obj, sub, op.inputs[1])
        if axes is None:
            refuse("reduces over axes computed at run time")
        if axes.dtype == np.uint8 or any(int(a) % rank == 0 for a in axes):
            refuse("reduces across the batch axis")
        return
    if name == "GATHER":
        axis = int(getattr(op.builtinOptions, "axis", 0) or 0) % rank
        params_const = _constant(obj, sub, op.inputs[0]) is not None
        indices_const = _constant(obj, sub, op.inputs[1]) is not None
        if axis == 0 and not params_const:
            refuse("gathers rows of the batch")
        if axis != 0 and not indices_const:
            refuse("gathers with run-time indices along a window axis")
        return
    if name in LEADING_PARAM:  # a constant per-axis parameter whose batch entry must leave rows alone
        index, keep = LEADING_PARAM[name]
        values = _constant(obj, sub, op.inputs[index])
        if values is None or values.dtype == np.uint8 or not keep(values):
            refuse("may move data across the batch axis")
        return
    if name == "STRIDED_SLICE":  # x[:, 16:48, :] keeps every window; x[0] or x[:1] would not
        o = op.builtinOptions
        strides = _constant(obj, sub, op.inputs[3]) if len(op.inputs) > 3 else None
        whole_batch = o is not None and (o.beginMask & 1) and (o.endMask & 1) and not (o.shrinkAxisMask & 1) \
            and not (o.ellipsisMask & 1) and not (o.newAxisMask & 1)
        if not whole_batch or strides is None or strides.dtype == np.uint8 or int(strides[0]) != 1:
            refuse("slices the batch axis")
        return
    if name == "CONCATENATION":
        if int(getattr(op.builtinOptions, "axis", 0) or 0) % rank == 0:
            refuse("concatenates along the batch axis")
        return
    refuse("is not known to keep windows apart (slicing, packing or shape ops)")


def _rebatch_reshape(obj: Any, sub: Any, op: Any, dim: int) -> None:
    shape_t = sub.tensors[op.inputs[1]] if len(op.inputs) > 1 and op.inputs[1] >= 0 else None
    buf = obj.buffers[shape_t.buffer] if shape_t is not None else None
    if buf is None or buf.data is None or len(buf.data) == 0:
        raise UserError("batch: a RESHAPE's target shape is computed at run time; cannot rebatch this graph")
    target = np.frombuffer(bytes(buf.data), dtype=np.int32).copy()
    if target.size and target[0] == -1 and dim == -1:
        return  # already takes any batch
    if target.size == 0 or target[0] != 1:
        raise UserError(f"batch: a RESHAPE targets {target.tolist()}, not a leading batch of 1; cannot rebatch")
    target[0] = dim
    buf.data = np.frombuffer(target.tobytes(), dtype=np.uint8).copy()
    opts = op.builtinOptions
    if opts is not None and getattr(opts, "newShape", None) is not None and len(opts.newShape):
        new_shape = list(opts.newShape)
        new_shape[0] = dim
        opts.newShape = new_shape


def check_rebatched(original: bytes, rebatched: bytes, batch: int | str, windows: np.ndarray | None = None) -> None:
    """Every window through ``rebatched`` (alone when dynamic, and in batches) must give the original's
    output bit for bit; raises :class:`UserError` naming the first difference."""
    from ai_edge_litert.interpreter import Interpreter

    def io(interp):
        return interp.get_input_details()[0], interp.get_output_details()[0]

    ref = Interpreter(model_content=bytes(original), num_threads=1)
    ref.allocate_tensors()
    rin, rout = io(ref)
    row = tuple(int(v) for v in rin["shape"][1:])
    if windows is None:
        rng = np.random.default_rng(0)
        windows = np.abs(rng.normal(1.0, 0.6, (CHECK_BATCH * 2,) + row)).astype(np.float32)
        windows[::5] *= 4.0  # some large values, so saturating ops are exercised
    dtype = np.dtype(rin["dtype"])
    if dtype.kind in "iu":  # integer I/O: the windows as the model's own quantized values
        scale, zero_point = rin["quantization"]
        info = np.iinfo(dtype)
        x = np.clip(np.rint(np.asarray(windows) / scale) + zero_point, info.min, info.max).astype(dtype)
    else:
        x = np.asarray(windows, dtype=dtype)
    want = []
    for i in range(len(x)):
        ref.set_tensor(rin["index"], x[i:i + 1])
        ref.invoke()
        want.append(ref.get_tensor(rout["index"])[0].copy())
    want = np.stack(want)
    sizes = [CHECK_BATCH, 1] if batch == "dynamic" else [int(batch)]
    for size in sizes:
        interp = Interpreter(model_content=bytes(rebatched), num_threads=1)
        bin_, bout = io(interp)
        if batch == "dynamic":
            interp.resize_tensor_input(bin_["index"], [size, *row])
        try:
            interp.allocate_tensors()
        except RuntimeError as exc:
            raise UserError(f"batch: the rebatched graph does not run at batch {size} ({exc})") from None
        for lo in range(0, len(x), size):
            block = x[lo:lo + size]
            n = len(block)
            if n < size:  # a fixed batch: pad the last block
                block = np.concatenate([block, np.zeros((size - n,) + row, block.dtype)])
            interp.set_tensor(bin_["index"], block)
            interp.invoke()
            got = interp.get_tensor(bout["index"])[:n]
            if got.tobytes() != want[lo:lo + n].tobytes():
                raise UserError(f"batch: outputs at batch {size} differ from the one-window graph; not rebatching")


def rebatch_bundle(source: str, batch: int | str, out: str, log=print, sign_key=None):
    """An existing bundle -> the same transform taking ``batch`` windows per invoke, written to ``out``.

    No TensorFlow: the graph is rewritten (see :func:`rebatch`) and proven bit-identical, so the
    conversion's parity and privacy/utility numbers still describe it and are kept. The model's
    bytes change, so the version (``<date>.<sha256 prefix>``) and ``conversion.size_bytes`` do too,
    and the signature is renewed with ``sign_key`` (without one the result is unsigned).
    """
    import copy
    import datetime as _dt

    from converters.bundle_writer import write_bundle
    from converters.convert import default_version
    from edge_runtime.bundle import load_bundle, read_tflite_io

    bundle = load_bundle(source)
    batch = parse_batch(batch)
    if bundle.batch != 1:
        raise UserError(f"{bundle.path}: already takes batch {bundle.batch!r}; rebatch the one-window bundle")
    model = rebatch(bundle.read_model(), batch)
    manifest = copy.deepcopy(bundle.manifest)
    (inp,), (outp,) = read_tflite_io(model)[bundle.signature]
    manifest["model"]["input"]["shape"] = list(inp.shape)
    manifest["model"]["output"]["shape"] = list(outp.shape)
    manifest["model"]["batch"] = batch
    manifest["version"] = default_version(model)
    manifest["conversion"]["size_bytes"] = len(model)  # the file it is now (load_bundle checks it)
    manifest["conversion"]["batch"] = {
        "batch": batch,
        "from_version": bundle.version,
        "rebatched": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "check": "every window's output bit-identical to the one-window graph, alone and in batches",
    }
    files = {name: (bundle.path / name).read_bytes() for name in bundle.manifest["files"]}
    files[bundle.manifest["model"]["file"]] = model
    written = write_bundle(out, manifest, files, sign_key=sign_key)
    log(f"wrote bundle {written.id} {written.version} (batch {batch!r}, from {bundle.version}) -> {written.path}")
    return written
