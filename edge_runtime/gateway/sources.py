"""Where raw samples come from: one ``DeviceSource`` per configured device.

A source runs until cancelled, reconnecting by itself, and hands a ``SampleListener`` timestamped
raw samples (acc xyz in g with gravity, gyro xyz in rad/s) and connection changes (a disconnect
flushes the engine). The gateway turns samples into windows with the engine; raw samples never go
anywhere else. What a source counts (frames, malformed frames, overflow, connections) it keeps in
``counters()``, which the metrics read at scrape time. Sources outlive a config reload (SIGHUP) unless their own device
entry changed, so a reload does not drop BLE connections.
"""

from __future__ import annotations

import abc
import asyncio
import logging
from dataclasses import dataclass, replace
from typing import Protocol

import numpy as np

from edge_runtime.gateway.config import DeviceConfig

log = logging.getLogger("edge_runtime.gateway.sources")


class SampleListener(Protocol):
    def on_samples(self, device_id: str, t: np.ndarray, raw: np.ndarray) -> None: ...
    def on_connection(self, device_id: str, connected: bool) -> None: ...


@dataclass
class SourceCounters:
    """Totals since the source was created (a restarted ``run`` carries on counting)."""

    frames: int = 0
    malformed: int = 0
    overflow: int = 0  # samples lost because the bounded ingest queue was full
    connections: int = 0
    connected: bool = False

    def __add__(self, other: "SourceCounters") -> "SourceCounters":
        return SourceCounters(self.frames + other.frames, self.malformed + other.malformed,
                              self.overflow + other.overflow, self.connections + other.connections,
                              self.connected or other.connected)


class DeviceSource(abc.ABC):
    def __init__(self, device: DeviceConfig, reconnect_max_s: float):
        self.device = device
        self.reconnect_max_s = reconnect_max_s

    @abc.abstractmethod
    def counters(self) -> SourceCounters:
        """What this source has counted so far (read on the event loop)."""

    @abc.abstractmethod
    async def run(self, listener: SampleListener) -> None:
        """Stream until cancelled; reconnect with backoff on a drop."""


class ReplaySource(DeviceSource):
    """A recording fed straight to the engine at its own pace (no BLE): pipeline tests and replays
    of captured data. Chunks of ``frame_samples`` stand in for frames."""

    frame_samples = 8

    def __init__(self, device: DeviceConfig, reconnect_max_s: float):
        super().__init__(device, reconnect_max_s)
        self._counters = SourceCounters()

    def counters(self) -> SourceCounters:
        return replace(self._counters)

    async def run(self, listener: SampleListener) -> None:
        from edge_runtime.recording import load_samples

        rec = load_samples(self.device.replay)
        n = len(rec.t)
        if n == 0:
            log.warning("replay recording is empty", extra={"device": self.device.id})
            return
        span = float(rec.t[-1] - rec.t[0]) + 1.0 / max(rec.sample_rate, 1e-6)
        self._counters.connections += 1
        self._counters.connected = True
        listener.on_connection(self.device.id, True)
        offset = 0.0
        loop = asyncio.get_running_loop()
        started = loop.time()
        try:
            while True:
                for i in range(0, n, self.frame_samples):
                    t = rec.t[i : i + self.frame_samples] - rec.t[0] + offset
                    due = started + float(t[-1]) / self.device.emulate_speed
                    delay = due - loop.time()
                    if delay > 0:
                        await asyncio.sleep(delay)
                    self._counters.frames += 1
                    listener.on_samples(self.device.id, t.astype(np.float64), rec.raw[i : i + self.frame_samples])
                if not self.device.emulate_loop:
                    break
                offset += span
        finally:
            self._counters.connected = False
            listener.on_connection(self.device.id, False)
