"""The streaming engine: raw IMU samples per device in, transformed windows out, fail closed.

Per device, a batch of timestamped raw samples (acceleration xyz in g including gravity, angular
rate xyz in rad/s; other units are converted here, at the edge, from an explicit :class:`RawUnits`)
goes through

    units -> the bundle's features (e.g. magnitudes) -> resampling to the bundle's rate
          -> a window every ``stride`` grid samples -> the bundle's fused transform -> a record

and comes out as :class:`~edge_runtime.transformed_window.TransformedWindow` records. The engine never emits
anything but a model output: a window whose transform fails for any reason (the interpreter raises,
the output has the wrong shape, holds NaN/inf, or is the input itself) is dropped and counted per
device with its reason, and nothing of it leaves. Records look alike whatever the model did: same
fields, same size, one per ``stride`` samples of a continuous timeline.

A bundle may declare context (``before``/``after`` samples around each window, edge_runtime/context.py):
a window is then released once its look-ahead has arrived, the stream's edge samples are held past its ends, and
``engine.flush(device_id)`` releases the last windows when a stream ends (disconnect, end of a recording).

Consumers: ``Engine(bundle).push(device_id, t, raw)`` returns the windows that batch completed
(the gateway pushes each ingested batch); ``engine.stats()`` gives the per-device counters. :func:`transform_windows` transforms ready-made windows in bulk (the offline
transform and the deployed-path evaluation) through the same fail-closed guard.

An engine is not thread-safe: use it from one thread (or one event loop).
"""

from __future__ import annotations

import math
import os
import warnings
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Iterable, Union

import numpy as np

from edge_runtime.context import context_window, padded
from edge_runtime.errors import BundleError, UserError
from edge_runtime.interpreter import TFLiteInterpreter, WindowInterpreter
from edge_runtime.transformed_window import TransformedWindow
from edge_runtime.resample import DEFAULT_MAX_GAP_S, Resampler

if TYPE_CHECKING:  # loaded lazily at run time (verification pulls in cryptography)
    from edge_runtime.bundle import Bundle

BundleRef = Union["Bundle", str, os.PathLike]  # a loaded bundle, a shipped bundle's name, or a folder

STANDARD_GRAVITY = 9.80665  # m/s^2 per g

ACC_UNITS: dict[str, float] = {"g": 1.0, "mg": 1e-3, "m/s^2": 1.0 / STANDARD_GRAVITY, "m/s2": 1.0 / STANDARD_GRAVITY}
GYRO_UNITS: dict[str, float] = {
    "rad/s": 1.0,
    "mrad/s": 1e-3,
    "deg/s": math.pi / 180.0,
    "dps": math.pi / 180.0,
    "mdps": math.pi / 180.0e3,
}

# The finiteness check's dot product on a non-finite window is expected, counted, never a warning.
warnings.filterwarnings("ignore", "invalid value encountered in dot", RuntimeWarning, r"edge_runtime\.engine")

_FLOAT32 = np.dtype(np.float32)

# Why a window was dropped. No reason ever depends on what the window contains (class, activity).
DROP_REASONS = ("interpreter", "shape", "nan_input", "nan_output", "passthrough")


@dataclass(frozen=True)
class RawUnits:
    """Units the device reports in; converted to g and rad/s before anything else happens."""

    acc: str = "g"
    gyro: str = "rad/s"

    def __post_init__(self) -> None:
        if self.acc not in ACC_UNITS:
            raise UserError(f"unknown acceleration unit {self.acc!r}; known: {', '.join(ACC_UNITS)}")
        if self.gyro not in GYRO_UNITS:
            raise UserError(f"unknown angular rate unit {self.gyro!r}; known: {', '.join(GYRO_UNITS)}")

    @classmethod
    def parse(cls, value: "RawUnits | tuple[str, str] | str | None") -> "RawUnits":
        """``RawUnits``, ``("m/s^2", "deg/s")`` or ``"m/s^2,deg/s"``; ``None`` is g and rad/s."""
        if value is None:
            return cls()
        if isinstance(value, RawUnits):
            return value
        if isinstance(value, str):
            parts = [p.strip() for p in value.split(",")]
            if len(parts) != 2:
                raise UserError(f"units {value!r}: expected 'ACC,GYRO', e.g. 'm/s^2,deg/s'")
            return cls(*parts)
        acc, gyro = value
        return cls(acc, gyro)

    def scale(self) -> np.ndarray | None:
        """Per-column factor to g / rad/s, or ``None`` when already there."""
        a, g = ACC_UNITS[self.acc], GYRO_UNITS[self.gyro]
        if a == 1.0 and g == 1.0:
            return None
        return np.array([a, a, a, g, g, g], dtype=np.float64)


@dataclass
class StreamStats:
    """Counters of one device's sample stream through the engine. Never per class: they would reveal what the wearer did."""

    batches: int = 0
    batches_malformed: int = 0  # wrong shapes: the whole batch is dropped
    samples_in: int = 0
    samples_invalid: int = 0
    samples_out_of_order: int = 0
    samples_resampled: int = 0
    restarts: int = 0  # long gaps: the partial window is discarded, a new timeline starts
    windows_emitted: int = 0
    windows_dropped: int = 0
    drops: dict[str, int] = field(default_factory=lambda: dict.fromkeys(DROP_REASONS, 0))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# --------------------------------------------------------------------------------------------
# The fail-closed transform of one window


class GuardedTransform:
    """Runs one window through the model; returns its output, or ``None`` and why it was dropped.

    What comes back is always the model's output and never the input: a failing invoke, a wrong
    output shape, a non-finite value, or an output bit-identical to the input (a graph that does not
    transform) all drop the window.
    """

    def __init__(self, interpreter: WindowInterpreter, window: int, channels: int, before: int = 0, after: int = 0):
        self.interpreter = interpreter
        self.in_shape = (1, before + window + after, channels)
        self.shape = (1, window, channels)
        self.window, self.channels, self.before = window, channels, before
        self._zeros = np.zeros(self.in_shape[1] * channels, dtype=np.float32)
        self._zeros_out = self._zeros[:window * channels]
        if tuple(interpreter.input_shape) != self.in_shape:
            raise BundleError(f"the model takes {list(interpreter.input_shape)}, the bundle says {list(self.in_shape)}")
        declared = getattr(interpreter, "output_shape_signature", interpreter.output_shape)
        if len(declared) != 3 or any(d not in (-1, s) for d, s in zip(declared, self.shape)):
            raise BundleError(f"the model returns {list(declared)}, the bundle says {list(self.shape)}")

    @staticmethod
    def _finite(a: np.ndarray, zeros: np.ndarray) -> bool:
        """All values finite, in one BLAS call: 0 * inf and 0 * nan are nan, so the dot is 0.0 exactly
        when every value is finite (a third of ``np.isfinite(a).all()``'s cost, on every window)."""
        return a.ravel().dot(zeros) == 0.0

    def __call__(self, x: np.ndarray, finite: bool = False) -> tuple[np.ndarray | None, str | None]:
        """``x`` ``[before + window + after, channels]`` float32 (the window with its context) ->
        ``(y [window, channels], None)`` or ``(None, reason)``.

        ``finite=True`` skips the input check when the caller guarantees it (the resampler does).
        Every step here is paid on every window, so each is the cheapest numpy call that does it.
        """
        if type(x) is not np.ndarray or x.dtype is not _FLOAT32:
            x = np.asarray(x, dtype=np.float32)
        x1 = x[None]
        if x1.shape != self.in_shape:
            return None, "shape"
        if not finite and not self._finite(x1, self._zeros):
            return None, "nan_input"
        try:
            y = self.interpreter.run(x1)
        except Exception:  # InterpreterError, or anything else a backend throws: one failed window
            return None, "interpreter"
        if type(y) is not np.ndarray or y.shape != self.shape or y.dtype is not _FLOAT32:
            return None, "shape"
        if not self._finite(y, self._zeros_out):
            return None, "nan_output"
        centre = x1 if self.before == 0 and self.in_shape == self.shape else x1[:, self.before:self.before + self.window]
        if y.tobytes() == centre.tobytes():  # the graph handed its input back
            return None, "passthrough"
        return y[0], None

    def batch(self, xs: np.ndarray, finite: bool = False) -> tuple[np.ndarray, list[str | None]]:
        """``xs`` ``[n, before + window + after, channels]`` -> ``(ys [n, window, channels], reasons [n])``:
        many windows per invoke, each judged alone exactly as :meth:`__call__` would (a dropped row is
        all NaN and has its reason; ``None`` means kept). A window whose input is not finite never
        enters the batch; a batch the interpreter fails on is retried one window at a time, so one
        bad window is dropped alone."""
        xs = np.asarray(xs, dtype=np.float32)
        n = xs.shape[0] if xs.ndim == 3 else 0
        ys = np.full((n,) + self.shape[1:], np.nan, np.float32)
        if xs.ndim != 3 or xs.shape[1:] != self.in_shape[1:]:
            return ys, ["shape"] * n
        reasons: list[str | None] = [None] * n
        rows = np.arange(n)
        if not finite:
            good = _rows_finite(xs.reshape(n, -1))
            for i in np.flatnonzero(~good):
                reasons[i] = "nan_input"
            rows = rows[good]
        if rows.size == 0:
            return ys, reasons
        block = xs if rows.size == n else xs[rows]
        try:
            y = self.interpreter.run_batch(block)
            if type(y) is not np.ndarray or y.shape != (len(rows),) + self.shape[1:] or y.dtype is not _FLOAT32:
                raise ValueError("batch output shape")
        except Exception:  # judge each window alone: only the failing ones are dropped
            for i in rows:
                y1, reasons[i] = self(xs[i], finite=True)
                if y1 is not None:
                    ys[i] = y1
            return ys, reasons
        centre = block if self.in_shape == self.shape else block[:, self.before:self.before + self.window]
        flat_y = y.reshape(len(rows), -1)
        bad_out = ~_rows_finite(flat_y)
        same = (flat_y.view(np.uint32) == np.ascontiguousarray(centre).reshape(len(rows), -1).view(np.uint32)).all(axis=1)
        kept = ~(bad_out | same)
        ys[rows[kept]] = y[kept]
        for j in np.flatnonzero(~kept):
            reasons[rows[j]] = "nan_output" if bad_out[j] else "passthrough"  # passthrough: the graph handed its input back
        return ys, reasons


def _rows_finite(a: np.ndarray) -> np.ndarray:
    """Per row of ``a [n, m]``, whether every value is finite. Not the one-window BLAS dot: a
    matrix-vector product this size wakes OpenBLAS's worker threads, which then spin on the other
    cores (measured: twice the CPU time per window of a 1024-window bulk batch, and two Dask
    workers on two cores stealing each other's core)."""
    return np.isfinite(a).all(axis=1)


def _load(bundle: BundleRef) -> Bundle:
    from edge_runtime.bundle import Bundle, load_bundle

    return bundle if isinstance(bundle, Bundle) else load_bundle(bundle)


def _interpreter_for(bundle: Bundle, backend: str | None, num_threads: int) -> WindowInterpreter:
    return TFLiteInterpreter.from_bundle(bundle, backend=backend, num_threads=num_threads)


# --------------------------------------------------------------------------------------------
# Streaming


class _Device:
    def __init__(self, rate: float, channels: int, max_gap: float):
        self.resampler = Resampler(rate=rate, channels=channels, max_gap=max_gap)
        self.values = np.zeros((0, channels), dtype=np.float32)  # context, pending windows, look-ahead
        self.times = np.zeros(0, dtype=np.float64)
        self.next = 0  # buffer index where the next window starts (past the end when stride > window)
        self.seq = 0
        self.stats = StreamStats()

    def restart_window(self) -> None:
        self.values = self.values[:0]
        self.times = self.times[:0]
        self.next = 0


class Engine:
    """Per-device streaming transform with one bundle. See the module docstring."""

    def __init__(
        self,
        bundle: BundleRef,
        *,
        stride: int | None = None,
        units: RawUnits | tuple[str, str] | str | None = None,
        max_gap: float = DEFAULT_MAX_GAP_S,
        interpreter: WindowInterpreter | None = None,
        backend: str | None = None,
        num_threads: int = 1,
    ):
        self.units = RawUnits.parse(units)
        self._scale = self.units.scale()
        if stride is not None and (not isinstance(stride, (int, np.integer)) or stride < 1):
            raise UserError(f"stride must be a positive number of samples, got {stride!r}")
        if not (max_gap > 0):
            raise UserError(f"max_gap must be positive seconds, got {max_gap!r}")
        self._stride_option = stride
        self.max_gap = float(max_gap)
        self._backend, self._num_threads = backend, num_threads
        self._devices: dict[str, _Device] = {}
        self._retired: dict[str, int] = {}
        self._use(_load(bundle), interpreter)

    def _use(self, bundle: Bundle, interpreter: WindowInterpreter | None) -> None:
        interp = interpreter or _interpreter_for(bundle, self._backend, self._num_threads)
        guard = GuardedTransform(interp, bundle.window, bundle.n_channels, bundle.context_before, bundle.context_after)
        self.bundle = bundle
        self.guard = guard
        self.window = bundle.window
        self.before, self.after = bundle.context_before, bundle.context_after
        self.stride = int(self._stride_option or bundle.window)
        self.sample_rate = bundle.sample_rate
        self.feature_set = bundle.feature_set
        self.channels, self.units_out = bundle.channels, bundle.units
        self._bundle_id, self._bundle_version = bundle.id, bundle.version

    @property
    def interpreter(self) -> WindowInterpreter:
        return self.guard.interpreter

    def replace_bundle(self, bundle: BundleRef, interpreter: WindowInterpreter | None = None) -> None:
        """Switch to another bundle (a reload). Sequence numbers and counters carry on; partial
        windows restart unless rate, window and channels are unchanged. A bundle that fails to load
        raises and leaves the current one in place."""
        new = _load(bundle)
        same = ((new.sample_rate, new.window, new.channels, new.context_before, new.context_after)
                == (self.sample_rate, self.window, self.channels, self.before, self.after))
        self._use(new, interpreter)
        if not same:
            for dev in self._devices.values():
                dev.resampler = Resampler(rate=self.sample_rate, channels=len(self.channels), max_gap=self.max_gap,
                                          counters=dev.resampler.counters)
                dev.restart_window()

    # -- devices ------------------------------------------------------------------------------

    def _device(self, device_id: str) -> _Device:
        dev = self._devices.get(device_id)
        if dev is None:
            dev = self._devices[device_id] = _Device(self.sample_rate, len(self.channels), self.max_gap)
        return dev

    def resume_sequence(self, device_id: str, next_seq: int) -> None:
        """Continue a device's sequence numbers at ``next_seq`` (e.g. from a spool after a restart)."""
        if next_seq < 0:
            raise ValueError(f"next_seq must be >= 0, got {next_seq}")
        self._device(str(device_id)).seq = int(next_seq)

    def devices(self) -> list[str]:
        return list(self._devices)

    def forget(self, device_id: str) -> None:
        """Drop a device's state (its partial window is discarded, never emitted); its counters
        stay in :meth:`totals`."""
        if device_id in self._devices:
            self._retired = _add_counts(self._retired, self._device_totals([device_id]))
            del self._devices[device_id]

    def stats(self) -> dict[str, dict[str, Any]]:
        """Per-device counters: ``{device_id: {samples_in, windows_emitted, windows_dropped, drops, ...}}``."""
        out = {}
        for device_id, dev in self._devices.items():
            r = dev.resampler.counters
            s = dev.stats
            s.samples_in, s.samples_invalid = r.samples_in, r.samples_invalid
            s.samples_out_of_order, s.samples_resampled, s.restarts = r.samples_out_of_order, r.samples_out, r.restarts
            out[device_id] = s.to_dict()
        return out

    def totals(self) -> dict[str, int]:
        """The counters summed over all devices, forgotten ones included (drops as ``drops_<reason>``)."""
        return _add_counts(self._retired, self._device_totals(list(self._devices)))

    def _device_totals(self, device_ids: list[str]) -> dict[str, int]:
        stats = self.stats()
        total: dict[str, int] = {}
        for device_id in device_ids:
            for k, v in stats[device_id].items():
                if k == "drops":
                    for reason, n in v.items():
                        total[f"drops_{reason}"] = total.get(f"drops_{reason}", 0) + n
                else:
                    total[k] = total.get(k, 0) + v
        return total

    # -- the stream ---------------------------------------------------------------------------

    def push(self, device_id: str, t: Any, raw: Any) -> list[TransformedWindow]:
        """Add a batch of samples ``t[n]`` (seconds), ``raw[n, 6]``; return the windows it completed."""
        dev = self._device(str(device_id))
        dev.stats.batches += 1
        try:
            t = np.asarray(t, dtype=np.float64).reshape(-1)
            raw = np.asarray(raw)
            if raw.ndim != 2 or raw.shape != (t.shape[0], 6) or raw.dtype.kind not in "fiu":
                raise ValueError(raw.shape)
        except (ValueError, TypeError):
            dev.stats.batches_malformed += 1
            return []
        if t.shape[0] == 0:
            return []
        if self._scale is not None:
            raw = raw * self._scale
        feats = self.feature_set.from_raw(raw)
        out: list[TransformedWindow] = []
        for chunk in dev.resampler.push(t, feats):
            if chunk.restart:  # a long gap: the old timeline's last windows leave now, with less context
                self._flush(device_id, dev, out)
            self._add(device_id, dev, chunk.times, chunk.values, out)
        return out

    def flush(self, device_id: str) -> list[TransformedWindow]:
        """The stream of ``device_id`` ended (disconnect, end of a recording): transform the windows
        still waiting for their look-ahead, the missing context held at the stream's last sample, and start afresh.
        Samples that do not fill a window are not a window and are discarded."""
        out: list[TransformedWindow] = []
        dev = self._devices.get(str(device_id))
        if dev is not None:
            self._flush(str(device_id), dev, out)
        return out

    def _flush(self, device_id: str, dev: _Device, out: list) -> None:
        values, times, p = dev.values, dev.times, dev.next
        ready = []
        while p + self.window <= values.shape[0]:
            ready.append((p, context_window(values, p, self.window, self.before, self.after)))
            p += self.stride
        self._release(device_id, dev, times, ready, out)
        dev.restart_window()

    def _add(self, device_id: str, dev: _Device, times: np.ndarray, values: np.ndarray, out: list) -> None:
        if dev.values.shape[0]:
            values = np.concatenate((dev.values, values))
            times = np.concatenate((dev.times, times))
        w, s, b, a = self.window, self.stride, self.before, self.after
        p = dev.next
        n = values.shape[0]
        ready = []
        while p + w + a <= n:  # the window and its look-ahead are here
            x = values[p - b:p + w + a] if p >= b else context_window(values, p, w, b, a)  # stream start: first sample held
            ready.append((p, x))
            p += s
        self._release(device_id, dev, times, ready, out)
        keep = max(0, min(p, n) - b)  # the next window's history stays
        dev.values, dev.times, dev.next = values[keep:], times[keep:], p - keep

    def _release(self, device_id: str, dev: _Device, times: np.ndarray, ready: list, out: list) -> None:
        """The ready ``(start, window with context)`` pairs -> records: one invoke per window, or
        batched invokes when the model takes batches and several are ready (the same records)."""
        if len(ready) > 1 and self.interpreter_batches:
            self._transform_many(device_id, dev, times, ready, out)
            return
        for p, x in ready:
            record = self._transform(device_id, dev, times[p], x)
            if record is not None:
                out.append(record)

    @property
    def interpreter_batches(self) -> bool:
        """Whether the model takes more than one window per invoke (the manifest's ``model.batch``)."""
        return getattr(self.interpreter, "batch", 1) != 1

    def _transform_many(self, device_id: str, dev: _Device, times: np.ndarray, ready: list, out: list) -> None:
        """The ready windows in batched invokes; records, sequence numbers and drop counters come
        out exactly as from one :meth:`_transform` per window, in order."""
        ys, reasons = self.guard.batch(np.stack([x for _, x in ready]), finite=True)
        for (p, _), y, reason in zip(ready, ys, reasons):
            if reason is not None:
                dev.stats.windows_dropped += 1
                dev.stats.drops[reason] += 1
                continue
            out.append(TransformedWindow(device_id, dev.seq, float(times[p]), self.sample_rate, self.channels,
                                         self.units_out, y, self._bundle_id, self._bundle_version))
            dev.seq += 1
            dev.stats.windows_emitted += 1

    def transform_window(self, device_id: str, start_time: float, x: np.ndarray) -> TransformedWindow | None:
        """One ready window ``x`` (the bundle's features, on its grid) for a device: its record, or
        ``None`` when dropped (counted). ``x`` is ``[before + window + after, channels]``, or just
        ``[window, channels]`` (its context then held, as for a one-window stream). For consumers
        that do their own windowing; it shares the device's sequence numbers and counters with :meth:`push`."""
        device_id = str(device_id)
        x = with_context(x, self.window, self.before, self.after)
        return self._transform(device_id, self._device(device_id), float(start_time), x, finite=False)

    def _transform(self, device_id: str, dev: _Device, start_time: float, x: np.ndarray,
                   finite: bool = True) -> TransformedWindow | None:
        y, reason = self.guard(x, finite=finite)
        if y is None:
            dev.stats.windows_dropped += 1
            dev.stats.drops[reason] += 1
            return None
        record = TransformedWindow(device_id, dev.seq, float(start_time), self.sample_rate, self.channels,
                                   self.units_out, y, self._bundle_id, self._bundle_version)
        dev.seq += 1
        dev.stats.windows_emitted += 1
        return record


def with_context(x: np.ndarray, window: int, before: int, after: int) -> np.ndarray:
    """A bare window ``[window, c]`` gets its context held; anything else is passed as it is
    (the guard drops a wrong shape)."""
    if (before or after) and getattr(x, "shape", (0,))[0] == window:
        return context_window(np.asarray(x, dtype=np.float32), 0, window, before, after)
    return x


def _add_counts(a: dict[str, int], b: dict[str, int]) -> dict[str, int]:
    return {k: a.get(k, 0) + b.get(k, 0) for k in {**a, **b}}


# --------------------------------------------------------------------------------------------
# Bulk: ready-made windows (offline transform, deployed-path evaluation)


def transform_windows(
    bundle: BundleRef,
    windows: np.ndarray,
    *,
    out: np.ndarray | None = None,
    interpreter: WindowInterpreter | None = None,
    backend: str | None = None,
    batch_size: int = 1024,
    progress: Callable[[int], None] | None = None,
    drops: dict[str, int] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Transform ``windows[n, window, channels]`` (the bundle's features, physical units), or,
    for a bundle with context, ``windows[n, before + window + after, channels]`` (windows without
    it get their context held, each as a one-window stream).

    Returns ``(values, ok)``: ``values`` ``[n, window, channels]`` float32 (written into ``out`` when
    given) and ``ok`` ``[n]`` bool. A dropped window (any failure, see :class:`GuardedTransform`) is
    all NaN in ``values`` and ``False`` in ``ok``: its input never reaches the output. ``windows``
    may be a memory map: it is read ``batch_size`` windows at a time. ``progress(k)`` is called with
    the number of windows done after each batch. ``drops``, when given, counts dropped windows by
    reason (``DROP_REASONS``).
    """
    b = _load(bundle)
    shape = (b.window, b.n_channels)
    if windows.ndim != 3 or tuple(windows.shape[1:]) not in (shape, (b.input_length, b.n_channels)):
        raise UserError(
            f"windows have shape {list(windows.shape)}; the bundle {b.id} takes [n, {b.window}, {b.n_channels}] "
            f"({', '.join(b.channels)} in {', '.join(b.units)})"
            + (f" or, with context, [n, {b.input_length}, {b.n_channels}]" if b.input_length != b.window else "")
        )
    guard = GuardedTransform(interpreter or _interpreter_for(b, backend, 1), b.window, b.n_channels,
                             b.context_before, b.context_after)
    one_window = getattr(guard.interpreter, "batch", 1) == 1
    n = windows.shape[0]
    if out is None:
        out = np.empty((n,) + shape, dtype=np.float32)
    elif out.shape != (n,) + shape:
        raise UserError(f"output array has shape {list(out.shape)}, expected {[n, *shape]}")
    ok = np.zeros(n, dtype=bool)
    for lo in range(0, n, batch_size):
        hi = min(lo + batch_size, n)
        block = np.asarray(windows[lo:hi], dtype=np.float32)
        if block.shape[1] != b.input_length:  # bare windows: each a one-window stream, its context held
            block = padded(block, b.context_before, b.context_after)
        if one_window:
            result = np.full((hi - lo,) + shape, np.nan, dtype=np.float32)
            for i in range(hi - lo):
                y, reason = guard(block[i])
                if y is not None:
                    result[i] = y
                    ok[lo + i] = True
                elif drops is not None:
                    drops[reason] = drops.get(reason, 0) + 1
        else:  # the bundle's model takes batches: many windows per invoke, each judged alone
            result, reasons = guard.batch(block)
            ok[lo:hi] = [r is None for r in reasons]
            if drops is not None:
                for r in reasons:
                    if r is not None:
                        drops[r] = drops.get(r, 0) + 1
        out[lo:hi] = result
        if progress is not None:
            progress(hi - lo)
    return out, ok


def stack_values(records: Iterable[TransformedWindow]) -> np.ndarray:
    """Records' values as ``[n, window, channels]`` (for tools and tests)."""
    values = [r.values for r in records]
    return np.stack(values) if values else np.zeros((0, 0, 0), dtype=np.float32)
