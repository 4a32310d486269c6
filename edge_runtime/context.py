"""Windows with context: the samples a bundle's graph sees before and after the window it transforms.

A bundle may declare ``context: {"before": B, "after": A}``: its graph then takes ``B + window + A``
samples and returns the ``window`` in the middle (a step detector needs to see the steps on both
sides of a window's edges). Where a stream has less than that (its first and last windows), the
missing samples are the stream's first (last) sample held, so every window is emitted and the graph
sees nothing happen before the stream began or after it ended. Not a mirror image: a band-passed
mirror is symmetric about the edge sample, so it always has a peak or a trough there, and a step
detector took the first sample of 33 of the 120 MotionSense test recordings for a step (held: 1). The engine,
the offline transform, training and the evaluation all cut contexts with :func:`context_window`, so
a device, a published data set, a model and a report agree.
"""

from __future__ import annotations

import numpy as np


def context_window(series: np.ndarray, start: int, window: int, before: int, after: int) -> np.ndarray:
    """``series[start - before : start + window + after]`` ``[before + window + after, channels]``,
    past either end of ``series`` its first / last sample held (numpy's ``edge``).
    ``series[start:start + window]`` must lie inside ``series``."""
    n = series.shape[0]
    if start < 0 or start + window > n:
        raise ValueError(f"window [{start}, {start + window}) is not inside a series of {n} samples")
    lo, hi = start - before, start + window + after
    if lo >= 0 and hi <= n:
        return series[lo:hi]
    inner = series[max(lo, 0):min(hi, n)]
    return np.pad(inner, ((max(-lo, 0), max(hi - n, 0)), (0, 0)), mode="edge")


def padded(windows: np.ndarray, before: int, after: int) -> np.ndarray:
    """Bare windows ``[n, window, channels]``, each a one-window stream, with their context held:
    ``[n, before + window + after, channels]``, row for row what :func:`context_window` gives each,
    in one gather (the index map is :func:`context_window`'s own, taken once)."""
    w = windows.shape[1]
    index = context_window(np.arange(w)[:, None], 0, w, before, after)[:, 0]
    return np.asarray(windows, dtype=np.float32)[:, index]


def context_windows(series: np.ndarray, starts: np.ndarray, window: int, before: int, after: int) -> np.ndarray:
    """:func:`context_window` for each of ``starts``: ``[len(starts), before + window + after, channels]``."""
    out = np.empty((len(starts), before + window + after, series.shape[1]), dtype=np.float32)
    for i, s in enumerate(starts):
        out[i] = context_window(series, int(s), window, before, after)
    return out
