"""Polar Measurement Data (PMD): the GATT service Polar sensors stream raw samples over.

From Polar's public BLE SDK (``polarofficial/polar-ble-sdk``): ``technical_documentation/
online_measurement.pdf`` (v1.0, August 2024) and the Android client's ``pmd/`` sources and unit
tests, read, not copied. Everything is little-endian.

Control point (``PMD_CP``: read, write, indicate)
    read -> features: ``0x0F``, then a bit field of the measurement types the device streams
    (byte 1: bit 2 ACC, bit 5 GYRO, ...).
    write ``[op, type, settings...]``: 1 get measurement settings, 2 start, 3 stop.
    indication ``[0xF0, op, type, status, more, params...]``: the response (status 0 = success);
    params of a settings response (and of a start response: the conversion factor) are settings:
    repeated ``[setting type u8, count u8, count values]`` with values of 2 bytes (0 sample rate,
    1 resolution, 2 range), 4 (3 range in milli-units; 5 conversion factor, an IEEE-754 float32),
    1 (4 channels), 16 (6 security).

Data (``PMD_DATA``: notify), one frame per notification
    ``u8 measurement type`` (low 6 bits), ``u64 timestamp`` (ns since 2000-01-01T00:00:00Z of the
    frame's *last* sample), ``u8 frame type`` (bit 7: delta-compressed; low 7 bits: the type), the
    content. Raw content: samples of ``channels`` signed values, back to back. Compressed content:
    a reference sample (``channels`` signed values of ``ceil(resolution / 8)`` bytes), then blocks of
    ``[delta bit width u8, sample count u8, count * channels deltas]``, the deltas two's complement
    and packed least-significant bit first; each sample is the previous one plus its deltas.
    Values times the conversion factor are mG (ACC) and deg/s (GYRO).

Sample times (``PmdTimeStampUtils``): the last sample is at the frame's timestamp; with the previous
frame's timestamp ``p``, the ``n`` samples are ``p + (i + 1) * (t - p) / n``; the first frame is
spaced by the sampling rate.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass, field

import numpy as np

from firmware_bridge.protocol import FrameError

SERVICE_UUID = "fb005c80-02e7-f387-1cad-8acd2d8df0c8"
CP_UUID = "fb005c81-02e7-f387-1cad-8acd2d8df0c8"
DATA_UUID = "fb005c82-02e7-f387-1cad-8acd2d8df0c8"

# measurement types (data[0] & 0x3F; the control point's type byte)
ECG, PPG, ACC, PPI, GYRO, MAGNETOMETER = 0, 1, 2, 3, 5, 6
TYPE_NAMES = {ECG: "ECG", PPG: "PPG", ACC: "ACC", PPI: "PPI", GYRO: "GYRO", MAGNETOMETER: "MAG"}
_FEATURE_BITS = {ECG: (1, 0x01), PPG: (1, 0x02), ACC: (1, 0x04), PPI: (1, 0x08), GYRO: (1, 0x20),
                 MAGNETOMETER: (1, 0x40)}
FEATURES_TAG = 0x0F

# control point
OP_GET_SETTINGS, OP_START, OP_STOP = 1, 2, 3
RESPONSE_CODE = 0xF0
STATUS_NAMES = ("SUCCESS", "INVALID_OP_CODE", "INVALID_MEASUREMENT_TYPE", "NOT_SUPPORTED", "INVALID_LENGTH",
                "INVALID_PARAMETER", "ALREADY_IN_STATE", "INVALID_RESOLUTION", "INVALID_SAMPLE_RATE",
                "INVALID_RANGE", "INVALID_MTU", "INVALID_NUMBER_OF_CHANNELS", "INVALID_STATE",
                "DEVICE_IN_CHARGER", "DISK_FULL")
SUCCESS, ERROR_INVALID_PARAMETER, ERROR_ALREADY_IN_STATE = 0, 5, 6

# settings
SAMPLE_RATE, RESOLUTION, RANGE, RANGE_MILLIUNIT, CHANNELS, FACTOR, SECURITY = range(7)
_SETTING_SIZE = {SAMPLE_RATE: 2, RESOLUTION: 2, RANGE: 2, RANGE_MILLIUNIT: 4, CHANNELS: 1, FACTOR: 4, SECURITY: 16}

HEADER_SIZE = 10
COMPRESSED = 0x80
_HEADER = struct.Struct("<BQB")


# ------------------------------------------------------------------------------------ features
def encode_features(types) -> bytes:
    out = bytearray([FEATURES_TAG, 0, 0])
    for t in types:
        byte, bit = _FEATURE_BITS[t]
        out[byte] |= bit
    return bytes(out)


def decode_features(data: bytes | bytearray) -> set[int]:
    data = bytes(data)
    if len(data) < 2 or data[0] != FEATURES_TAG:
        raise FrameError("features", f"PMD feature read {data.hex()} does not start with 0x0f")
    return {t for t, (byte, bit) in _FEATURE_BITS.items() if len(data) > byte and data[byte] & bit}


# ------------------------------------------------------------------------------------ settings
def encode_settings(settings: dict[int, list]) -> bytes:
    """``{setting type: [values]}`` -> bytes (a start request carries one value per type, no factor)."""
    out = bytearray()
    for kind, values in settings.items():
        size = _SETTING_SIZE[kind]
        out += bytes([kind, len(values)])
        for v in values:
            out += struct.pack("<f", v) if kind == FACTOR else int(v).to_bytes(size, "little", signed=kind == RANGE_MILLIUNIT)
    return bytes(out)


def decode_settings(data: bytes | bytearray) -> dict[int, list]:
    """Settings bytes -> ``{setting type: [values]}``; the factor as a float, the rest as ints."""
    data, out, i = bytes(data), {}, 0
    while i < len(data):
        if i + 2 > len(data):
            raise FrameError("settings", f"setting header cut at byte {i}")
        kind, count = data[i], data[i + 1]
        i += 2
        if kind not in _SETTING_SIZE:
            raise FrameError("settings", f"unknown setting type {kind}")
        size = _SETTING_SIZE[kind]
        if i + size * count > len(data):
            raise FrameError("settings", f"setting {kind} needs {size * count} bytes, {len(data) - i} left")
        vals = []
        for _ in range(count):
            chunk = data[i:i + size]
            if kind == FACTOR:
                vals.append(struct.unpack("<f", chunk)[0])
            elif kind == SECURITY:
                vals.append(chunk)
            else:  # the SDK reads every integer setting as signed (a 0xFFFFFFFF milli-unit range is -1)
                vals.append(int.from_bytes(chunk, "little", signed=size == 4))
            i += size
        out[kind] = vals
    return out


# ------------------------------------------------------------------------------- control point
def encode_request(op: int, measurement: int, settings: dict[int, list] | None = None) -> bytes:
    return bytes([op, measurement]) + (encode_settings(settings) if settings else b"")


def decode_request(data: bytes | bytearray) -> tuple[int, int, dict[int, list]]:
    data = bytes(data)
    if len(data) < 2:
        raise FrameError("request", f"{len(data)} bytes, a PMD request is at least op and type")
    return data[0], data[1] & 0x3F, decode_settings(data[2:])


@dataclass(frozen=True)
class Response:
    op: int
    measurement: int
    status: int
    more: bool = False
    params: bytes = b""

    @property
    def ok(self) -> bool:
        return self.status == SUCCESS

    @property
    def status_name(self) -> str:
        return STATUS_NAMES[self.status] if self.status < len(STATUS_NAMES) else f"status {self.status}"


def encode_response(resp: Response) -> bytes:
    return bytes([RESPONSE_CODE, resp.op, resp.measurement, resp.status, int(resp.more)]) + resp.params


def decode_response(data: bytes | bytearray) -> Response:
    data = bytes(data)
    if len(data) < 4 or data[0] != RESPONSE_CODE:
        raise FrameError("response", f"not a PMD control point response: {data.hex()}")
    status = data[3]
    if status != SUCCESS:  # an error response carries no parameters
        return Response(data[1], data[2], status)
    return Response(data[1], data[2], status, len(data) > 4 and data[4] != 0, data[5:])


# -------------------------------------------------------------------------------- data frames
@dataclass(frozen=True)
class DataFrame:
    measurement: int
    timestamp_ns: int  # of the frame's last sample, ns since 2000-01-01T00:00:00Z
    frame_type: int  # low 7 bits
    compressed: bool
    content: bytes = field(repr=False)


def encode_data_frame(measurement: int, timestamp_ns: int, frame_type: int, compressed: bool, content: bytes) -> bytes:
    return _HEADER.pack(measurement, timestamp_ns, frame_type | (COMPRESSED if compressed else 0)) + content


def decode_data_frame(data: bytes | bytearray) -> DataFrame:
    data = bytes(data)
    if len(data) < HEADER_SIZE:
        raise FrameError("short", f"{len(data)} bytes, a PMD frame header is {HEADER_SIZE}")
    mtype, ts, ftype = _HEADER.unpack_from(data)
    return DataFrame(mtype & 0x3F, ts, ftype & 0x7F, bool(ftype & COMPRESSED), data[HEADER_SIZE:])


def decode_raw(content: bytes, channels: int, value_bytes: int) -> np.ndarray:
    """Raw content -> ``[n, channels]`` int64 (signed values of ``value_bytes`` each)."""
    step = channels * value_bytes
    if not content or len(content) % step:
        raise FrameError("length", f"{len(content)} content bytes are not whole samples of {step}")
    if value_bytes in (1, 2, 4):
        dt = np.dtype({1: "<i1", 2: "<i2", 4: "<i4"}[value_bytes])
        return np.frombuffer(content, dt).astype(np.int64).reshape(-1, channels)
    b = np.frombuffer(content, np.uint8).reshape(-1, value_bytes).astype(np.int64)
    v = (b << (8 * np.arange(value_bytes))).sum(axis=1)
    v = np.where(v >= 1 << (8 * value_bytes - 1), v - (1 << (8 * value_bytes)), v)
    return v.reshape(-1, channels)


def decode_delta(content: bytes, channels: int, resolution: int) -> np.ndarray:
    """Delta-compressed content -> ``[n, channels]`` int64 samples (reference sample first)."""
    ref_bytes = math.ceil(resolution / 8)
    ref_size = channels * ref_bytes
    if len(content) < ref_size:
        raise FrameError("length", f"{len(content)} bytes, the reference sample needs {ref_size}")
    samples = [decode_raw(content[:ref_size], channels, ref_bytes)[0]]
    i = ref_size
    while i < len(content):
        if i + 2 > len(content):
            raise FrameError("length", f"delta block header cut at byte {i}")
        width, count = content[i], content[i + 1]
        i += 2
        if not 1 <= width <= 32:
            raise FrameError("delta", f"delta width {width} bits")
        nbytes = math.ceil(width * count * channels / 8)
        if i + nbytes > len(content):
            raise FrameError("length", f"delta block of {count} x {width} bits needs {nbytes} bytes, "
                             f"{len(content) - i} left")
        bits = np.unpackbits(np.frombuffer(content, np.uint8, nbytes, i), bitorder="little")
        bits = bits[: width * count * channels].reshape(count * channels, width).astype(np.int64)
        deltas = (bits << np.arange(width)).sum(axis=1)
        deltas = np.where(bits[:, -1] == 1, deltas - (1 << width), deltas).reshape(count, channels)
        samples.extend(samples[-1] + np.cumsum(deltas, axis=0))
        i += nbytes
    return np.asarray(samples, np.int64).reshape(-1, channels)


def encode_delta(samples: np.ndarray, resolution: int, max_block: int = 255) -> bytes:
    """``[n, channels]`` ints -> compressed content: the reference sample, then blocks of the
    narrowest delta width that holds them (what the sensor does, as far as the frames show)."""
    s = np.asarray(samples, np.int64)
    ref_bytes = math.ceil(resolution / 8)
    out = bytearray()
    for v in s[0]:
        out += int(v).to_bytes(ref_bytes, "little", signed=True)
    deltas = np.diff(s, axis=0)
    for lo in range(0, len(deltas), max_block):
        block = deltas[lo:lo + max_block]
        pos, neg = max(int(block.max()), 0), max(-int(block.min()) - 1, 0)
        width = max(pos.bit_length(), neg.bit_length()) + 1  # two's complement: one sign bit
        out += bytes([width, len(block)])
        u = (block.reshape(-1) & ((1 << width) - 1)).astype(np.int64)
        bits = ((u[:, None] >> np.arange(width)) & 1).astype(np.uint8).reshape(-1)
        out += np.packbits(bits, bitorder="little").tobytes()
    return bytes(out)


def delta_frame_size(samples: int, channels: int, resolution: int, width: int) -> int:
    """Bytes of a one-block compressed frame (header included) for ``samples`` at ``width`` bits."""
    return HEADER_SIZE + channels * math.ceil(resolution / 8) + 2 + math.ceil((samples - 1) * channels * width / 8)


MAX_TIMESTAMP_NS = 1 << 62  # ns since 2000-01-01: about 146 years, with room for float rounding below 2^63


def sample_times_ns(previous_ns: int | None, timestamp_ns: int, n: int, rate_hz: float) -> np.ndarray:
    """The SDK's sample times: the last at ``timestamp_ns``, spaced by the gap since the previous
    frame's timestamp, or by the sampling rate for the first frame."""
    if n <= 0:
        raise FrameError("length", "a frame without samples")
    if not 0 <= timestamp_ns < MAX_TIMESTAMP_NS:  # the u64 on the wire can hold what int64 ns cannot
        raise FrameError("time", f"timestamp {timestamp_ns} ns is past year 2146: not a sensor clock")
    if previous_ns is None:
        step = 1e9 / rate_hz
        return np.rint(timestamp_ns - step * np.arange(n - 1, -1, -1)).astype(np.int64)
    step = (timestamp_ns - previous_ns) / n
    t = np.rint(previous_ns + step * np.arange(1, n + 1)).astype(np.int64)
    t[-1] = timestamp_ns
    return t


__all__ = ["ACC", "GYRO", "SERVICE_UUID", "CP_UUID", "DATA_UUID", "DataFrame", "Response", "decode_data_frame",
           "decode_delta", "decode_features", "decode_raw", "decode_request", "decode_response",
           "decode_settings", "encode_data_frame", "encode_delta", "encode_features", "encode_request",
           "encode_response", "encode_settings", "sample_times_ns"]
