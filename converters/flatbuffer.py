"""Edit a TFLite flatbuffer with LiteRT's own schema bindings, keeping constant buffers 16-byte aligned.

``ai_edge_litert.tools.flatbuffer_utils`` reads and writes the object form of a model; on writing,
its byte buffers are only 4-byte aligned. The converter aligns them to 16 bytes (what SIMD kernels
and memory-mapped loading on phones expect), so we write them the same way.
"""

from __future__ import annotations

from typing import Any

import numpy as np

BUFFER_ALIGNMENT = 16


def read_model(data: bytes) -> Any:
    """TFLite bytes -> a mutable ``ModelT``."""
    from ai_edge_litert.tools import flatbuffer_utils

    return flatbuffer_utils.read_model_from_bytearray(bytearray(data))


def constant_bytes(data: bytes) -> int:
    """Bytes of constant tensor data (weights, biases, constants) in a TFLite model, metadata excluded."""
    model = read_model(data)
    metadata = {md.buffer for md in model.metadata or []}
    return sum(len(b.data) for i, b in enumerate(model.buffers or []) if b.data is not None and i not in metadata)


def write_model(model: Any) -> bytes:
    """A ``ModelT`` -> TFLite bytes, every non-empty buffer's data 16-byte aligned."""
    from ai_edge_litert import schema_py_generated as schema
    from ai_edge_litert.tools import flatbuffer_utils

    class AlignedBufferT(schema.BufferT):
        def Pack(self, builder):  # noqa: N802 (flatbuffers' name)
            if self.data is None or len(self.data) == 0:
                return super().Pack(builder)
            payload = np.asarray(self.data, dtype=np.uint8).tobytes()
            builder.StartVector(1, len(payload), BUFFER_ALIGNMENT)
            builder.head = builder.head - len(payload)
            builder.Bytes[builder.head:builder.head + len(payload)] = payload
            data = builder.EndVector()  # flatbuffers >= 2 counts the elements itself (numElems is deprecated)
            schema.BufferStart(builder)
            schema.BufferAddData(builder, data)
            schema.BufferAddOffset(builder, self.offset)
            schema.BufferAddSize(builder, self.size)
            return schema.BufferEnd(builder)

    for buf in model.buffers or []:
        buf.__class__ = AlignedBufferT
    try:
        return bytes(flatbuffer_utils.convert_object_to_bytearray(model))
    finally:
        for buf in model.buffers or []:
            buf.__class__ = schema.BufferT
