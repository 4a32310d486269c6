"""A standard step counter and cadence estimator for |acc| streams: band-pass, then peak picking.

This is the counter a step-counting app or a server would run on forwarded data, and the yardstick
``models/utility.py`` grades transforms with. It deliberately shares nothing with any transform's
in-graph step detector: a transform must not be graded by its own detector.

Choices (validated in ``tests/test_steps.py`` on synthetic signals and raw MotionSense recordings):

- Input is the magnitude of acceleration *including gravity* (g), so it does not depend on how the
  phone sits in the pocket. The mean (gravity) is removed by the band-pass.
- Butterworth band-pass 0.5-3.5 Hz (order 4, second-order sections, zero-phase ``sosfiltfilt``):
  steps lie at 1-3.3 Hz (60-200 steps/min, walking ~1.9 Hz, jogging ~2.7 Hz on MotionSense); the
  upper edge keeps most of the heel-strike harmonic out, which otherwise adds a second peak per step.
  Zero phase keeps peaks where the steps are, so step *times* can be compared across streams.
- ``find_peaks`` with a minimum distance of 0.25 s (at most 240 steps/min), a prominence of at least
  ``p = max(0.1 g, 0.5 x local RMS)`` (RMS of the filtered signal over 2 s), measured against troughs
  within 2 s, and a height of at least p/2: the relative part follows changes of amplitude (soft and
  hard steps, stairs) and rejects small ripples between steps; the absolute floor keeps a still phone
  (standing: filtered RMS ~0.01 g) from counting sensor noise as steps; the local prominence and the
  height keep a noise ripple just before a walk starts from taking the walk's first trough as its base.
- NaN rows (windows a gateway dropped) split the stream; each finite run is counted on its own, and runs
  too short to filter (28 samples or fewer) count no steps.
"""

from __future__ import annotations

import numpy as np
from scipy.signal import butter, find_peaks, sosfiltfilt

BAND_HZ = (0.5, 3.5)
ORDER = 4
MIN_STEP_S = 0.25
MIN_PROMINENCE_G = 0.1
RELATIVE_PROMINENCE = 0.5
RMS_WINDOW_S = 2.0
MAX_STEP_INTERVAL_S = 2.0  # a longer gap between steps is not walking: no cadence there


def count_steps(acc_magnitude: np.ndarray, fs: float) -> np.ndarray:
    """Sample indices (sorted, int64) of the steps in a 1-D |acc| stream in g sampled at ``fs`` Hz."""
    a = np.asarray(acc_magnitude, dtype=np.float64)
    if a.ndim != 1:
        raise ValueError(f"count_steps takes a 1-D |acc| stream, got shape {a.shape}")
    if fs <= 2 * BAND_HZ[1]:
        raise ValueError(f"sample rate {fs} Hz is too low for a {BAND_HZ[1]} Hz band edge")
    sos = butter(ORDER, BAND_HZ, btype="band", fs=fs, output="sos")
    finite = np.isfinite(a)
    edges = np.flatnonzero(np.diff(np.r_[0, finite.astype(np.int8), 0]))
    steps = [start + _peaks(a[start:stop], fs, sos) for start, stop in zip(edges[::2], edges[1::2])]
    return np.concatenate(steps).astype(np.int64) if steps else np.zeros(0, np.int64)


def _peaks(a: np.ndarray, fs: float, sos: np.ndarray) -> np.ndarray:
    padlen = 3 * (2 * len(sos) + 1)  # sosfiltfilt's default
    if len(a) <= padlen:
        return np.zeros(0, np.int64)
    y = sosfiltfilt(sos, a - a.mean())
    n = max(1, int(round(RMS_WINDOW_S * fs)))
    rms = np.sqrt(np.convolve(y * y, np.ones(n) / n, mode="same"))
    prominence = np.maximum(MIN_PROMINENCE_G, RELATIVE_PROMINENCE * rms)
    peaks, _ = find_peaks(y, height=prominence / 2, prominence=prominence, wlen=2 * n + 1,
                          distance=max(1, int(round(MIN_STEP_S * fs))))
    return peaks.astype(np.int64)


def steps_per_window(steps: np.ndarray, n_samples: int, window: int) -> np.ndarray:
    """Number of steps in each full non-overlapping window ``[k*window, (k+1)*window)``."""
    n_windows = n_samples // window
    steps = np.asarray(steps, dtype=np.int64)
    steps = steps[(steps >= 0) & (steps < n_windows * window)]
    return np.bincount(steps // window, minlength=n_windows)[:n_windows]


def cadence_per_window(steps: np.ndarray, n_samples: int, fs: float, window: int) -> np.ndarray:
    """Steps/min in each full non-overlapping window, from step intervals rather than counts.

    Each sample between two consecutive steps gets the rate of that interval (60 fs / interval), samples
    in a gap over 2 s get 0, and a window's cadence is the mean over its samples. Samples before the first
    step and after the last get the rate of the first / last interval when that step is within 2 s of the
    stream's edge (a walk under way when the recording starts), else 0. Unlike counting steps in 2.56 s
    (23 steps/min per step), this varies smoothly: a step moved by a few samples across a window edge
    changes it by little.
    """
    n_windows = n_samples // window
    rate = np.zeros(n_windows * window)
    steps = np.unique(np.asarray(steps, dtype=np.int64))
    longest = MAX_STEP_INTERVAL_S * fs
    for a, b in zip(steps[:-1], steps[1:]):
        if b - a <= longest:
            rate[max(a, 0):min(b, len(rate))] = 60.0 * fs / (b - a)
    if len(steps) > 1:
        first, last = steps[1] - steps[0], steps[-1] - steps[-2]
        if steps[0] <= longest and first <= longest:
            rate[:max(steps[0], 0)] = 60.0 * fs / first
        if n_samples - steps[-1] <= longest and last <= longest:
            rate[max(steps[-1], 0):] = 60.0 * fs / last
    return rate.reshape(n_windows, window).mean(axis=1) if n_windows else np.zeros(0)
