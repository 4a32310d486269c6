"""The envelope a sink sends: a de-duplication id around one output record.

Delivery is at-least-once (a record whose acknowledgement was lost is sent again), so every record
carries an id that stays the same across retries, restarts and sinks; consumers de-duplicate on it.
The id is a random UUID (fixed width, assigned once when the record enters the gateway and stored
with it in the spool): it says nothing about the window's content, and the envelope adds no other
field, so a replaced window's envelope is indistinguishable from any other's.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass

from edge_runtime.transformed_window import TransformedWindow
from edge_runtime.sinks import binary


@dataclass(frozen=True)
class Envelope:
    id: str  # 32 lowercase hex digits
    device_id: str
    seq: int
    record: bytes  # TransformedWindow.to_json(), verbatim

    @classmethod
    def wrap(cls, window: TransformedWindow) -> "Envelope":
        return cls(id=uuid.uuid4().hex, device_id=window.device_id, seq=window.seq, record=window.to_json())

    def to_json(self) -> bytes:
        """``{"id":"...","window":{...}}`` on one line: the bytes every sink writes or publishes."""
        return b'{"id":"' + self.id.encode() + b'","window":' + self.record + b"}"

    @property
    def size(self) -> int:
        return len(self.record) + len(self.id) + 19

    @staticmethod
    def parse(data: bytes | str) -> tuple[str, TransformedWindow]:
        """Consumer side: envelope bytes, JSON or binary (binary.py), -> ``(id, window)``."""
        if isinstance(data, (bytes, bytearray, memoryview)) and bytes(data[:2]) == binary.MAGIC:
            return binary.decode(data)
        d = json.loads(data)
        if set(d) != {"id", "window"}:
            raise ValueError(f"not an envelope: keys {sorted(d)}")
        return d["id"], TransformedWindow.from_json(json.dumps(d["window"]))
