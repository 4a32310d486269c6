"""Exponential backoff, the one used by every retry loop: BLE reconnects (``ingest``), the gateway's
device-source restarts and its forwarders' delivery retries (``edge_runtime.gateway``).

The first failure waits ``initial``; each further one ``factor`` times longer, up to ``maximum``; a
success starts over (the caller passes ``None`` again).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Backoff:
    initial: float = 0.2
    maximum: float = 5.0
    factor: float = 2.0

    def next(self, previous: float | None = None) -> float:
        """The wait after a failure, given the wait before it (``None``: the first failure since a success)."""
        return self.initial if previous is None else min(self.maximum, previous * self.factor)
