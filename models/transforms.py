"""Transforms under evaluation: anything mapping raw windows ``[n, window, channels]`` (physical
units) to windows of the same shape and units. The evaluation report takes any of these.

A transform with a ``context`` ``(before, after)`` takes each window with the samples around it
(``[n, before + window + after, channels]``, see :mod:`edge_runtime.context`); :func:`apply` cuts
those from the recordings the windows came from, exactly as the engine does on a stream, and a bare
window given to such a transform gets its context held (a one-window stream).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edge_runtime.context import context_window, padded


def context_of(transform) -> tuple[int, int]:
    return tuple(getattr(transform, "context", (0, 0)))


def with_context(windows, stride: int, before: int, after: int) -> np.ndarray:
    """``models.data.Windows`` -> ``[n, before + window + after, channels]``: each window with its
    recording's samples around it (its first / last sample held past the recording's ends)."""
    from models.data import recording_series

    w = windows.x.shape[1]
    out = np.empty((len(windows), before + w + after, windows.x.shape[2]), np.float32)
    for r in recording_series(windows, stride):
        for k in range(r.windows):
            out[r.first + k] = context_window(r.x, k * stride, w, before, after)
    return out


def apply(transform, windows, stride: int) -> np.ndarray:
    """What ``transform`` makes of ``windows`` (a ``models.data.Windows`` cut at ``stride``)."""
    before, after = context_of(transform)
    if before or after:
        return transform(with_context(windows, stride, before, after))
    return transform(windows.x)


def shown_as(activities: dict) -> dict[str, str]:
    """``{sensitive: the neutral activity it is emitted as}`` from a run's or bundle's activities."""
    neutral = activities.get("neutral") or []
    return {s: neutral[0] for s in activities.get("sensitive", [])} if neutral else {}


def forwarded(transform, series: np.ndarray, window: int) -> np.ndarray:
    """What a gateway forwards for one recording ``series [n, channels]``: its non-overlapping
    windows (each with its context, as streamed), transformed and concatenated, the same length as
    ``series``; the tail shorter than a window is never sent (NaN rows)."""
    from edge_runtime.context import context_windows

    n = len(series) // window
    out = np.full(series.shape, np.nan, dtype=np.float32)
    if n:
        before, after = context_of(transform)
        starts = np.arange(n) * window
        x = context_windows(series, starts, window, before, after) if before or after else \
            series[:n * window].reshape(n, window, -1)
        out[:n * window] = np.asarray(transform(x), np.float32).reshape(n * window, -1)
    return out


def in_context(x: np.ndarray, window: int, before: int, after: int) -> np.ndarray:
    """Bare windows get their context held (each a one-window stream); windows with context pass as they are."""
    x = np.asarray(x, np.float32)
    return padded(x, before, after) if (before or after) and x.shape[1] == window else x


class Identity:
    """Raw data, untouched: the reference every privacy number is read against."""

    name = "raw"

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(x, dtype=np.float32)


@dataclass
class Resample:
    """Baseline: downsample to ``factor`` times fewer samples and interpolate back (a lower rate)."""

    factor: int = 5

    @property
    def name(self) -> str:
        return f"resample/{self.factor}"

    def __call__(self, x: np.ndarray) -> np.ndarray:
        n, w, c = x.shape
        keep = np.arange(0, w, self.factor)
        t = np.arange(w)
        out = np.empty_like(x, dtype=np.float32)
        for i in range(c):
            xi = x[:, keep, i]
            out[:, :, i] = np.stack([np.interp(t, keep, row) for row in xi]) if n else xi
        return out


@dataclass
class Noise:
    """Baseline: additive Gaussian noise of ``scale`` times each channel's std (fixed seed)."""

    scale: float = 0.5
    std: np.ndarray | None = None
    seed: int = 0

    @property
    def name(self) -> str:
        return f"noise/{self.scale:g}std"

    def __call__(self, x: np.ndarray) -> np.ndarray:
        rng = np.random.default_rng(self.seed + len(x))
        std = self.std if self.std is not None else x.reshape(-1, x.shape[-1]).std(0)
        return (x + rng.normal(size=x.shape) * self.scale * std).astype(np.float32)


class KerasRun:
    """A trained run directory (docs/run_dir.md): standardise, ``transform.keras``, de-standardise."""

    def __init__(self, run_dir: str | Path):
        from models.layers import load_transform

        self.dir = Path(run_dir)
        self.info = json.loads((self.dir / "run.json").read_text())
        self.model = load_transform(self.dir / "transform.keras")
        self.mean = np.asarray(self.info["norm"]["mean"], np.float32)
        self.std = np.asarray(self.info["norm"]["std"], np.float32)
        self.name = f"{self.info['recipe']} (keras float32)"
        ctx = self.info.get("context", {})
        self.context = (int(ctx.get("before", 0)), int(ctx.get("after", 0)))
        self.window = int(self.info["window"])
        self.keeps = tuple(self.info.get("keeps", ()))
        self.shown_as = shown_as(self.info.get("activities", {}))

    def __call__(self, x: np.ndarray, batch: int = 2048) -> np.ndarray:
        x = in_context(x, self.window, *self.context)
        out = []
        for i in range(0, len(x), batch):
            z = (x[i:i + batch] - self.mean) / self.std
            out.append(np.asarray(self.model(z, training=False)) * self.std + self.mean)
        return np.concatenate(out).astype(np.float32) if out else np.zeros((0, self.window, x.shape[2]), np.float32)


class BundleTransform:
    """A model bundle run by the edge engine (LiteRT, fail-closed): the deployed path."""

    def __init__(self, bundle):
        self.bundle = bundle
        self.name = f"{bundle.id} {bundle.quantization} (edge engine)"
        self.context = (bundle.context_before, bundle.context_after)
        self.keeps = bundle.keeps
        self.shown_as = shown_as(bundle.manifest.get("activities", {}))
        self.dropped = 0

    def __call__(self, x: np.ndarray) -> np.ndarray:
        from edge_runtime.engine import transform_windows
        from edge_runtime.errors import BundleError

        values, ok = transform_windows(self.bundle, np.ascontiguousarray(x, dtype=np.float32))
        if not ok.all():
            self.dropped += int((~ok).sum())
            raise BundleError(f"the engine dropped {int((~ok).sum())} of {len(ok)} windows with bundle "
                              f"{self.bundle.id}: nothing to evaluate for those (fail closed)")
        return values
