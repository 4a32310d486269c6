"""The binary envelope: one record in ~400 bytes instead of ~4.6 KB of JSON (``docs/uplink_format.md``).

Little-endian, version 1::

    0   2  magic b"EW"            22  8  seq (u64)              45  4  scale (f32)
    2   1  format version (1)     30  8  start_time (f64, s)    49  2  zero_point (i16)
    3   1  value encoding         38  4  sample_rate (f32, Hz)  51     5 strings: u8 length + UTF-8
    4   2  record length (u16)    42  2  rows (u16)                    (device_id, bundle_id,
    6  16  envelope id (UUID)     44  1  channels (u8)                  bundle_version, channels, units)
    then rows x channels values, row-major: int8 / int16 codes (value = scale * (code - zero_point))
    or float16.

The value encoding is chosen per bundle (:func:`codec_for`): an integer-quantized model can only
emit values on its output grid (``scale * (q - zero_point)``), so its codes, at the width of that
tensor, carry every value exactly; a model computing its output in float is sent as float16. Every
record of a bundle and device therefore has the same length and the same fields: a replaced window
looks like any other. Numpy only; the receiving side decodes with :func:`decode` and splits
concatenated records (an HTTP body) with :func:`split`.
"""

from __future__ import annotations

import struct
import uuid
from dataclasses import dataclass
from typing import Iterator

import numpy as np

from edge_runtime.transformed_window import TransformedWindow

MAGIC = b"EW"
VERSION = 1
CONTENT_TYPE = "application/vnd.edge-runtime.windows"  # HTTP: records concatenated, each self-delimiting
ENCODINGS = {1: "int8", 2: "int16", 3: "float16"}
_CODE = {v: k for k, v in ENCODINGS.items()}
_HEAD = struct.Struct("<2sBBH16sQdfHBfh")  # everything before the strings: 51 bytes
HEADER_SIZE = _HEAD.size
_F16_MAX = float(np.finfo(np.float16).max)


class FormatError(ValueError):
    """Bytes that are not a binary envelope of a version this decoder reads (the message says why)."""


@dataclass(frozen=True)
class ValueCodec:
    encoding: str  # "int8", "int16" or "float16"
    scale: float = 1.0  # integer codes: value = scale * (code - zero_point)
    zero_point: int = 0

    @property
    def dtype(self) -> np.dtype:
        return np.dtype("<" + {"int8": "i1", "int16": "i2", "float16": "f2"}[self.encoding])

    @property
    def step(self) -> float | None:
        """The spacing of the values this codec can carry (None: float16, relative precision)."""
        return None if self.encoding == "float16" else self.scale

    def encode_values(self, values: np.ndarray) -> bytes:
        v = np.nan_to_num(np.asarray(values, dtype=np.float32), nan=0.0, posinf=0.0, neginf=0.0)
        if self.encoding == "float16":
            return np.clip(v, -_F16_MAX, _F16_MAX).astype(self.dtype).tobytes()
        info = np.iinfo(self.dtype)
        q = np.round(v / np.float32(self.scale)) + self.zero_point
        return np.clip(q, info.min, info.max).astype(self.dtype).tobytes()

    def decode_values(self, data: bytes | memoryview, shape: tuple[int, int]) -> np.ndarray:
        codes = np.frombuffer(data, dtype=self.dtype).reshape(shape)
        if self.encoding == "float16":
            return codes.astype(np.float32)
        # the same float32 arithmetic as TFLite's DEQUANTIZE, so on-grid values come back bit for bit
        return (codes.astype(np.int32) - self.zero_point).astype(np.float32) * np.float32(self.scale)


FLOAT16 = ValueCodec("float16")


def codec_for(bundle) -> ValueCodec:
    """Integer codes at the width of the bundle's output quantization; float16 for a float output."""
    from edge_runtime.bundle import output_quantization

    spec = output_quantization(bundle)
    if spec is None:
        return FLOAT16
    if spec.dtype == "uint8":  # the same grid, shifted into int8
        return ValueCodec("int8", spec.scale, spec.zero_point - 128)
    return ValueCodec(spec.dtype, spec.scale, spec.zero_point)


def record_size(window: TransformedWindow, codec: ValueCodec) -> int:
    strings = _strings(window)
    rows, channels = np.shape(window.values)
    return HEADER_SIZE + sum(1 + len(s) for s in strings) + rows * channels * codec.dtype.itemsize


def encode(envelope_id: str, window: TransformedWindow, codec: ValueCodec) -> bytes:
    """One record: header, strings, values. ``envelope_id`` is the 32-hex-digit envelope id."""
    rows, channels = np.shape(window.values)
    strings = b"".join(bytes((len(s),)) + s for s in _strings(window))
    values = codec.encode_values(window.values)
    length = HEADER_SIZE + len(strings) + len(values)
    if length > 0xFFFF or rows > 0xFFFF or channels > 0xFF:
        raise ValueError(f"a {rows}x{channels} window does not fit a version {VERSION} record")
    head = _HEAD.pack(MAGIC, VERSION, _CODE[codec.encoding], length, uuid.UUID(hex=envelope_id).bytes,
                      window.seq, window.start_time, window.sample_rate, rows, channels, codec.scale,
                      codec.zero_point)
    return head + strings + values


def decode(data: bytes | memoryview) -> tuple[str, TransformedWindow]:
    """One record -> ``(envelope id, window)``; raises :class:`FormatError` naming what is wrong."""
    data = memoryview(data)
    if len(data) < HEADER_SIZE:
        raise FormatError(f"{len(data)} bytes is shorter than the {HEADER_SIZE}-byte header")
    (magic, version, enc, length, id_, seq, start, rate, rows, channels, scale, zp) = _HEAD.unpack_from(data)
    if magic != MAGIC:
        raise FormatError(f"not a binary envelope (starts with {bytes(magic)!r}, not {MAGIC!r})")
    if version != VERSION:
        raise FormatError(f"format version {version}; this decoder reads version {VERSION}")
    if enc not in ENCODINGS:
        raise FormatError(f"unknown value encoding {enc}")
    if length != len(data):
        raise FormatError(f"record says {length} bytes, got {len(data)}")
    codec = ValueCodec(ENCODINGS[enc], scale, zp)
    pos, strings = HEADER_SIZE, []
    for _ in range(5):
        if pos >= length:
            raise FormatError("truncated in the strings")
        n = data[pos]
        if pos + 1 + n > length:
            raise FormatError("truncated in the strings")
        try:
            strings.append(bytes(data[pos + 1:pos + 1 + n]).decode("utf-8"))
        except UnicodeDecodeError:
            raise FormatError("a string field is not UTF-8") from None
        pos += 1 + n
    device_id, bundle_id, bundle_version, names, units = strings
    if length - pos != rows * channels * codec.dtype.itemsize:
        raise FormatError(f"{length - pos} value bytes for {rows}x{channels} {codec.encoding} values")
    values = codec.decode_values(data[pos:], (rows, channels))
    window = TransformedWindow(device_id, seq, start, rate, tuple(names.split(",")), tuple(units.split(",")),
                               values, bundle_id, bundle_version)
    return uuid.UUID(bytes=bytes(id_)).hex, window


def split(body: bytes) -> Iterator[bytes]:
    """Concatenated records (an HTTP body) -> each record's bytes, by their length fields."""
    view, pos = memoryview(body), 0
    while pos < len(body):
        if len(body) - pos < 6 or bytes(view[pos:pos + 2]) != MAGIC:
            raise FormatError(f"no binary envelope at byte {pos}")
        length = struct.unpack_from("<H", view, pos + 4)[0]
        if length < HEADER_SIZE or pos + length > len(body):
            raise FormatError(f"record at byte {pos} claims {length} bytes, {len(body) - pos} left")
        yield bytes(view[pos:pos + length])
        pos += length


def _strings(w: TransformedWindow) -> list[bytes]:
    out = [s.encode("utf-8") for s in (w.device_id, w.bundle_id, w.bundle_version, ",".join(w.channels),
                                       ",".join(w.units))]
    for s in out:
        if len(s) > 255:
            raise ValueError(f"string field of {len(s)} bytes does not fit a version {VERSION} record (255 at most)")
    return out
