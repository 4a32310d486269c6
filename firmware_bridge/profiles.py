"""Device profiles, central side: how to start a wearable over bleak and turn its frames into samples.

Every profile yields, per notification, a :class:`DecodedFrame`: device-clock times in seconds and
raw samples ``[n, 6]`` in g and rad/s (possibly none yet: a Polar sends accelerometer and gyroscope
in separate frames, paired here). A profile session is per connection (decoders carry the
timestamp unwrapping and frame counting state of that connection).
"""

from __future__ import annotations

import abc
import asyncio
import math
from collections import deque
from dataclasses import dataclass

import numpy as np

from firmware_bridge import pmd, protocol, thingy52
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

    async def start(self, client, session: ProfileSession, callback) -> None:
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

    async def start(self, client, session: ProfileSession, callback) -> None:
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


# ---------------------------------------------------------------------------------- polar-verity
@dataclass(frozen=True)
class PmdStream:
    """One PMD measurement as started: its settings and the conversion factor the device answered."""

    measurement: int
    rate_hz: int
    resolution: int
    range: int
    channels: int = 3
    factor: float = 1.0  # value * factor = mG (ACC) or deg/s (GYRO)

    def settings(self) -> dict[int, list]:
        return {pmd.SAMPLE_RATE: [self.rate_hz], pmd.RESOLUTION: [self.resolution], pmd.RANGE: [self.range],
                pmd.CHANNELS: [self.channels]}


class PolarVeritySession(ProfileSession):
    """Decodes PMD ACC and GYRO frames and pairs their samples by time into 6-channel samples.

    Each measurement keeps the previous frame's timestamp (sample times as the SDK derives them);
    a frame whose spacing is off by more than half a period (frames lost, a clock step) is laid out
    at the nominal rate, ending at its timestamp. Samples wait for their partner at most
    ``MAX_UNPAIRED`` samples (bounded; beyond it the oldest go, counted as malformed "unpaired").
    """

    MAX_UNPAIRED = 256
    MAX_FRAME_SAMPLES = 2048  # a notification holds <= 512 bytes: ~1300 samples even at 1-bit deltas

    def __init__(self, acc: PmdStream, gyro: PmdStream):
        self.streams = {pmd.ACC: acc, pmd.GYRO: gyro}
        self.rate_hz = float(acc.rate_hz)
        self.description = (f"polar-verity PMD ACC {acc.rate_hz} Hz +-{acc.range} g, "
                            f"GYRO {gyro.rate_hz} Hz +-{gyro.range} dps")
        self._previous: dict[int, int | None] = {pmd.ACC: None, pmd.GYRO: None}
        self._time_rejects = {pmd.ACC: 0, pmd.GYRO: 0}
        # (t_ns, xyz physical) awaiting a partner. decode() trims each to MAX_UNPAIRED after pairing and
        # reports the trimmed samples as a malformed 'unpaired' frame (the gateway's malformed-frame metric);
        # a frame adds at most MAX_FRAME_SAMPLES, so the deques' own bound is never what drops a sample
        cap = self.MAX_UNPAIRED + self.MAX_FRAME_SAMPLES
        self._waiting: dict[int, deque] = {pmd.ACC: deque(maxlen=cap), pmd.GYRO: deque(maxlen=cap)}
        self.control: asyncio.Queue | None = None  # control point responses (the profile waits on them)

    def set_factor(self, measurement: int, factor: float) -> None:
        s = self.streams[measurement]
        self.streams[measurement] = PmdStream(s.measurement, s.rate_hz, s.resolution, s.range, s.channels, factor)

    @property
    def quantum(self) -> np.ndarray:
        acc, gyro = self.streams[pmd.ACC].factor, self.streams[pmd.GYRO].factor
        return np.array([acc / 1000.0] * 3 + [gyro * math.pi / 180.0] * 3, np.float64)

    def decode(self, data: bytes | bytearray) -> DecodedFrame:
        frame = pmd.decode_data_frame(data)
        stream = self.streams.get(frame.measurement)
        if stream is None:
            raise FrameError("type", f"PMD measurement type {frame.measurement} was not started")
        values = self._values(frame, stream)
        if values.shape[0] > self.MAX_FRAME_SAMPLES:
            raise FrameError("length", f"{values.shape[0]} samples in one frame (at most {self.MAX_FRAME_SAMPLES})")
        t_ns = self._times(frame, stream, values.shape[0])
        waiting = self._waiting[frame.measurement]
        waiting.extend(zip(t_ns.tolist(), values))
        paired = self._pair()
        if len(waiting) > self.MAX_UNPAIRED:
            over = len(waiting) - self.MAX_UNPAIRED
            for _ in range(over):
                waiting.popleft()
            raise FrameError("unpaired", f"{over} {pmd.TYPE_NAMES[frame.measurement]} samples without a partner")
        return paired

    def _values(self, frame: pmd.DataFrame, stream: PmdStream) -> np.ndarray:
        """Frame content -> [n, 3] in g (ACC) or rad/s (GYRO)."""
        acc = frame.measurement == pmd.ACC
        kind = (frame.compressed, acc, frame.frame_type)
        if kind in ((True, True, 0), (True, True, 1), (True, False, 0)):
            counts = pmd.decode_delta(frame.content, stream.channels, stream.resolution).astype(np.float64)
            scale = stream.factor * (1000.0 if kind == (True, True, 0) else 1.0)  # compressed type 0 ACC is in g
        elif kind == (True, False, 1):  # GYRO as float32 bit patterns, delta-coded
            bits = pmd.decode_delta(frame.content, stream.channels, 32) & 0xFFFFFFFF
            counts, scale = bits.astype(np.uint32).view(np.float32).astype(np.float64), stream.factor
        elif kind in ((False, True, 0), (False, True, 1), (False, True, 2)):  # raw 8/16/24-bit mG
            counts = pmd.decode_raw(frame.content, stream.channels, frame.frame_type + 1).astype(np.float64)
            scale = stream.factor
        else:
            raise FrameError("frame type", f"{pmd.TYPE_NAMES[frame.measurement]} frame type "
                             f"{frame.frame_type}{' compressed' if frame.compressed else ''} is not supported")
        if acc:
            return counts * (scale / 1000.0)  # mG -> g
        return counts * (scale * math.pi / 180.0)  # deg/s -> rad/s

    def _times(self, frame: pmd.DataFrame, stream: PmdStream, n: int) -> np.ndarray:
        kind, previous = frame.measurement, self._previous[frame.measurement]
        if previous is not None and frame.timestamp_ns <= previous:
            self._time_rejects[kind] += 1
            if self._time_rejects[kind] < 3:  # three in a row: the previous one was the bad one
                raise FrameError("time", f"{pmd.TYPE_NAMES[kind]} timestamp {frame.timestamp_ns} is not after "
                                 f"{previous}")
            previous = None
        self._time_rejects[kind] = 0
        period = 1e9 / stream.rate_hz
        if previous is not None and not 0.5 * period <= (frame.timestamp_ns - previous) / n <= 1.5 * period:
            previous = None
        t = pmd.sample_times_ns(previous, frame.timestamp_ns, n, stream.rate_hz)  # may refuse the frame
        self._previous[kind] = frame.timestamp_ns
        return t

    def _pair(self) -> DecodedFrame:
        acc, gyro = self._waiting[pmd.ACC], self._waiting[pmd.GYRO]
        half = 0.5e9 / self.rate_hz
        t, rows = [], []
        while acc and gyro:
            (ta, a), (tg, g) = acc[0], gyro[0]
            if abs(ta - tg) > half:  # no partner for the earlier one
                (acc if ta < tg else gyro).popleft()
                continue
            acc.popleft()
            gyro.popleft()
            t.append(ta / 1e9)
            rows.append(np.concatenate([a, g]))
        raw = np.asarray(rows, np.float32).reshape(-1, 6)
        return DecodedFrame(None, np.asarray(t, np.float64), raw)


class PolarVerityProfile(DeviceProfile):
    """Polar Verity Sense over PMD: accelerometer 52 Hz +-8 g and gyroscope 52 Hz +-2000 dps (its
    defaults outside SDK mode), started through the control point; the device answers the factor."""

    name = "polar-verity"
    service_uuid = pmd.SERVICE_UUID
    advertised_uuid = pmd.SERVICE_UUID
    data_uuid = pmd.DATA_UUID
    wanted = {pmd.ACC: (52, 16, 8), pmd.GYRO: (52, 16, 2000)}  # rate Hz, resolution bits, range
    response_timeout_s = 5.0

    async def open(self, client) -> ProfileSession:
        features = pmd.decode_features(await client.read_gatt_char(pmd.CP_UUID))
        missing = [pmd.TYPE_NAMES[m] for m in self.wanted if m not in features]
        if missing:
            raise FrameError("features", f"the device does not stream {', '.join(missing)}")
        control: asyncio.Queue = asyncio.Queue(maxsize=16)
        await client.start_notify(pmd.CP_UUID, lambda _c, data: _offer(control, bytes(data)))
        streams = {}
        for m, (rate, res, rng) in self.wanted.items():
            offered = pmd.decode_settings((await self._ask(client, control, pmd.OP_GET_SETTINGS, m)).params)
            streams[m] = PmdStream(m, _pick(offered, pmd.SAMPLE_RATE, rate), _pick(offered, pmd.RESOLUTION, res),
                                   _pick(offered, pmd.RANGE, rng), _pick(offered, pmd.CHANNELS, 3))
        session = PolarVeritySession(streams[pmd.ACC], streams[pmd.GYRO])
        session.control = control
        return session

    async def start(self, client, session: ProfileSession, callback) -> None:
        assert isinstance(session, PolarVeritySession)
        await client.start_notify(self.data_uuid, callback)
        for m, stream in session.streams.items():
            resp = await self._ask(client, session.control, pmd.OP_START, m, stream.settings(), allow_already=True)
            if resp.status == pmd.ERROR_ALREADY_IN_STATE:  # left running by an earlier connection: restart it
                await self._ask(client, session.control, pmd.OP_STOP, m)
                resp = await self._ask(client, session.control, pmd.OP_START, m, stream.settings())
            factor = pmd.decode_settings(resp.params).get(pmd.FACTOR)
            if factor:
                session.set_factor(m, float(factor[0]))

    async def stop(self, client) -> None:
        for m in self.wanted:
            await client.write_gatt_char(pmd.CP_UUID, pmd.encode_request(pmd.OP_STOP, m), response=True)
        await client.stop_notify(self.data_uuid)
        await client.stop_notify(pmd.CP_UUID)

    async def _ask(self, client, control: asyncio.Queue, op: int, m: int, settings=None,
                   allow_already: bool = False) -> pmd.Response:
        await client.write_gatt_char(pmd.CP_UUID, pmd.encode_request(op, m, settings), response=True)
        while True:
            resp = pmd.decode_response(await asyncio.wait_for(control.get(), self.response_timeout_s))
            if resp.op == op and resp.measurement == m:
                break
        if not resp.ok and not (allow_already and resp.status == pmd.ERROR_ALREADY_IN_STATE):
            raise FrameError("control", f"PMD op {op} for {pmd.TYPE_NAMES.get(m, m)}: {resp.status_name}")
        return resp


def _offer(queue: asyncio.Queue, data: bytes) -> None:
    if data and data[0] == pmd.RESPONSE_CODE:  # other control point indications (stream stopped) are not answers
        try:
            queue.put_nowait(data)
        except asyncio.QueueFull:  # nobody is waiting for answers any more
            pass


def _pick(offered: dict[int, list], kind: int, wanted: int) -> int:
    """The wanted setting if offered, else the offered value closest to it."""
    values = offered.get(kind) or [wanted]
    return wanted if wanted in values else min(values, key=lambda v: abs(v - wanted))


# The one registry of device profile names: the gateway config, the CLI and the emulator refer to it.
PROFILES: dict[str, DeviceProfile] = {p.name: p for p in (OursProfile(), Thingy52Profile(), PolarVerityProfile())}
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
           "profile_for_services", "OursProfile", "Thingy52Profile", "PolarVerityProfile", "PolarVeritySession", "PmdStream"]
