"""The TFLite interpreter behind one small abstract class, whichever LiteRT flavour is installed.

A bundle's model is one fused graph: a physical-unit window ``[1, window, channels]`` in, the
transformed window of the same shape out. :class:`WindowInterpreter` is that contract;
:class:`TFLiteInterpreter` implements it on top of the first backend that imports:

1. ``ai_edge_litert`` (LiteRT, the supported edge install),
2. ``tflite_runtime`` (the older standalone wheel, common on ARM boards),
3. ``tensorflow.lite`` (workstations only; imported lazily, inside a function, and never when one of
   the two above is present, so the edge path stays TensorFlow-free).

Integer I/O models (full int8) are quantized and dequantized here with the scales stored in the model
itself; when the bundle manifest documents them too, the two must agree or the model is refused.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import sys
from abc import ABC, abstractmethod
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import numpy as np

from edge_runtime.errors import BundleError, UserError

if TYPE_CHECKING:  # pragma: no cover
    from edge_runtime.bundle import Bundle

DEFAULT_SIGNATURE = "transform"
BACKEND_ENV = "EDGE_RUNTIME_INTERPRETER"  # force a backend by name (tests, benchmarks)


class InterpreterError(RuntimeError):
    """A window could not be transformed (the model failed or returned something unusable)."""


# --------------------------------------------------------------------------------------------
# Backends: each returns its ``Interpreter`` class; all three share the same Python API.


def _litert() -> type:
    return importlib.import_module("ai_edge_litert.interpreter").Interpreter


def _tflite_runtime() -> type:
    return importlib.import_module("tflite_runtime.interpreter").Interpreter


def _tensorflow() -> type:
    tf = importlib.import_module("tensorflow")  # the lazy, workstation-only fallback
    return tf.lite.Interpreter


BACKENDS: dict[str, Callable[[], type]] = {
    "ai_edge_litert": _litert,
    "tflite_runtime": _tflite_runtime,
    "tensorflow": _tensorflow,
}


def load_backend(name: str | None = None) -> tuple[str, type]:
    """``(backend name, Interpreter class)``: ``name``, ``$EDGE_RUNTIME_INTERPRETER``, else the first that imports."""
    name = name or os.environ.get(BACKEND_ENV) or None
    if name is not None:
        if name not in BACKENDS:
            raise UserError(f"unknown interpreter backend {name!r}; known: {', '.join(BACKENDS)}")
        try:
            return name, BACKENDS[name]()
        except ImportError as exc:
            raise UserError(f"interpreter backend {name!r} is not installed ({exc})") from None
    for candidate, loader in BACKENDS.items():
        try:
            return candidate, loader()
        except ImportError:
            continue
    raise UserError("no TFLite interpreter is installed: pip install ai-edge-litert (or tflite-runtime)")


def available_backends() -> list[str]:
    """Backends that import here, in order of preference (this may import TensorFlow: diagnostics only)."""
    found = []
    for name, loader in BACKENDS.items():
        try:
            loader()
        except ImportError:
            continue
        found.append(name)
    return found


@contextlib.contextmanager
def native_stderr_silenced():
    """Silence file descriptor 2 for the block: the LiteRT runtime prints an INFO line from C++ when
    it creates its CPU delegate. Process-wide, so for command-line tools, around interpreter creation."""
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError, AttributeError):  # no real fd 2 (embedded, some test runners)
        yield
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


# --------------------------------------------------------------------------------------------
# The abstract contract and its TFLite implementation


class WindowInterpreter(ABC):
    """One window in, one transformed window out, both float32 in physical units."""

    backend: str
    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...]

    @abstractmethod
    def run(self, x: np.ndarray) -> np.ndarray:
        """``x`` ``[1, window, channels]`` float32 -> the model's output as float32; raises :class:`InterpreterError`."""

    def run_batch(self, x: np.ndarray) -> np.ndarray:
        """``x`` ``[n, window, channels]`` -> ``[n, ...]``: ``n`` windows, each exactly as :meth:`run`
        would transform it alone. This default invokes once per window; batched models do fewer."""
        return np.concatenate([self.run(x[i:i + 1]) for i in range(x.shape[0])]) if x.shape[0] else \
            np.zeros((0,) + tuple(self.output_shape[1:]), np.float32)


class _Quant:
    """Affine int8/uint8 I/O: real = scale * (q - zero_point). ``None`` scale means float I/O."""

    def __init__(self, dtype: np.dtype, scale: float | None, zero_point: int | None):
        self.dtype = np.dtype(dtype)
        self.scale = scale
        self.zero_point = zero_point or 0
        self.is_int = self.dtype.kind in "iu"
        if self.is_int:
            info = np.iinfo(self.dtype)
            self.lo, self.hi = info.min, info.max

    def to_model(self, x: np.ndarray) -> np.ndarray:
        if not self.is_int:
            return x
        return np.clip(np.rint(x / self.scale) + self.zero_point, self.lo, self.hi).astype(self.dtype)

    def from_model(self, q: np.ndarray) -> np.ndarray:
        if not self.is_int:
            return q.astype(np.float32, copy=False)
        return ((q.astype(np.float32) - self.zero_point) * self.scale).astype(np.float32)


def _quant_of(details: dict[str, Any], side: str, where: str) -> _Quant:
    dtype = np.dtype(details["dtype"])
    if dtype == np.float32:
        return _Quant(dtype, None, None)
    if dtype.kind not in "iu":
        raise BundleError(f"{where}: model {side} dtype {dtype} is not supported (float32, int8 or uint8)")
    scale, zero_point = details.get("quantization", (0.0, 0))
    if not scale:
        raise BundleError(f"{where}: model {side} is {dtype} but carries no quantization scale")
    return _Quant(dtype, float(scale), int(zero_point))


class TFLiteInterpreter(WindowInterpreter):
    """A TFLite model run through LiteRT (or a fallback backend), one window per ``invoke``.

    The signature (``transform``) picks the input and output tensors; a model without signatures
    must have exactly one input and one output. Tensors are set and read directly on the
    interpreter, not through the signature runner, which would re-allocate on every call.
    """

    def __init__(
        self,
        model: bytes | str | os.PathLike,
        *,
        signature: str | None = DEFAULT_SIGNATURE,
        backend: str | None = None,
        num_threads: int = 1,
        where: str = "model",
        batch: int | str = 1,
    ):
        self.backend, interpreter_class = load_backend(backend)
        content = model if isinstance(model, (bytes, bytearray)) else Path(model).read_bytes()
        self._content, self._class, self._num_threads = bytes(content), interpreter_class, num_threads
        self.batch = batch  # windows per invoke: 1, a fixed N, or "dynamic" (the manifest's model.batch)
        self._sized: dict[int, Any] = {}  # dynamic batch: one interpreter per power-of-two batch size
        try:
            self._interp = interpreter_class(model_content=self._content, num_threads=num_threads)
            self._interp.allocate_tensors()
        except Exception as exc:  # the backends raise ValueError/RuntimeError for unloadable models
            raise BundleError(f"{where}: the {self.backend} interpreter cannot load the model ({exc})") from None
        inp, out = self._io_details(signature, where)
        self._in_index, self._out_index = int(inp["index"]), int(out["index"])
        self.input_shape = tuple(int(v) for v in inp["shape"])
        self.output_shape = tuple(int(v) for v in out["shape"])
        # -1 marks a dimension the model only fixes at run time; the engine checks each output.
        self.output_shape_signature = tuple(int(v) for v in out.get("shape_signature", out["shape"]))
        if batch == "dynamic":  # run() takes one window: the batch dimension is ours, not the output's
            self.output_shape_signature = (1,) + self.output_shape_signature[1:]
        self.model_rows = self.input_shape[0]  # windows the model takes as loaded (N when fixed, else 1)
        if isinstance(batch, int) and batch > 1:  # a fixed batch of N: run() still takes one window (padded)
            self.input_shape = (1,) + self.input_shape[1:]
            self.output_shape = (1,) + self.output_shape[1:]
            self.output_shape_signature = (1,) + self.output_shape_signature[1:]
        self.input_quant = _quant_of(inp, "input", where)
        self.output_quant = _quant_of(out, "output", where)
        self.signature = signature

    def _io_details(self, signature: str | None, where: str) -> tuple[dict[str, Any], dict[str, Any]]:
        sigs = self._interp.get_signature_list() if hasattr(self._interp, "get_signature_list") else {}
        if signature and sigs:
            if signature not in sigs:
                raise BundleError(f"{where}: no signature {signature!r} in the model (it has {sorted(sigs)})")
            runner = self._interp.get_signature_runner(signature)
            ins, outs = runner.get_input_details(), runner.get_output_details()
            if len(ins) != 1 or len(outs) != 1:
                raise BundleError(f"{where}: signature {signature!r} must have one input and one output")
            if getattr(runner, "_subgraph_index", 0) != 0:
                raise BundleError(f"{where}: signature {signature!r} is not the model's main graph")
            return next(iter(ins.values())), next(iter(outs.values()))
        ins, outs = self._interp.get_input_details(), self._interp.get_output_details()
        if len(ins) != 1 or len(outs) != 1:
            raise BundleError(f"{where}: the model must have one input and one output, has {len(ins)}/{len(outs)}")
        return ins[0], outs[0]

    @classmethod
    def from_bundle(cls, bundle: "Bundle", *, backend: str | None = None, num_threads: int = 1,
                    batched: bool = True) -> "TFLiteInterpreter":
        """The bundle's model (re-checked against its checksum); I/O must match the manifest exactly.

        ``batched=False`` runs a dynamic-batch model one window per invoke (the baseline the
        benchmark compares batching against)."""
        where = str(bundle.model_path)
        batch = bundle.batch if batched or bundle.batch != "dynamic" else 1
        interp = cls(bundle.read_model(), signature=bundle.signature, backend=backend,
                     num_threads=num_threads, where=where, batch=batch)
        rows = bundle.batch if isinstance(bundle.batch, int) else 1
        want_in = (1, bundle.input_length, bundle.n_channels)
        want_out = (1, bundle.window, bundle.n_channels)
        if interp.input_shape != want_in or interp.output_shape != want_out or interp.model_rows != rows:
            raise BundleError(
                f"{where}: model I/O shapes {[interp.model_rows, *interp.input_shape[1:]]} -> "
                f"{[interp.model_rows, *interp.output_shape[1:]]} do not match the manifest's "
                f"{[rows, *want_in[1:]]} -> {[rows, *want_out[1:]]}"
            )
        for side, quant, spec in (("input", interp.input_quant, bundle.input), ("output", interp.output_quant, bundle.output)):
            declared = np.dtype(spec.dtype)
            if declared != quant.dtype:
                raise BundleError(f"{where}: model {side} is {quant.dtype}, the manifest says {declared}")
            if quant.is_int and (
                spec.scale is None
                or not np.isclose(spec.scale, quant.scale, rtol=1e-6, atol=0)
                or int(spec.zero_point or 0) != quant.zero_point
            ):
                raise BundleError(
                    f"{where}: model {side} quantization ({quant.scale}, {quant.zero_point}) does not match "
                    f"the manifest's ({spec.scale}, {spec.zero_point})"
                )
        return interp

    def run(self, x: np.ndarray) -> np.ndarray:
        if x.shape != self.input_shape:
            raise InterpreterError(f"input shape {x.shape} is not the model's {self.input_shape}")
        if isinstance(self.batch, int) and self.batch > 1:
            return self.run_batch(x)
        interp, quant_in, quant_out = self._interp, self.input_quant, self.output_quant
        try:
            interp.set_tensor(self._in_index, quant_in.to_model(x) if quant_in.is_int else x)
            interp.invoke()
            y = interp.get_tensor(self._out_index)
        except Exception as exc:  # any backend failure is one failed window, never a crash
            raise InterpreterError(f"{self.backend} invoke failed: {exc}") from None
        return quant_out.from_model(y) if quant_out.is_int else y

    # -- many windows per invoke ----------------------------------------------------------------

    MAX_BATCH = 64  # windows per invoke: larger batches measured no faster on the shipped bundles

    def run_batch(self, x: np.ndarray) -> np.ndarray:
        """``x`` ``[n, ...]`` -> ``[n, ...]`` in as few invokes as the model allows.

        A dynamic-batch model runs power-of-two blocks (37 windows: 32 + 4 + 1) on interpreters
        sized once each, so nothing is re-allocated per call; a fixed-batch model runs blocks of its
        ``N``, the last one zero-padded; a one-window model invokes per window. Rows of a batch do
        not interact, so each window's output is bit-identical to its one-window invoke (checked at
        conversion and in the tests).
        """
        n = x.shape[0]
        if self.batch == 1 or (self.batch == "dynamic" and n <= 1):
            return super().run_batch(x)
        out = np.empty((n,) + tuple(self.output_shape[1:]), np.float32)
        lo = 0
        while lo < n:
            size = self._block(n - lo)
            interp, i_idx, o_idx = self._batch_interpreter(size)
            block = x[lo:lo + size]
            k = block.shape[0]
            if k < size:  # fixed batch: pad the last block (its extra rows are discarded)
                block = np.concatenate([block, np.zeros((size - k,) + block.shape[1:], block.dtype)])
            try:
                interp.set_tensor(i_idx, self.input_quant.to_model(block) if self.input_quant.is_int
                                  else np.ascontiguousarray(block))
                interp.invoke()
                y = interp.get_tensor(o_idx)
            except Exception as exc:  # any backend failure fails the batch; the caller retries per window
                raise InterpreterError(f"{self.backend} batched invoke failed: {exc}") from None
            out[lo:lo + k] = (self.output_quant.from_model(y) if self.output_quant.is_int else y)[:k]
            lo += k
        return out

    def _block(self, remaining: int) -> int:
        if self.batch != "dynamic":
            return int(self.batch)
        size = 1
        while size * 2 <= min(remaining, self.MAX_BATCH):
            size *= 2
        return size

    def _batch_interpreter(self, size: int) -> tuple[Any, int, int]:
        if self.batch != "dynamic" or size == 1:  # a fixed batch runs on the interpreter as loaded
            return self._interp, self._in_index, self._out_index
        if size not in self._sized:
            interp = self._class(model_content=self._content, num_threads=self._num_threads)
            interp.resize_tensor_input(self._in_index, [size, *self.input_shape[1:]], strict=True)
            try:
                interp.allocate_tensors()
            except Exception as exc:
                raise InterpreterError(f"{self.backend} cannot run batches of {size} ({exc})") from None
            self._sized[size] = interp
        return self._sized[size], self._in_index, self._out_index
