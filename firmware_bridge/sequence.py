"""Per-connection frame ordering: releases frames in sequence order, accounting for every frame.

Frames carry a 16-bit sequence number. Out-of-order frames wait in a small buffer until the hole
before them fills, the buffer holds more than ``window`` frames, or the oldest has waited
``max_hold`` seconds; then the hole is declared lost. A frame that arrives after its hole was
declared lost is *late*; one already released or buffered is a *duplicate*. Both are dropped.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Any

MOD = 1 << 16
HALF = MOD // 2


@dataclass
class SequenceCounters:
    released: int = 0
    lost: int = 0
    duplicates: int = 0
    late: int = 0
    reordered: int = 0  # frames that arrived after a later one and were put back in place


class SequenceTracker:
    def __init__(self, window: int = 8, max_hold: float = 0.5):
        self.window = window
        self.max_hold = max_hold
        self.expected: int | None = None
        self._buffer: dict[int, tuple[float, Any]] = {}
        self._recent: deque[int] = deque(maxlen=256)
        self._recent_set: set[int] = set()
        self.counters = SequenceCounters()

    def _dist(self, seq: int) -> int:
        """Signed distance of ``seq`` ahead of the expected sequence number."""
        d = (seq - self.expected) % MOD
        return d - MOD if d >= HALF else d

    def push(self, seq: int, item: Any, now: float) -> list[Any]:
        if self.expected is None:
            self.expected = seq
        d = self._dist(seq)
        if d < 0 or seq in self._buffer:
            if seq in self._recent_set or seq in self._buffer:
                self.counters.duplicates += 1
            else:
                self.counters.late += 1
            return []
        if d == 0 and self._buffer:
            self.counters.reordered += 1
        self._buffer[seq] = (now, item)
        out = self._release()
        if len(self._buffer) > self.window:
            out += self._skip_hole()
        return out + self.expire(now)

    def expire(self, now: float) -> list[Any]:
        """Give up on holes older than ``max_hold`` seconds."""
        out: list[Any] = []
        while self._buffer and min(t for t, _ in self._buffer.values()) + self.max_hold <= now:
            out += self._skip_hole()
        return out

    def flush(self) -> list[Any]:
        out: list[Any] = []
        while self._buffer:
            out += self._skip_hole()
        return out

    def _release(self) -> list[Any]:
        out = []
        while self.expected in self._buffer:
            out.append(self._buffer.pop(self.expected)[1])
            self._remember(self.expected)
            self.expected = (self.expected + 1) % MOD
        self.counters.released += len(out)
        return out

    def _skip_hole(self) -> list[Any]:
        nearest = min(self._buffer, key=self._dist)
        gap = self._dist(nearest)
        self.counters.lost += gap  # the skipped numbers are not remembered: one turning up later is late, not a duplicate
        self.expected = nearest
        return self._release()

    def _remember(self, seq: int) -> None:
        if len(self._recent) == self._recent.maxlen:
            self._recent_set.discard(self._recent[0])
        self._recent.append(seq)
        self._recent_set.add(seq)
