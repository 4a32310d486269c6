"""JSON Lines to a file or stdout: one envelope per line, flushed per batch.

A local sink, so it is written directly rather than through the spool. ``fsync=True`` makes each
batch durable before ``send`` returns (for a file that is the archive of record). Writes happen in
a daemon thread of their own: a blocked stdout pipe holds up this sink (and, through its bounded
queue, acceptance), never the event loop, and never the process's exit once the drain timeout is over.
"""

from __future__ import annotations

import asyncio
import os
import sys
import threading
from pathlib import Path
from typing import BinaryIO, Sequence

from edge_runtime.sinks.base import Sink, SinkUnavailable
from edge_runtime.sinks.envelope import Envelope


class JsonlSink(Sink):
    kind = "jsonl"
    spooled = False

    def __init__(self, name: str, path: str | Path = "-", fsync: bool = False):
        super().__init__(name)
        self.path = str(path)
        self.fsync = fsync
        self._file: BinaryIO | None = None

    async def open(self) -> None:
        if self._file is not None:
            return
        if self.path == "-":
            self._file = sys.stdout.buffer
        else:
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            self._file = open(self.path, "ab")

    async def send(self, batch: Sequence[Envelope]) -> None:
        if not batch:
            return
        if self._file is None:
            await self.open()
        data = b"".join(e.to_json() + b"\n" for e in batch)
        try:
            await _in_daemon_thread(self._write, data)
        except OSError as exc:
            raise SinkUnavailable(f"{self.path}: {exc}") from exc

    def _write(self, data: bytes) -> None:
        assert self._file is not None
        self._file.write(data)
        self._file.flush()
        if self.fsync and self.path != "-":
            os.fsync(self._file.fileno())

    async def close(self) -> None:
        f, self._file = self._file, None
        if f is not None and self.path != "-":
            f.close()
        elif f is not None:
            f.flush()


def _in_daemon_thread(fn, *args) -> asyncio.Future:
    """``fn(*args)`` in a new daemon thread (``asyncio.to_thread``'s pool threads are joined at exit)."""
    loop = asyncio.get_running_loop()
    fut = loop.create_future()

    def settle(result, exc) -> None:
        if not fut.done():
            fut.set_exception(exc) if exc is not None else fut.set_result(result)

    def work() -> None:
        try:
            result, exc = fn(*args), None
        except BaseException as e:  # handed to the awaiting coroutine
            result, exc = None, e
        try:
            loop.call_soon_threadsafe(settle, result, exc)
        except RuntimeError:  # the loop is gone (shutdown went on without us)
            pass

    threading.Thread(target=work, name="jsonl-write", daemon=True).start()
    return fut
