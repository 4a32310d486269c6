"""Nordic Thingy:52 motion service (TMS), raw-data characteristic, from Nordic's public firmware docs.

Thingy:52 firmware v2.x, ``ble_tms.h`` / ``m_motion.c``: base UUID ``EF68xxxx-9B35-4933-9B10-52FFA9740042``;
motion service 0x0400, configuration 0x0401, raw data 0x0406 (notify). A raw frame is 18 bytes,
little-endian int16: accelerometer x,y,z in Q6.10 (g, /1024), gyroscope x,y,z in Q11.5 (deg/s, /32),
compass x,y,z in Q12.4 (uT, /16). One sample per notification, at the "motion processing unit
frequency" of the configuration characteristic (9 bytes: step-counter interval ms u16,
temperature-compensation interval ms u16, magnetometer-compensation interval ms u16, motion
processing frequency Hz u16 (5..200), wake-on-motion u8). Frames carry no sequence number and no
timestamp: the receiver dates them by counting at the configured frequency.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass

import numpy as np

from firmware_bridge.protocol import FrameError

BASE_UUID = "ef68{:04x}-9b35-4933-9b10-52ffa9740042"
CONFIGURATION_SERVICE_UUID = BASE_UUID.format(0x0100)  # what a Thingy advertises
MOTION_SERVICE_UUID = BASE_UUID.format(0x0400)
MOTION_CONFIG_UUID = BASE_UUID.format(0x0401)
RAW_DATA_UUID = BASE_UUID.format(0x0406)

RAW_SIZE = 18
ACC_SCALE = 1.0 / (1 << 10)  # g per count (Q6.10)
GYRO_SCALE_DPS = 1.0 / (1 << 5)  # deg/s per count (Q11.5)
GYRO_SCALE = GYRO_SCALE_DPS * math.pi / 180.0  # rad/s per count
COMPASS_SCALE = 1.0 / (1 << 4)  # uT per count (Q12.4)
MPU_FREQ_MIN, MPU_FREQ_MAX = 5, 200

_RAW = struct.Struct("<9h")
_CONFIG = struct.Struct("<HHHHB")


@dataclass(frozen=True)
class MotionConfig:
    step_interval_ms: int = 1000
    temp_comp_interval_ms: int = 10000
    mag_comp_interval_ms: int = 1000
    motion_freq_hz: int = 10
    wake_on_motion: int = 1


def encode_config(cfg: MotionConfig) -> bytes:
    return _CONFIG.pack(cfg.step_interval_ms, cfg.temp_comp_interval_ms, cfg.mag_comp_interval_ms,
                        cfg.motion_freq_hz, cfg.wake_on_motion)


def decode_config(data: bytes | bytearray) -> MotionConfig:
    data = bytes(data)
    if len(data) != _CONFIG.size:
        raise FrameError("config", f"{len(data)} bytes, need {_CONFIG.size}")
    cfg = MotionConfig(*_CONFIG.unpack(data))
    if not MPU_FREQ_MIN <= cfg.motion_freq_hz <= MPU_FREQ_MAX:
        raise FrameError("config", f"motion frequency {cfg.motion_freq_hz} Hz out of {MPU_FREQ_MIN}..{MPU_FREQ_MAX}")
    return cfg


def encode_raw(acc_counts, gyro_counts, compass_counts=(0, 0, 0)) -> bytes:
    return _RAW.pack(*(int(v) for v in (*acc_counts, *gyro_counts, *compass_counts)))


def decode_raw(data: bytes | bytearray) -> tuple[int, ...]:
    """-> 9 int16 counts (acc, gyro, compass); raises :class:`FrameError` ("length") otherwise."""
    if len(data) != RAW_SIZE:
        raise FrameError("length", f"{len(data)} bytes, a raw frame is {RAW_SIZE}")
    return _RAW.unpack(bytes(data))


def raw_to_physical(counts) -> np.ndarray:
    """9 counts -> [6] float64: acc xyz (g), gyro xyz (rad/s); the compass is not part of raw samples."""
    c = np.asarray(counts, np.float64)
    return np.concatenate([c[0:3] * ACC_SCALE, c[3:6] * GYRO_SCALE])


def physical_to_counts(raw6: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """[n, 6] physical -> (acc counts [n,3], gyro counts [n,3]) int16, rounded and saturated."""
    raw6 = np.asarray(raw6, np.float64)
    acc = np.clip(np.rint(raw6[:, 0:3] / ACC_SCALE), -32768, 32767).astype(np.int16)
    gyro = np.clip(np.rint(raw6[:, 3:6] / GYRO_SCALE), -32768, 32767).astype(np.int16)
    return acc, gyro
