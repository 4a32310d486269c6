"""Moves one sink's records from the spool to the sink, oldest first, with backoff on failure.

A record leaves the spool only when the sink has acknowledged it, so a crash at any point loses
nothing (it may send a record twice: consumers de-duplicate on the envelope id).
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Callable

from edge_runtime.sinks.base import Sink, SinkUnavailable
from edge_runtime.spool import Spool
from firmware_bridge.backoff import Backoff

log = logging.getLogger("edge_runtime.gateway.forwarder")


class Forwarder:
    def __init__(
        self,
        spool: Spool,
        sink: Sink,
        batch_size: int = 100,
        min_backoff_s: float = 0.5,
        max_backoff_s: float = 30.0,
        on_delivered: Callable[[str, int, list[float]], None] | None = None,
    ):
        self.spool = spool
        self.sink = sink
        self.batch_size = batch_size
        self.backoff = Backoff(initial=min_backoff_s, maximum=max_backoff_s)
        self.on_delivered = on_delivered  # (sink name, count, delivery latencies in s)
        self.failures = 0
        self.last_error: str | None = None
        self._wake = asyncio.Event()
        self._stop = asyncio.Event()
        self._task: asyncio.Task | None = None

    def wake(self) -> None:
        """New records were spooled: try now instead of at the next poll."""
        self._wake.set()

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self.run(), name=f"forwarder:{self.sink.name}")

    async def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._task is not None:
            await self._task
            self._task = None

    async def run(self) -> None:
        delay = None  # the last wait after a failure; None since the last success
        while not self._stop.is_set():
            try:
                sent = await self.deliver_once()
            except SinkUnavailable as exc:
                self.failures += 1
                delay = self.backoff.next(delay)
                if self.last_error != str(exc):
                    log.warning("sink unavailable, records stay spooled",
                                extra={"sink": self.sink.name, "error": str(exc), "retry_s": delay})
                self.last_error = str(exc)
                await self._backoff(delay)
                continue
            except Exception as exc:  # never let one sink's bug stop the gateway: log, back off, retry
                self.failures += 1
                delay = self.backoff.next(delay)
                log.exception("forwarder error", extra={"sink": self.sink.name, "error": repr(exc)})
                await self._backoff(delay)
                continue
            if self.last_error is not None:
                log.info("sink delivering again", extra={"sink": self.sink.name})
                self.last_error = None
            delay = None
            if not sent:
                await self._sleep(1.0)

    async def deliver_once(self) -> int:
        """Send one batch; returns how many were acknowledged (0: nothing waiting)."""
        self._wake.clear()
        records = await asyncio.to_thread(self.spool.peek, self.sink.name, self.batch_size)
        if not records:
            return 0
        try:
            await self.sink.send([r.envelope for r in records])
        except SinkUnavailable as exc:
            if exc.delivered:
                await self._ack(records[: exc.delivered])
            raise
        await self._ack(records)
        return len(records)

    async def drain(self, timeout_s: float) -> bool:
        """Deliver until nothing waits or ``timeout_s`` passes; True when the sink's queue is empty."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                if not await asyncio.wait_for(self.deliver_once(), max(0.01, deadline - time.monotonic())):
                    return True
            except (SinkUnavailable, asyncio.TimeoutError):
                await asyncio.sleep(min(0.2, max(0.0, deadline - time.monotonic())))
        return self.spool.stats(self.sink.name).records == 0

    async def _ack(self, records) -> None:
        await asyncio.to_thread(self.spool.ack, self.sink.name, records)
        if self.on_delivered is not None:
            now = time.time()
            self.on_delivered(self.sink.name, len(records), [now - r.created for r in records])

    async def _backoff(self, seconds: float) -> None:
        """Wait out a failure. New records do not cut it short; ``stop`` does, and so does the
        sink reporting that it has (re)connected, so a recovered uplink is used at once."""
        was_connected = self.sink.connected
        deadline = time.monotonic() + seconds
        while not self._stop.is_set() and (remaining := deadline - time.monotonic()) > 0:
            if not was_connected and self.sink.connected:
                return
            try:
                await asyncio.wait_for(self._stop.wait(), min(0.1, remaining))
            except asyncio.TimeoutError:
                pass

    async def _sleep(self, seconds: float) -> None:
        try:
            await asyncio.wait_for(self._wake.wait(), seconds)
        except asyncio.TimeoutError:
            pass
