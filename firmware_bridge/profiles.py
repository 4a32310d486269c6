"""Device profiles, central side: how to start a wearable over bleak and turn its frames into samples.

Every profile yields, per notification, a :class:`DecodedFrame`: device-clock times in seconds and
raw samples ``[n, 6]`` in g and rad/s. A profile session is per connection (decoders carry the
timestamp unwrapping and frame counting state of that connection).
"""

from __future__ import annotations

import abc
from dataclasses import dataclass

import numpy as np

from firmware_bridge import protocol, thingy52
from firmware_bridge.protocol import FrameError


@dataclass(frozen=True)
class DecodedFrame:
    seq: int | None  # 16-bit frame sequence number, None for profiles without one
    t: np.ndarray  # [n] float64, device clock seconds
    raw: np.ndarray  # [n, 6] float32, g and rad/s


class ProfileSession(abc.ABC):
    """Decoder state of one connection."""

    rate_hz: float
    description: str

    @abc.abstractmethod
    def decode(self, data: bytes | bytearray) -> DecodedFrame:
        """Decode one notification or raise :class:`FrameError` with a reason."""

    @property
    @abc.abstractmethod
    def quantum(self) -> np.ndarray:
        """[6] value of one count per channel (g, rad/s): the profile's resolution."""


class DeviceProfile(abc.ABC):
    name: str
    service_uuid: str  # the GATT service that identifies the device
    advertised_uuid: str  # the service UUID found in its advertisements
    data_uuid: str

    @abc.abstractmethod
    async def open(self, client) -> ProfileSession:
        """Read the configuration over ``client`` (a connected ``bleak.BleakClient``)."""

    async def start(self, client, callback) -> None:
        await client.start_notify(self.data_uuid, callback)

    async def stop(self, client) -> None:
        await client.stop_notify(self.data_uuid)


# ------------------------------------------------------------------------------------------ ours
class OursSession(ProfileSession):
    def __init__(self, cfg: protocol.Config):
        self.cfg = cfg
        self.rate_hz = cfg.rate_hz
        self.description = f"ours fw={cfg.firmware} {cfg.rate_hz:g} Hz +-{cfg.acc_range_g} g +-{cfg.gyro_range_dps} dps"
        self._scale = np.array([cfg.acc_scale] * 3 + [cfg.gyro_scale] * 3, np.float64)
        self._last_raw_us: int | None = None
        self._last_us = 0  # unwrapped
        self._ref: tuple[int, int] | None = None  # (seq, t_us) of the last frame accepted
        self._time_rejects = 0

    @property
    def quantum(self) -> np.ndarray:
        return self._scale.copy()

    def _unwrap(self, t_us: int) -> int:
        if self._last_raw_us is None:
            self._last_raw_us, self._last_us = t_us, t_us
            return t_us
        delta = (t_us - self._last_raw_us) & 0xFFFFFFFF
        if delta >= 1 << 31:  # an earlier frame (reordered): step back
            delta -= 1 << 32
        unwrapped = self._last_us + delta
        if delta > 0:
            self._last_raw_us, self._last_us = t_us, unwrapped
        return unwrapped

    def decode(self, data: bytes | bytearray) -> DecodedFrame:
        frame = protocol.decode_frame(data)
        self._check_time(frame.seq, frame.t_us)
        counts = protocol.frame_counts(frame).astype(np.float64)
        t0 = self._unwrap(frame.t_us) / 1e6
        self._ref = (frame.seq, frame.t_us)
        t = t0 + np.arange(counts.shape[0], dtype=np.float64) / self.rate_hz
        return DecodedFrame(frame.seq, t, (counts * self._scale).astype(np.float32))

    def _check_time(self, seq: int, t_us: int) -> None:
        """Sequence and time must agree: d frames apart means 1..15 samples each (reason "time").

        Catches a mangled frame that still passes length and CRC, which would otherwise shift the
        device's time base."""
        if self._ref is None:
            return
        if self._time_rejects >= 3:  # three in a row: the reference was the bad one; take the new timeline
            self._time_rejects = 0
            return
        ref_seq, ref_us = self._ref
        d = (seq - ref_seq) % 65536
        d = d - 65536 if d >= 32768 else d
        dt = (t_us - ref_us) % (1 << 32)
        dt = dt - (1 << 32) if dt >= 1 << 31 else dt
        period, tol = 1e6 / self.rate_hz, 1e6 / self.rate_hz + 1000.0
        lo, hi = sorted((d * period, d * protocol.MAX_COUNT * period))
        if not lo - tol <= dt <= hi + tol:
            self._time_rejects += 1
            raise FrameError("time", f"seq {seq} is {d} frames from {ref_seq} but {dt} us away")
        self._time_rejects = 0


class OursProfile(DeviceProfile):
    name = "ours"
    service_uuid = protocol.SERVICE_UUID
    advertised_uuid = protocol.SERVICE_UUID
    data_uuid = protocol.DATA_UUID

    async def open(self, client) -> ProfileSession:
        return OursSession(protocol.decode_config(await client.read_gatt_char(protocol.CONFIG_UUID)))

    async def start(self, client, callback) -> None:
        await client.start_notify(self.data_uuid, callback)
        await client.write_gatt_char(protocol.CONTROL_UUID, protocol.encode_control(protocol.OP_START), response=True)

    async def stop(self, client) -> None:
        await client.write_gatt_char(protocol.CONTROL_UUID, protocol.encode_control(protocol.OP_STOP), response=True)
        await client.stop_notify(self.data_uuid)


# -------------------------------------------------------------------------------------- thingy52
class Thingy52Session(ProfileSession):
    def __init__(self, cfg: thingy52.MotionConfig):
        self.cfg = cfg
        self.rate_hz = float(cfg.motion_freq_hz)
        self.description = f"thingy52 {cfg.motion_freq_hz} Hz (Q6.10 g, Q11.5 deg/s)"
        self._frames = 0

    @property
    def quantum(self) -> np.ndarray:
        return np.array([thingy52.ACC_SCALE] * 3 + [thingy52.GYRO_SCALE] * 3, np.float64)

    def decode(self, data: bytes | bytearray) -> DecodedFrame:
        counts = thingy52.decode_raw(data)
        t = np.array([self._frames / self.rate_hz], np.float64)  # dated by counting: no timestamp on the wire
        self._frames += 1
        return DecodedFrame(None, t, thingy52.raw_to_physical(counts)[None, :].astype(np.float32))


class Thingy52Profile(DeviceProfile):
    name = "thingy52"
    service_uuid = thingy52.MOTION_SERVICE_UUID
    advertised_uuid = thingy52.CONFIGURATION_SERVICE_UUID
    data_uuid = thingy52.RAW_DATA_UUID

    async def open(self, client) -> ProfileSession:
        return Thingy52Session(thingy52.decode_config(await client.read_gatt_char(thingy52.MOTION_CONFIG_UUID)))


# The one registry of device profile names: the gateway config, the CLI and the emulator refer to it.
PROFILES: dict[str, DeviceProfile] = {p.name: p for p in (OursProfile(), Thingy52Profile())}
PROFILE_NAMES: tuple[str, ...] = tuple(PROFILES)
DEFAULT_PROFILE = OursProfile.name


def get_profile(name: str) -> DeviceProfile:
    try:
        return PROFILES[name]
    except KeyError:
        raise ValueError(f"unknown profile {name!r}; known: {', '.join(PROFILES)}") from None


def profile_for_services(service_uuids) -> DeviceProfile | None:
    """The profile whose GATT service a connected device exposes (ours first)."""
    uuids = {str(u).lower() for u in service_uuids}
    for p in PROFILES.values():
        if p.service_uuid in uuids:
            return p
    return None


__all__ = ["DecodedFrame", "DeviceProfile", "FrameError", "ProfileSession", "PROFILES", "PROFILE_NAMES",
           "DEFAULT_PROFILE", "get_profile",
           "profile_for_services", "OursProfile", "Thingy52Profile"]
