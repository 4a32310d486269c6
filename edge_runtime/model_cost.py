"""What a bundle's model costs, independent of the machine: multiply-accumulates per window and memory.

A board's latency follows from these more than from any x86 or emulated timing: MACs per window
over the board's sustained MAC rate, and the activation arena against its RAM. Read from the graph
through the interpreter's own op and tensor listing (LiteRT and tflite-runtime alike), no schema:

- ``macs``: CONV_2D (output elements x kernel height x width x input channels), DEPTHWISE_CONV_2D
  (output elements x kernel height x width), FULLY_CONNECTED and BATCH_MATMUL (output elements x
  inner dimension). Element-wise ops are counted apart as ``elementwise_ops`` (one per output element).
- ``arena_bytes``: the peak of live intermediate tensors in execution order (a tensor lives from
  the op that makes it to the last op that reads it) — what a memory planner such as TFLite Micro's
  must reserve at least; ``constant_bytes``: weights and other constants.
"""

from __future__ import annotations

from typing import Any

import numpy as np

_MATMUL = {"FULLY_CONNECTED", "BATCH_MATMUL"}
_FREE = {"RESHAPE", "SQUEEZE", "EXPAND_DIMS"}  # views: no arithmetic


def model_cost(interpreter) -> dict[str, Any]:
    """``interpreter``: an allocated LiteRT/tflite-runtime ``Interpreter`` holding one window's model."""
    tensors = {t["index"]: t for t in interpreter.get_tensor_details()}
    # in all three flavours' Python API, underscore and all; a delegate's node stands for ops listed anyway
    ops = [op for op in interpreter._get_ops_details() if op["op_name"] != "DELEGATE"]

    def shape(i: int) -> tuple[int, ...]:
        return tuple(int(d) for d in tensors[i]["shape"])

    def nbytes(i: int) -> int:
        return int(np.prod(shape(i), dtype=np.int64)) * np.dtype(tensors[i]["dtype"]).itemsize

    produced = {o for op in ops for o in op["outputs"] if o >= 0}
    graph_inputs = {d["index"] for d in interpreter.get_input_details()}
    constants = {i for op in ops for i in op["inputs"] if i >= 0 and i not in produced and i not in graph_inputs}

    macs = elementwise = 0
    for op in ops:
        name, ins, outs = op["op_name"], [i for i in op["inputs"] if i >= 0], [o for o in op["outputs"] if o >= 0]
        if not outs:
            continue
        out_elems = int(np.prod(shape(outs[0]), dtype=np.int64))
        if name == "CONV_2D" and len(ins) >= 2:
            _, kh, kw, cin = shape(ins[1])
            macs += out_elems * kh * kw * cin
        elif name == "DEPTHWISE_CONV_2D" and len(ins) >= 2:
            _, kh, kw, _ = shape(ins[1])
            macs += out_elems * kh * kw
        elif name in _MATMUL and len(ins) >= 2:
            macs += out_elems * shape(ins[0])[-1]
        elif name not in _FREE:
            elementwise += out_elems

    last_use: dict[int, int] = {}
    for k, op in enumerate(ops):
        for i in op["inputs"]:
            if i >= 0 and i not in constants:
                last_use[i] = k
    live: dict[int, int] = {i: nbytes(i) for i in graph_inputs}
    peak = sum(live.values())
    for k, op in enumerate(ops):
        for o in op["outputs"]:
            if o >= 0:
                live[o] = nbytes(o)
        peak = max(peak, sum(live.values()))
        for i in [i for i in live if last_use.get(i, -1) <= k]:  # read for the last time (or never)
            live.pop(i)
    return {"macs": int(macs), "elementwise_ops": int(elementwise), "ops": len(ops),
            "arena_bytes": int(peak), "constant_bytes": int(sum(nbytes(i) for i in constants))}


def bundle_cost(bundle) -> dict[str, Any]:
    """:func:`model_cost` of a bundle's model (its own interpreter, one thread)."""
    from edge_runtime.interpreter import load_backend

    _, interpreter_class = load_backend()
    interpreter = interpreter_class(model_content=bundle.read_model(), num_threads=1)
    interpreter.allocate_tensors()
    return model_cost(interpreter)
