"""Streaming resampling of timestamped samples onto the bundle's fixed-rate grid.

Wearables deliver samples with jittery timestamps, at a rate that may differ from the model's, and
with holes where radio frames were lost. The model wants a uniform grid. :class:`Resampler` keeps
one grid per stream, ``t0 + k / rate``, anchored at the first sample, and fills it by linear
interpolation between the real samples on either side of each grid point. A hole no longer than
``max_gap`` seconds is bridged the same way; a longer one (or a clock that jumps backwards by more
than that) ends the timeline: a :class:`Chunk` with ``restart=True`` tells the caller to discard any
partial window, and a fresh grid starts at the next sample. Non-finite samples are skipped and
reordered or duplicate timestamps are dropped, all counted.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

DEFAULT_MAX_GAP_S = 0.5
_GRID_EPS = 1e-6  # grid index tolerance: a grid point this close after the last sample is still known
_ON_GRID_S = 1e-6  # a sample within a microsecond of its grid point is taken as it is


class Chunk(NamedTuple):
    """Grid samples ``values[m, channels]`` at ``times[m]``; ``restart``: the timeline broke just before.
    A named tuple: one is built per push, and a frozen dataclass costs several times as much."""

    times: np.ndarray
    values: np.ndarray
    restart: bool = False


@dataclass
class ResampleCounters:
    samples_in: int = 0
    samples_invalid: int = 0  # non-finite time or value: skipped, bridged like a gap
    samples_out_of_order: int = 0  # at or before the previous sample's time: dropped
    samples_out: int = 0
    restarts: int = 0  # long gaps / clock jumps that started a new grid


@dataclass
class Resampler:
    """One stream's resampler: ``push(t, x)`` -> the grid samples now known, as :class:`Chunk` s."""

    rate: float
    channels: int
    max_gap: float = DEFAULT_MAX_GAP_S
    counters: ResampleCounters = field(default_factory=ResampleCounters)

    def __post_init__(self) -> None:
        if not (self.rate > 0 and np.isfinite(self.rate)):
            raise ValueError(f"rate must be a positive number, got {self.rate}")
        if not self.max_gap > 0:
            raise ValueError(f"max_gap must be positive, got {self.max_gap}")
        self._dt = 1.0 / self.rate
        self._t0 = 0.0  # grid origin
        self._k = 0  # next grid index to produce
        self._last_t: float | None = None  # last accepted sample
        self._last_x = np.zeros(self.channels, dtype=np.float64)
        self._offset_cache: dict[int, np.ndarray] = {}

    def reset(self) -> None:
        """Forget the timeline (the next sample starts a new grid)."""
        self._last_t = None

    def push(self, t: np.ndarray, x: np.ndarray) -> list[Chunk]:
        t = np.asarray(t, dtype=np.float64).reshape(-1)
        x = np.asarray(x)
        if x.ndim != 2 or x.shape != (t.shape[0], self.channels):
            raise ValueError(f"expected t[n] and x[n, {self.channels}], got {t.shape} and {x.shape}")
        n = t.shape[0]
        if n == 0:
            return []
        c = self.counters
        c.samples_in += n
        if self._last_t is not None:
            chunk = self._on_grid(t, x) if t[0] > self._last_t else None
            if chunk is None and self._clean_run(t, x):
                chunk = self._interpolate(t, x)
                if chunk is None:
                    return []
            if chunk is not None:
                c.samples_out += chunk.times.shape[0]
                return [chunk]
        return self._push_general(t, x)

    def _on_grid(self, t: np.ndarray, x: np.ndarray) -> Chunk | None:
        """The cheapest case: finite samples exactly on the next grid points (a device clocked at
        the bundle's rate); they are the output as they are."""
        n = t.shape[0]
        grid = (self._t0 + self._k * self._dt) + self._offsets(n)
        flat = x.reshape(-1)  # a sum of squares is finite only when every value is (or overflows: slow path)
        if not np.abs(t - grid).max() <= _ON_GRID_S or not math.isfinite(flat.dot(flat)):
            return None
        if grid[0] - self._last_t > self.max_gap:
            return None
        self._k += n
        self._last_t, self._last_x = float(t[-1]), np.array(x[-1])
        return Chunk(grid, x.astype(np.float32, copy=False))

    def _clean_run(self, t: np.ndarray, x: np.ndarray) -> bool:
        """Strictly increasing, no gap over ``max_gap`` (from the last sample on), all finite."""
        first = t[0] - self._last_t
        if not (0 < first <= self.max_gap):
            return False
        if t.shape[0] > 1:
            d = t[1:] - t[:-1]
            if not (d.min() > 0 and d.max() <= self.max_gap):  # NaN fails these too
                return False
        return math.isfinite(float(x.sum()))

    def _offsets(self, n: int) -> np.ndarray:
        offsets = self._offset_cache.get(n)
        if offsets is None:
            if len(self._offset_cache) > 64:
                self._offset_cache.clear()
            offsets = self._offset_cache[n] = np.arange(n) * self._dt
        return offsets

    def _push_general(self, t: np.ndarray, x: np.ndarray) -> list[Chunk]:
        c = self.counters
        finite = np.isfinite(t) & np.isfinite(x).all(axis=1)
        if not finite.all():
            c.samples_invalid += int((~finite).sum())
            t, x = t[finite], x[finite]
        chunks: list[Chunk] = []
        start = 0
        n = t.shape[0]
        while start < n:
            if self._last_t is None:
                self._begin(t[start], x[start])
                chunks.append(self._emit_first())
                start += 1
                continue
            # accept a run of samples moving forward without a long gap
            seg_t, seg_x, consumed, broke = self._take_run(t[start:], x[start:])
            if seg_t.shape[0]:
                chunk = self._interpolate(seg_t, seg_x)
                if chunk is not None:
                    chunks.append(chunk)
            start += consumed
            if broke:  # t[start] is after a long gap or a backwards clock jump
                c.restarts += 1
                self._begin(t[start], x[start])
                chunks.append(self._emit_first(restart=True))
                start += 1
        c.samples_out += sum(ch.times.shape[0] for ch in chunks)
        return chunks

    # ---------------------------------------------------------------------------------------

    def _begin(self, t: float, x: np.ndarray) -> None:
        self._t0, self._k = float(t), 0
        self._last_t, self._last_x = float(t), np.array(x)

    def _emit_first(self, restart: bool = False) -> Chunk:
        """The grid's first point is the sample that anchors it."""
        self._k = 1
        return Chunk(np.array([self._t0]), self._last_x[None, :].astype(np.float32), restart=restart)

    def _take_run(self, t: np.ndarray, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, int, bool]:
        """Samples usable from here: strictly later than the last one, no gap over ``max_gap``.

        Returns ``(times, values, consumed, broke)``; ``broke`` means ``t[consumed]`` starts a new grid.
        """
        last = self._last_t
        prev = np.concatenate(([last], np.maximum.accumulate(t)[:-1]))
        prev = np.maximum(prev, last)
        jump_back = t < prev - self.max_gap
        forward = t > prev
        gap = forward & (t - prev > self.max_gap)
        breaks = np.flatnonzero(jump_back | gap)
        end = int(breaks[0]) if breaks.size else t.shape[0]
        keep = forward[:end]
        self.counters.samples_out_of_order += int(end - keep.sum())
        return t[:end][keep], x[:end][keep], end, bool(breaks.size)

    def _interpolate(self, seg_t: np.ndarray, seg_x: np.ndarray) -> Chunk | None:
        """Grid points in ``(last_t, seg_t[-1]]``, linearly between the known samples.

        Samples already on the grid (a device clocked at the bundle's rate) are passed through as
        they are, without interpolation.
        """
        last_t, last_x = self._last_t, self._last_x
        self._last_t, self._last_x = float(seg_t[-1]), seg_x[-1].copy()
        k_end = int(np.floor((self._last_t - self._t0) * self.rate + _GRID_EPS))
        if k_end < self._k:
            return None
        grid = self._t0 + np.arange(self._k, k_end + 1) * self._dt
        self._k = k_end + 1
        if grid.shape[0] == seg_t.shape[0] and np.abs(grid - seg_t).max() <= _ON_GRID_S:
            return Chunk(grid, seg_x.astype(np.float32))
        tt = np.concatenate(((last_t,), seg_t))
        xx = np.concatenate((last_x[None, :], seg_x))
        vals = np.empty((grid.shape[0], self.channels), dtype=np.float32)
        for ch in range(self.channels):
            vals[:, ch] = np.interp(grid, tt, xx[:, ch])
        return Chunk(grid, vals)
