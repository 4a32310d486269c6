"""JSON Lines to a file or stdout: one envelope per line, flushed per batch.

A local sink, so it is written directly rather than through the spool. ``fsync=True`` makes each
batch durable before ``send`` returns (for a file that is the archive of record).
"""

from __future__ import annotations

import asyncio
import os
import sys
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
            await asyncio.to_thread(self._write, data)
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
