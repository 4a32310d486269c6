"""A synthetic pocket IMU signal for benchmarks: the content does not change the cost, so one
plausible walking-like signal serves every timing (the engine benchmark, the publishing benchmark)."""

from __future__ import annotations


def synthetic_raw(n: int, rate: float = 50.0, seed: int = 0):
    """``t[n]``, ``raw[n, 6]``: a plausible pocket IMU signal (g with gravity, rad/s) at ``rate`` Hz."""
    import numpy as np

    rng = np.random.default_rng(seed)
    t = np.arange(n) / rate
    ph = 2 * np.pi * 1.8 * t
    raw = np.stack([0.3 * np.sin(ph), -1.0 + 0.4 * np.cos(ph), 0.2 * np.sin(2 * ph),
                    1.5 * np.sin(ph + 0.3), 0.8 * np.cos(ph), 0.5 * np.sin(0.5 * ph)], axis=1)
    return t, (raw + rng.normal(0, 0.02, raw.shape)).astype(np.float32)
