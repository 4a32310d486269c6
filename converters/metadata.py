"""Embed named metadata in a TFLite flatbuffer, with LiteRT's own maintained schema bindings.

``tflite_support``'s metadata writers are unmaintained; the flatbuffer ``Model`` table has a plain
``metadata: [Metadata{name, buffer}]`` list that every TFLite reader parses and the interpreter
ignores. We append a buffer holding the payload and a ``Metadata`` entry pointing at it, using
``ai_edge_litert.schema_py_generated`` and ``ai_edge_litert.tools.flatbuffer_utils`` (the schema
and utilities that ship with LiteRT itself, no TensorFlow needed) via :mod:`converters.flatbuffer`.
"""

from __future__ import annotations

import numpy as np


def embed_metadata(model: bytes, name: str, payload: bytes) -> bytes:
    """``model`` with metadata entry ``name`` set to ``payload`` (an existing entry of that name is replaced)."""
    from ai_edge_litert import schema_py_generated as schema

    from converters.flatbuffer import read_model, write_model

    obj = read_model(model)

    def entry_name(md) -> str:
        return md.name.decode() if isinstance(md.name, bytes) else str(md.name)

    obj.metadata = [md for md in (obj.metadata or []) if entry_name(md) != name]
    buf = schema.BufferT()
    buf.data = np.frombuffer(payload, dtype=np.uint8).copy()
    obj.buffers.append(buf)
    md = schema.MetadataT()
    md.name = name
    md.buffer = len(obj.buffers) - 1
    obj.metadata.append(md)
    return write_model(obj)
