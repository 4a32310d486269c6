"""What a sink puts on the wire for each envelope: ``json`` (one line of text) or ``binary``.

``binary`` (``edge_runtime/sinks/binary.py``) is the default for network sinks, ``json`` for JSONL
archives and people. The spool keeps every record as its JSON text, so a record waiting in the
spool can go out in either format; the binary encoder looks up the value codec of the record's
own bundle (``codecs``, filled by the gateway for every bundle it loads). A record of a bundle not
loaded in this run (left in the spool across an upgrade) goes out as float16.
"""

from __future__ import annotations

from typing import Mapping, Sequence

from edge_runtime.transformed_window import TransformedWindow
from edge_runtime.sinks import binary
from edge_runtime.sinks.envelope import Envelope

FORMATS = ("json", "binary")


class JsonEncoder:
    format = "json"
    content_type = "application/x-ndjson"

    def encode(self, envelope: Envelope) -> bytes:
        return envelope.to_json()

    def body(self, batch: Sequence[Envelope]) -> bytes:
        return b"".join(e.to_json() + b"\n" for e in batch)


class BinaryEncoder:
    format = "binary"
    content_type = binary.CONTENT_TYPE

    def __init__(self, codecs: Mapping[tuple[str, str], binary.ValueCodec] | None = None):
        self.codecs = codecs if codecs is not None else {}

    def encode(self, envelope: Envelope) -> bytes:
        window = TransformedWindow.from_json(envelope.record)
        codec = self.codecs.get((window.bundle_id, window.bundle_version), binary.FLOAT16)
        return binary.encode(envelope.id, window, codec)

    def body(self, batch: Sequence[Envelope]) -> bytes:
        return b"".join(self.encode(e) for e in batch)  # records are self-delimiting


def encoder_for(format: str, codecs: Mapping[tuple[str, str], binary.ValueCodec] | None = None):
    if format == "binary":
        return BinaryEncoder(codecs)
    if format == "json":
        return JsonEncoder()
    raise ValueError(f"unknown format {format!r}; known: {', '.join(FORMATS)}")
