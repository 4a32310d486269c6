"""Writing to a local (unspooled) sink, in order, one batch at a time, off the pipeline's path.

The queue in front of the sink is bounded (``max_records``: the sink's ``queue_records``, default
10 000 records, some 30 MB for 128x2 windows). When a sink does not keep up (a
blocked stdout pipe, a stalled disk) the bound applies back-pressure: :meth:`DirectWriter.put`
waits for room, so the gateway stops accepting new windows (they wait, bounded, in its pending
list) instead of growing without limit. Hitting the bound is counted
(``edge_sink_backpressure_total``) and logged once per episode. Nothing accepted is dropped here;
at shutdown, what is still queued after the drain timeout is counted and logged as not written.
"""

from __future__ import annotations

import asyncio
import logging
from edge_runtime.sinks.base import Sink, SinkUnavailable
from edge_runtime.sinks.envelope import Envelope

log = logging.getLogger("edge_runtime.gateway")


class DirectWriter:
    def __init__(self, sink: Sink, metrics, max_records: int):
        self.sink = sink
        self.metrics = metrics
        self.max_records = max_records
        self.queued = 0  # records waiting or being written
        self.failures = 0  # batches the sink refused (read by the metrics at scrape time)
        # bounded by the record count below (every batch holds a record); + 1 for the closing sentinel
        self._batches: asyncio.Queue[list[Envelope] | None] = asyncio.Queue(maxsize=max_records + 1)
        self._room = asyncio.Condition()
        self._blocked = False
        self._closed = False
        self.task = asyncio.create_task(self._run(), name=f"direct:{sink.name}")

    async def put(self, envelopes: list[Envelope]) -> None:
        """Queue a batch; waits while the queue holds ``max_records`` (back-pressure)."""
        if not envelopes:
            return
        await self.wait_for_room(len(envelopes))
        async with self._room:
            self.queued += len(envelopes)
            self._batches.put_nowait(envelopes)

    async def wait_for_room(self, n: int) -> None:
        """Until ``n`` more records fit (or the queue is empty, or the writer is closed). The gateway
        waits here before it takes its sink-swap lock, so a reload never waits on a blocked sink."""
        async with self._room:
            if self.queued and self.queued + n > self.max_records:
                self.metrics.sink_backpressure.labels(self.sink.name).inc()
                if not self._blocked:
                    self._blocked = True
                    log.warning("local sink is not keeping up; its queue is full, so accepting new windows waits "
                                "(back-pressure)", extra={"sink": self.sink.name, "queued": self.queued,
                                                          "max_records": self.max_records})
                await self._room.wait_for(lambda: self._closed or self.queued + n <= self.max_records
                                          or not self.queued)
                if self._blocked and not self._closed:
                    self._blocked = False
                    log.info("local sink caught up", extra={"sink": self.sink.name})

    async def _run(self) -> None:
        while (batch := await self._batches.get()) is not None:
            try:
                await self.sink.send(batch)
                self.metrics.delivered.labels(self.sink.name).inc(len(batch))
            except (SinkUnavailable, OSError) as exc:
                self.failures += 1
                log.error("local sink failed; these records were not written there (network sinks keep "
                          "theirs in the spool)", extra={"sink": self.sink.name, "error": str(exc), "records": len(batch)})
            async with self._room:
                self.queued -= len(batch)
                self._room.notify_all()

    async def close(self, timeout_s: float | None = None) -> int:
        """Write everything queued within ``timeout_s``, then stop; returns the records not written."""
        self._batches.put_nowait(None)
        async with self._room:
            self._closed = True
            self._room.notify_all()
        done, _ = await asyncio.wait({self.task}, timeout=timeout_s)
        if done:
            return 0
        self.task.cancel()
        lost = self.queued  # the batch being written included: whether it reached the sink is unknown
        log.error("local sink did not finish within the drain timeout; records still queued for it were not "
                  "written", extra={"sink": self.sink.name, "records": lost, "timeout_s": timeout_s})
        return lost
