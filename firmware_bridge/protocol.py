"""Our IMU streaming GATT profile, version 1: UUIDs and the codecs of its three characteristics.

Spec: ``docs/ble_protocol.md``. Data frames are little-endian::

    u8  version << 4 | count     version 1; count 1..15 samples in this frame
    u16 seq                      frame sequence number, wraps at 65536
    u32 t_us                     device time of the first sample, microseconds, wraps at 2**32
    count x 6 x i16              acc x,y,z then gyro x,y,z, raw counts (scales: config char)
    u8  crc8                     CRC-8/SMBUS (poly 0x07, init 0) of all bytes before it

A one-sample frame is 20 bytes: it fits the default ATT MTU (23). With a larger negotiated MTU a
frame carries up to ``max_samples(mtu)`` samples. This module is pure Python + struct (numpy only
for the batch helpers) and is the reference the firmware's framing is tested against.
"""

from __future__ import annotations

import math

import struct
from dataclasses import dataclass

import numpy as np

BASE_UUID = "e5a1{:04x}-7d2b-4c8e-9f3a-1b6c0d2e4f60"
SERVICE_UUID = BASE_UUID.format(0x0001)
DATA_UUID = BASE_UUID.format(0x0002)  # notify: data frames
CONFIG_UUID = BASE_UUID.format(0x0003)  # read: rate, ranges, scales, firmware version
CONTROL_UUID = BASE_UUID.format(0x0004)  # write: start, stop, set rate

VERSION = 1
HEADER_SIZE = 7
CRC_SIZE = 1
SAMPLE_SIZE = 12
MAX_COUNT = 15
DEFAULT_ATT_MTU = 23
ATT_NOTIFY_OVERHEAD = 3

OP_START = 0x01
OP_STOP = 0x02
OP_SET_RATE = 0x03

_HEADER = struct.Struct("<BHI")
_CONFIG = struct.Struct("<BfHHff")
CONFIG_VERSION = 1


class FrameError(ValueError):
    """A frame that cannot be decoded; ``reason`` is a short stable tag used in counters."""

    def __init__(self, reason: str, detail: str = ""):
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason


def crc8(data: bytes) -> int:
    """CRC-8/SMBUS: poly 0x07, init 0x00, no reflection, no xor-out (check value 0xF4)."""
    crc = 0
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = ((crc << 1) ^ 0x07) & 0xFF if crc & 0x80 else (crc << 1) & 0xFF
    return crc


def max_samples(att_mtu: int) -> int:
    """Samples per frame that fit one notification at this ATT MTU (at least 1, at most 15)."""
    room = att_mtu - ATT_NOTIFY_OVERHEAD - HEADER_SIZE - CRC_SIZE
    return max(1, min(MAX_COUNT, room // SAMPLE_SIZE))


def frame_size(count: int) -> int:
    return HEADER_SIZE + SAMPLE_SIZE * count + CRC_SIZE


@dataclass(frozen=True)
class Frame:
    seq: int
    t_us: int
    samples: tuple[tuple[int, int, int, int, int, int], ...]  # raw int16 counts
    version: int = VERSION


def encode_frame(seq: int, t_us: int, samples) -> bytes:
    """``samples``: 1..15 rows of 6 int16 counts (acc xyz, gyro xyz)."""
    rows = [tuple(int(v) for v in row) for row in samples]
    if not 1 <= len(rows) <= MAX_COUNT:
        raise ValueError(f"a frame holds 1..{MAX_COUNT} samples, got {len(rows)}")
    body = bytearray(_HEADER.pack((VERSION << 4) | len(rows), seq & 0xFFFF, t_us & 0xFFFFFFFF))
    for row in rows:
        if len(row) != 6:
            raise ValueError("a sample has 6 values")
        body += struct.pack("<6h", *row)
    body.append(crc8(body))
    return bytes(body)


def decode_frame(data: bytes | bytearray) -> Frame:
    """Decode one data frame or raise :class:`FrameError` (reasons: short, version, length, crc)."""
    data = bytes(data)
    if len(data) < frame_size(1):
        raise FrameError("short", f"{len(data)} bytes")
    hdr, seq, t_us = _HEADER.unpack_from(data, 0)
    version, count = hdr >> 4, hdr & 0x0F
    if version != VERSION:
        raise FrameError("version", f"version {version}")
    if count == 0 or len(data) != frame_size(count):
        raise FrameError("length", f"{len(data)} bytes for count {count}")
    if crc8(data[:-1]) != data[-1]:
        raise FrameError("crc")
    samples = tuple(struct.unpack_from("<6h", data, HEADER_SIZE + SAMPLE_SIZE * i) for i in range(count))
    return Frame(seq=seq, t_us=t_us, samples=samples, version=version)


def frame_counts(frame: Frame) -> np.ndarray:
    return np.asarray(frame.samples, dtype=np.int16).reshape(-1, 6)


@dataclass(frozen=True)
class Config:
    """What the config characteristic reports. Scales convert int16 counts to g and rad/s."""

    rate_hz: float
    acc_range_g: int
    gyro_range_dps: int
    acc_scale: float  # g per count
    gyro_scale: float  # rad/s per count
    firmware: str

    @classmethod
    def for_ranges(cls, rate_hz: float, acc_range_g: int, gyro_range_dps: int, firmware: str) -> "Config":
        """Scales of a full-scale range on int16 (as float32, the wire precision)."""
        acc = float(np.float32(acc_range_g / 32768.0))
        gyro = float(np.float32(gyro_range_dps / 32768.0 * np.pi / 180.0))
        return cls(float(np.float32(rate_hz)), acc_range_g, gyro_range_dps, acc, gyro, firmware)


def encode_config(cfg: Config) -> bytes:
    fw = cfg.firmware.encode("utf-8")[:32]
    return _CONFIG.pack(CONFIG_VERSION, cfg.rate_hz, cfg.acc_range_g, cfg.gyro_range_dps,
                        cfg.acc_scale, cfg.gyro_scale) + fw


def decode_config(data: bytes | bytearray) -> Config:
    data = bytes(data)
    if len(data) < _CONFIG.size:
        raise FrameError("config", f"{len(data)} bytes, need at least {_CONFIG.size}")
    version, rate, acc_fs, gyro_fs, acc_scale, gyro_scale = _CONFIG.unpack_from(data, 0)
    if version != CONFIG_VERSION:
        raise FrameError("config", f"config version {version}")
    if not all(math.isfinite(v) and v > 0 for v in (rate, acc_scale, gyro_scale)):
        raise FrameError("config", f"rate and scales must be finite and positive (rate {rate}, "
                                   f"acc scale {acc_scale}, gyro scale {gyro_scale})")
    fw = data[_CONFIG.size:].decode("utf-8", errors="replace")
    return Config(rate, acc_fs, gyro_fs, acc_scale, gyro_scale, fw)


def encode_control(op: int, rate_hz: int | None = None) -> bytes:
    if op == OP_SET_RATE:
        if rate_hz is None or not 1 <= rate_hz <= 0xFFFF:
            raise ValueError("set-rate needs a rate of 1..65535 Hz")
        return struct.pack("<BH", op, rate_hz)
    if op not in (OP_START, OP_STOP):
        raise ValueError(f"unknown control opcode {op}")
    return bytes([op])


def decode_control(data: bytes | bytearray) -> tuple[int, int | None]:
    """-> (opcode, rate or None); raises :class:`FrameError` ("control") when malformed."""
    data = bytes(data)
    if data[:1] in (bytes([OP_START]), bytes([OP_STOP])) and len(data) == 1:
        return data[0], None
    if len(data) == 3 and data[0] == OP_SET_RATE:
        rate = struct.unpack_from("<H", data, 1)[0]
        if rate >= 1:
            return OP_SET_RATE, rate
    raise FrameError("control", data.hex())


def quantize(values: np.ndarray, scale: float) -> np.ndarray:
    """Physical values -> int16 counts at ``scale`` (rounded, saturated at the int16 range)."""
    q = np.rint(np.asarray(values, np.float64) / scale)
    return np.clip(q, -32768, 32767).astype(np.int16)
