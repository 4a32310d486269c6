"""Parity of a converted graph with the float Keras pipeline, measured with the LiteRT interpreter.

Two kinds of evidence go into the manifest: the raw numbers (max/mean absolute difference in
physical units on held-out real windows) and the privacy/utility table recomputed with the same
judges on the Keras outputs and on the TFLite outputs. Targets (int8 vs float Keras): required-
activity accuracy within 1 point, sensitive-activity recognition and gender/identity accuracy
within 2 points, int8 at most 0.3x the float32 size.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from edge_runtime.bundle import SIGNATURE_NAME

TransformFn = Callable[[np.ndarray], np.ndarray]
MetricsFn = Callable[[TransformFn], dict]

INT8_SIZE_RATIO = 0.3
FLOAT32_MAX_ABS_DIFF = 1e-3  # a float32 graph that differs more than this from Keras is a conversion bug

# Which judge metrics have a target, by what their key names: (words that must all appear, limit in points).
# First match wins; keys matching none are reported without a limit. Besides these, "<s>_as_<s>" (how
# often a sensitive activity s is still recognised as s, ``models.evaluation.summary``) has 2 points.
METRIC_LIMITS: tuple[tuple[tuple[str, ...], float], ...] = (
    (("required",), 1.0),
    (("sensitive",), 2.0),
    (("gender",), 2.0),
    (("identity",), 2.0),
)


class LiteRTTransform:
    """A TFLite model's ``transform`` signature as ``[n, window, channels] -> same`` in physical units.

    One invoke per window, exactly as the runtime runs it; integer I/O is (de)quantized with the
    model's own scales.
    """

    def __init__(self, model: bytes, signature: str = SIGNATURE_NAME):
        from ai_edge_litert.interpreter import Interpreter

        from edge_runtime.bundle import read_tflite_io

        self._model = bytes(model)  # the interpreter reads this memory: keep it alive
        self._interpreter = Interpreter(model_content=self._model)
        self._runner = self._interpreter.get_signature_runner(signature)
        (inp,), (out,) = read_tflite_io(self._model)[signature]
        self.input, self.output = inp, out

    def __call__(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float32)
        out = np.empty((len(x),) + tuple(self.output.shape[1:]), dtype=np.float32)
        for i in range(len(x)):
            q = self.input.quantize(x[i:i + 1])
            y = self._runner(**{self.input.name: q})[self.output.name]
            out[i] = self.output.dequantize(y)[0]
        return out


def array_parity(reference: np.ndarray, candidate: np.ndarray) -> dict:
    """Absolute differences of two ``[n, window, channels]`` outputs, overall and per channel."""
    d = np.abs(np.asarray(candidate, np.float64) - np.asarray(reference, np.float64))
    if not np.all(np.isfinite(d)):
        return {"windows": int(len(d)), "max_abs_diff": None, "mean_abs_diff": None,
                "per_channel_max_abs_diff": [None] * d.shape[-1], "finite": False}
    return {
        "windows": int(len(d)),
        "max_abs_diff": float(d.max()),
        "mean_abs_diff": float(d.mean()),
        "per_channel_max_abs_diff": [float(v) for v in d.reshape(-1, d.shape[-1]).max(axis=0)],
        "per_channel_mean_abs_diff": [float(v) for v in d.reshape(-1, d.shape[-1]).mean(axis=0)],
        "finite": True,
    }


SENSITIVE_LIMIT = 2.0


def metric_limit(key: str, keras_value: float, tflite_value: float, sensitive: tuple[str, ...] = ()) -> float | None:
    """The allowed absolute difference for metric ``key`` in its own scale, or None (no target).

    Values up to 1 are fractions (1 point = 0.01); larger values are taken to be percentages.
    """
    low = key.lower()
    points = SENSITIVE_LIMIT if any(low == f"{s}_as_{s}" for s in sensitive) else None
    if points is None:
        points = next((p for words, p in METRIC_LIMITS if all(w in low for w in words)), None)
    if points is None:
        return None
    percent = max(abs(keras_value), abs(tflite_value)) > 1.0
    return points if percent else points / 100.0


@dataclass
class MetricRow:
    keras: float
    tflite: float
    limit: float | None

    @property
    def diff(self) -> float:
        return self.tflite - self.keras

    @property
    def ok(self) -> bool:
        if self.limit is None:
            return True
        return bool(np.isfinite(self.diff) and abs(self.diff) <= self.limit + 1e-12)

    def to_dict(self) -> dict:
        """JSON-safe: a non-finite value (e.g. an infinite distance) is written as null."""
        return {"keras": _finite(self.keras), "tflite": _finite(self.tflite), "diff": _finite(self.diff),
                "limit": self.limit, "ok": self.ok}


def _finite(v: float) -> float | None:
    return float(v) if np.isfinite(v) else None


def compare_metrics(keras_metrics: dict, tflite_metrics: dict, sensitive: tuple[str, ...] = ()) -> dict[str, MetricRow]:
    """Rows for the keys both sides report (numbers only), with a limit where a target applies.

    ``sensitive`` are the run's sensitive activity codes (for the ``<s>_as_<s>`` keys)."""
    rows = {}
    for key in keras_metrics:
        if key not in tflite_metrics:
            continue
        k, t = keras_metrics[key], tflite_metrics[key]
        if isinstance(k, bool) or isinstance(t, bool) or not isinstance(k, (int, float)) or not isinstance(t, (int, float)):
            continue
        rows[key] = MetricRow(float(k), float(t), metric_limit(key, float(k), float(t), tuple(sensitive)))
    return rows


@dataclass
class ParityReport:
    quantization: str
    parity: dict
    size_bytes: int
    float32_size_bytes: int
    metrics: dict[str, MetricRow] = field(default_factory=dict)
    metrics_note: str = ""
    constant_bytes: int = 0  # weights/biases/constants only, to show the fixed overhead of small models
    float32_constant_bytes: int = 0

    @property
    def size_ratio(self) -> float:
        return self.size_bytes / self.float32_size_bytes if self.float32_size_bytes else 1.0

    def targets(self) -> dict[str, bool]:
        """Each applicable target -> met?"""
        out: dict[str, bool] = {"outputs finite": bool(self.parity.get("finite", False))}
        if self.quantization == "float32":
            worst = self.parity["max_abs_diff"]
            out[f"float32 max |diff| <= {FLOAT32_MAX_ABS_DIFF:g}"] = worst is not None and worst <= FLOAT32_MAX_ABS_DIFF
        if self.quantization == "int8":
            out[f"int8 size <= {INT8_SIZE_RATIO}x float32"] = self.size_ratio <= INT8_SIZE_RATIO
        for key, row in self.metrics.items():
            if row.limit is not None:
                out[f"{key} within {row.limit:g}"] = row.ok
        return out

    @property
    def targets_met(self) -> bool:
        return all(self.targets().values())

    def missed(self) -> list[str]:
        return [name for name, ok in self.targets().items() if not ok]

    def to_manifest(self) -> dict:
        d = {
            "size_bytes": self.size_bytes,
            "float32_size_bytes": self.float32_size_bytes,
            "size_ratio_vs_float32": round(self.size_ratio, 4),
            "constant_bytes": self.constant_bytes,
            "float32_constant_bytes": self.float32_constant_bytes,
            "parity": self.parity,
            "metrics": {k: r.to_dict() for k, r in self.metrics.items()},
            "targets": self.targets(),
            "targets_met": self.targets_met,
        }
        if self.metrics_note:
            d["metrics_note"] = self.metrics_note
        return d

    def format(self) -> str:
        """The numbers, as printed by ``edge-runtime convert``."""
        p = self.parity
        lines = [
            f"quantization {self.quantization}: {self.size_bytes} bytes "
            f"({self.size_ratio:.3f}x the float32 graph's {self.float32_size_bytes})"
            + (f"; constants {self.constant_bytes} vs {self.float32_constant_bytes} bytes "
               f"({self.constant_bytes / self.float32_constant_bytes:.3f}x)" if self.float32_constant_bytes else ""),
        ]
        if p["finite"]:
            lines.append(
                f"parity vs float Keras on {p['windows']} held-out windows: max |diff| {p['max_abs_diff']:.4g}, "
                f"mean |diff| {p['mean_abs_diff']:.4g} (per channel max "
                + ", ".join(f"{v:.4g}" for v in p["per_channel_max_abs_diff"]) + ")")
        else:
            lines.append(f"parity vs float Keras on {p['windows']} held-out windows: NON-FINITE outputs")
        if self.metrics:
            lines.append(f"  {'metric':<44} {'keras':>8} {'tflite':>8} {'diff':>8} {'limit':>7}")
            for key, r in self.metrics.items():
                lim = "-" if r.limit is None else f"{r.limit:.4g}"
                mark = "" if r.limit is None else ("  ok" if r.ok else "  MISSED")
                lines.append(f"  {key:<44} {r.keras:8.4f} {r.tflite:8.4f} {r.diff:+8.4f} {lim:>7}{mark}")
        elif self.metrics_note:
            lines.append(f"judges: {self.metrics_note}")
        for name, ok in self.targets().items():
            lines.append(f"target {'met   ' if ok else 'MISSED'} {name}")
        return "\n".join(lines)
