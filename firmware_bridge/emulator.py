"""An emulated wearable: a bumble GATT peripheral that streams a recording under a device profile.

In-process (tests, demo)::

    async with VirtualRadio() as radio, EmulatedWearable(recording, profile="ours", speed=10,
                                                         radio=radio) as wearable:
        await wearable.finished.wait()

or in its own process over a bumble transport (``edge-runtime emulate REC --link 127.0.0.1:PORT``).
The recording clock runs only while a central is streaming: a disconnect pauses playback and the
next connection resumes where it stopped, so with no faults every sample is sent exactly once.
Fault switches (:class:`Faults`) drop, reorder, corrupt, stall and disconnect, from a seeded RNG.
"""

from __future__ import annotations

import asyncio
import datetime
import logging
import math
import random
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from bumble import hci
from bumble.att import ATT_Error, ErrorCode
from bumble.core import UUID, AdvertisingData
from bumble.device import Device
from bumble.gatt import Characteristic, CharacteristicValue, Service
from bumble.host import Host

from firmware_bridge.errors import BridgeError
from firmware_bridge.recording import Recording, load_samples
from firmware_bridge import pmd, protocol, thingy52
from firmware_bridge.profiles import (DEFAULT_PROFILE, PROFILE_NAMES, OursProfile, PolarVerityProfile,
                                      Thingy52Profile)

log = logging.getLogger(__name__)

FIRMWARE_VERSION = "emu-1.0.0"
MAX_ADV_NAME = 8  # flags + one 128-bit UUID leave 10 bytes of a 31-byte legacy advertisement


@dataclass(frozen=True)
class Faults:
    drop: float = 0.0  # probability that a frame is not sent (its sequence number is used up)
    reorder: float = 0.0  # probability that a frame is held back and sent after the next one
    corrupt: float = 0.0  # probability that a frame is mangled (bit flips or wrong length)
    stall_every: float = 0.0  # recording seconds between stalls (0: never)
    stall_for: float = 0.0  # wall seconds a stall lasts
    disconnect_every: float = 0.0  # recording seconds between forced disconnects (0: never)
    seed: int = 0

    @classmethod
    def parse(cls, spec: str) -> "Faults":
        """``drop=0.1,reorder=0.05,corrupt=0.02,stall=5:1.5,disconnect=10,seed=3`` ("" = none)."""
        kw: dict = {}
        for part in filter(None, (p.strip() for p in spec.split(","))):
            key, _, val = part.partition("=")
            try:
                if key == "stall":
                    every, _, dur = val.partition(":")
                    kw["stall_every"], kw["stall_for"] = float(every), float(dur or 1.0)
                elif key == "disconnect":
                    kw["disconnect_every"] = float(val)
                elif key == "seed":
                    kw["seed"] = int(val)
                elif key in ("drop", "reorder", "corrupt"):
                    kw[key] = float(val)
                else:
                    raise BridgeError(f"unknown fault {key!r} (drop, reorder, corrupt, stall, disconnect, seed)")
            except ValueError:
                raise BridgeError(f"bad fault value {part!r}") from None
        for k in ("drop", "reorder", "corrupt"):
            if not 0.0 <= kw.get(k, 0.0) < 1.0:
                raise BridgeError(f"fault {k} must be a probability in [0, 1)")
        return cls(**kw)


@dataclass
class EmulatorStats:
    frames_sent: int = 0
    samples_sent: int = 0
    dropped: int = 0
    reordered: int = 0
    corrupted: int = 0
    stalls: int = 0
    forced_disconnects: int = 0
    connections: int = 0
    dropped_seqs: deque = field(default_factory=lambda: deque(maxlen=10000))  # the latest dropped frames


class _Peripheral:
    """The profile-specific half: GATT table, advertisement and frame encoding."""

    advertised_uuid: str
    default_name = "EdgeIMU"
    fixed_rate: float | None = None  # a device that samples at one rate only: the recording is resampled to it
    clock_origin_s = 0.0  # the device time (s) at which the recording's t = 0 is played

    def __init__(self, wearable: "EmulatedWearable"):
        self.w = wearable

    @classmethod
    def check_rate(cls, rate: float) -> None:
        """Raise :class:`BridgeError` when the device cannot stream a recording at ``rate``."""

    def frames(self, seq: int, t: np.ndarray, counts: np.ndarray) -> list[bytes]:
        """The notifications for samples at device times ``t`` (seconds): one frame unless the
        profile splits sensors over frames."""
        return [self.encode(seq, int(round(float(t[0]) * 1e6)), counts)]

    def services(self) -> list[Service]:
        raise NotImplementedError

    def samples_per_frame(self, att_mtu: int) -> int:
        raise NotImplementedError

    def encode(self, seq: int, t_us: int, counts: np.ndarray) -> bytes:
        raise NotImplementedError

    def quantize(self, raw: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def corrupt(self, frame: bytes, rng: random.Random) -> bytes:
        if rng.random() < 0.5:
            return frame[: rng.randrange(0, len(frame))]
        return frame + bytes([rng.randrange(256)])


class _OursPeripheral(_Peripheral):
    advertised_uuid = protocol.SERVICE_UUID

    def services(self) -> list[Service]:
        w = self.w
        self.data = Characteristic(protocol.DATA_UUID, Characteristic.Properties.NOTIFY, Characteristic.READABLE, b"")
        config = Characteristic(protocol.CONFIG_UUID, Characteristic.Properties.READ, Characteristic.READABLE,
                                CharacteristicValue(read=lambda conn: protocol.encode_config(w.config)))
        control = Characteristic(protocol.CONTROL_UUID, Characteristic.Properties.WRITE, Characteristic.WRITEABLE,
                                 CharacteristicValue(write=self._on_control))
        return [Service(protocol.SERVICE_UUID, [self.data, config, control])]

    def _on_control(self, connection, value: bytes) -> None:
        try:
            op, rate = protocol.decode_control(value)
        except protocol.FrameError:
            raise ATT_Error(ErrorCode.VALUE_NOT_ALLOWED) from None
        if op == protocol.OP_START:
            self.w._set_streaming(connection, True)
        elif op == protocol.OP_STOP:
            self.w._set_streaming(connection, False)
        elif not self.w._set_rate(rate):
            raise ATT_Error(ErrorCode.VALUE_NOT_ALLOWED)

    def samples_per_frame(self, att_mtu: int) -> int:
        return protocol.max_samples(att_mtu)

    def quantize(self, raw: np.ndarray) -> np.ndarray:
        cfg = self.w.config
        scale = np.array([cfg.acc_scale] * 3 + [cfg.gyro_scale] * 3, np.float64)
        return protocol.quantize(raw, scale)

    def encode(self, seq: int, t_us: int, counts: np.ndarray) -> bytes:
        return protocol.encode_frame(seq, t_us, counts)

    def corrupt(self, frame: bytes, rng: random.Random) -> bytes:
        if rng.random() < 0.5:
            return super().corrupt(frame, rng)
        i = rng.randrange(len(frame))
        return frame[:i] + bytes([frame[i] ^ (1 << rng.randrange(8))]) + frame[i + 1:]


class _ThingyPeripheral(_Peripheral):
    advertised_uuid = thingy52.CONFIGURATION_SERVICE_UUID
    default_name = "Thingy"

    @classmethod
    def check_rate(cls, rate: float) -> None:
        if not thingy52.MPU_FREQ_MIN <= round(rate) <= thingy52.MPU_FREQ_MAX:
            raise BridgeError(f"a Thingy:52 streams at 5..200 Hz; the recording is at {rate:g} Hz")

    def services(self) -> list[Service]:
        w = self.w
        name = Characteristic(thingy52.BASE_UUID.format(0x0101), Characteristic.Properties.READ,
                              Characteristic.READABLE, w.name.encode())
        self.data = Characteristic(thingy52.RAW_DATA_UUID, Characteristic.Properties.NOTIFY,
                                   Characteristic.READABLE, b"")
        self.data.on(Characteristic.EVENT_SUBSCRIPTION,
                     lambda conn, notify, indicate: w._set_streaming(conn, notify))
        config = Characteristic(thingy52.MOTION_CONFIG_UUID,
                                Characteristic.Properties.READ | Characteristic.Properties.WRITE,
                                Characteristic.READABLE | Characteristic.WRITEABLE,
                                CharacteristicValue(read=lambda conn: thingy52.encode_config(w.thingy_config),
                                                    write=self._on_config))
        return [Service(thingy52.CONFIGURATION_SERVICE_UUID, [name]),
                Service(thingy52.MOTION_SERVICE_UUID, [config, self.data])]

    def _on_config(self, connection, value: bytes) -> None:
        try:
            cfg = thingy52.decode_config(value)
        except protocol.FrameError:
            raise ATT_Error(ErrorCode.VALUE_NOT_ALLOWED) from None
        if not self.w._set_rate(cfg.motion_freq_hz):
            raise ATT_Error(ErrorCode.VALUE_NOT_ALLOWED)
        self.w.thingy_config = cfg

    def samples_per_frame(self, att_mtu: int) -> int:
        return 1

    def quantize(self, raw: np.ndarray) -> np.ndarray:
        acc, gyro = thingy52.physical_to_counts(raw)
        return np.concatenate([acc, gyro], axis=1)

    def encode(self, seq: int, t_us: int, counts: np.ndarray) -> bytes:
        row = counts[0]
        return thingy52.encode_raw(row[0:3], row[3:6])


# 2000-01-01T00:00:00Z, Polar's epoch, to the emulated device's clock start (as if set by the SDK's setLocalTime)
POLAR_CLOCK_START_NS = int((datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)
                            - datetime.datetime(2000, 1, 1, tzinfo=datetime.timezone.utc)).total_seconds()) * 10**9


class _PolarVerityPeripheral(_Peripheral):
    """A Polar Verity Sense as the PMD service shows it: ACC and GYRO at 52 Hz, 16-bit, delta-compressed
    frames (ACC frame type 1, GYRO frame type 0), each with its own timestamp; streams start and stop
    through the control point, whose answers come as indications."""

    advertised_uuid = pmd.SERVICE_UUID
    default_name = "Polar"
    fixed_rate = 52.0
    clock_origin_s = POLAR_CLOCK_START_NS / 1e9
    RESOLUTION = 16
    # counts * factor = mG / deg/s: full scale of a signed 16-bit value (what the device answers on start)
    FACTORS = {pmd.ACC: 8000.0 / 32768, pmd.GYRO: 2000.0 / 32768}
    SETTINGS = {pmd.ACC: {pmd.SAMPLE_RATE: [52], pmd.RESOLUTION: [16], pmd.RANGE: [8], pmd.CHANNELS: [3]},
                pmd.GYRO: {pmd.SAMPLE_RATE: [52], pmd.RESOLUTION: [16], pmd.RANGE: [2000], pmd.CHANNELS: [3]}}
    FRAME_TYPES = {pmd.ACC: 1, pmd.GYRO: 0}
    MAX_SAMPLES = 36  # per frame, as a real sensor batches them (about 0.7 s at 52 Hz)

    def services(self) -> list[Service]:
        self.started: set[int] = set()
        self.data = Characteristic(pmd.DATA_UUID, Characteristic.Properties.NOTIFY, Characteristic.READABLE, b"")
        self.cp = Characteristic(pmd.CP_UUID, Characteristic.Properties.READ | Characteristic.Properties.WRITE
                                 | Characteristic.Properties.INDICATE,
                                 Characteristic.READABLE | Characteristic.WRITEABLE,
                                 CharacteristicValue(read=lambda conn: pmd.encode_features(self.SETTINGS),
                                                     write=self._on_control))
        return [Service(pmd.SERVICE_UUID, [self.cp, self.data])]

    def _on_control(self, connection, value: bytes) -> None:
        try:
            op, m, settings = pmd.decode_request(value)
        except protocol.FrameError:
            raise ATT_Error(ErrorCode.VALUE_NOT_ALLOWED) from None
        resp = self._answer(connection, op, m, settings)
        asyncio.get_running_loop().create_task(self._indicate(connection, pmd.encode_response(resp)))

    def _answer(self, connection, op: int, m: int, settings: dict) -> pmd.Response:
        if op not in (pmd.OP_GET_SETTINGS, pmd.OP_START, pmd.OP_STOP):
            return pmd.Response(op, m, 1)  # INVALID_OP_CODE
        if m not in self.SETTINGS:
            return pmd.Response(op, m, 3)  # NOT_SUPPORTED
        if op == pmd.OP_GET_SETTINGS:
            return pmd.Response(op, m, pmd.SUCCESS, params=pmd.encode_settings(self.SETTINGS[m]))
        if op == pmd.OP_STOP:
            self.started.discard(m)
            if not self.started:
                self.w._set_streaming(connection, False)
            return pmd.Response(op, m, pmd.SUCCESS)
        if m in self.started:
            return pmd.Response(op, m, pmd.ERROR_ALREADY_IN_STATE)
        for kind, values in settings.items():
            if kind in self.SETTINGS[m] and values[0] not in self.SETTINGS[m][kind]:
                return pmd.Response(op, m, {pmd.SAMPLE_RATE: 8, pmd.RESOLUTION: 7, pmd.RANGE: 9}.get(kind, 5))
        self.started.add(m)
        self.w._set_streaming(connection, True)
        return pmd.Response(op, m, pmd.SUCCESS, params=pmd.encode_settings({pmd.FACTOR: [self.FACTORS[m]]}))

    async def _indicate(self, connection, data: bytes) -> None:
        try:
            await self.w.device.indicate_subscriber(connection, self.cp, data)
        except Exception:
            log.debug("control point indication failed", exc_info=True)

    def samples_per_frame(self, att_mtu: int) -> int:
        k = self.MAX_SAMPLES  # worst case 17-bit deltas must still fit one notification
        while k > 1 and pmd.delta_frame_size(k, 3, self.RESOLUTION, 17) > att_mtu - 3:
            k -= 1
        return k

    def quantize(self, raw: np.ndarray) -> np.ndarray:
        acc = raw[:, 0:3] * 1000.0 / self.FACTORS[pmd.ACC]  # g -> mG -> counts
        gyro = raw[:, 3:6] * (180.0 / math.pi) / self.FACTORS[pmd.GYRO]  # rad/s -> deg/s -> counts
        return np.clip(np.rint(np.concatenate([acc, gyro], axis=1)), -32768, 32767).astype(np.int64)

    def frames(self, seq: int, t: np.ndarray, counts: np.ndarray) -> list[bytes]:
        ts = POLAR_CLOCK_START_NS + int(round(float(t[-1]) * 1e9))  # a frame is stamped with its last sample
        out = []
        for m, cols in ((pmd.ACC, slice(0, 3)), (pmd.GYRO, slice(3, 6))):
            if m in self.started:
                out.append(pmd.encode_data_frame(m, ts, self.FRAME_TYPES[m], True,
                                                 pmd.encode_delta(counts[:, cols], self.RESOLUTION)))
        return out


_PERIPHERALS = {OursProfile.name: _OursPeripheral, Thingy52Profile.name: _ThingyPeripheral,
                PolarVerityProfile.name: _PolarVerityPeripheral}
assert set(_PERIPHERALS) == set(PROFILE_NAMES), "every device profile has an emulated peripheral"


class EmulatedWearable:
    """Streams ``recording`` (a :class:`Recording`, our CSV or a MotionSense CSV) as a BLE wearable."""

    def __init__(self, recording: Recording | str | Path, *, profile: str = DEFAULT_PROFILE, speed: float = 1.0,
                 faults: Faults = Faults(), name: str | None = None, address: str | hci.Address | None = None,
                 radio=None, transport: str | None = None, acc_range_g: int = 16, gyro_range_dps: int = 2000,
                 repeat: bool = False):
        if profile not in _PERIPHERALS:
            raise BridgeError(f"unknown profile {profile!r}; known: {', '.join(PROFILE_NAMES)}")
        if speed <= 0:
            raise BridgeError("speed must be > 0")
        if (radio is None) == (transport is None):
            raise BridgeError("an emulated wearable needs exactly one of radio= (in-process) or transport=")
        self.recording = recording if isinstance(recording, Recording) else load_samples(recording)
        if len(self.recording) == 0:
            raise BridgeError("the recording has no samples")
        peripheral = _PERIPHERALS[profile]
        if peripheral.fixed_rate is not None:
            self.recording = resample_linear(self.recording, peripheral.fixed_rate)
        self.profile = profile
        self.speed = float(speed)
        self.faults = faults
        self.repeat = repeat
        self.name = name or peripheral.default_name
        if len(self.name.encode()) > MAX_ADV_NAME:
            raise BridgeError(f"device name {self.name!r} is longer than {MAX_ADV_NAME} bytes (it must fit an advertisement)")
        self.address = hci.Address(str(address or "C0:ED:6E:00:00:01"), hci.Address.RANDOM_DEVICE_ADDRESS)
        self.native_rate = float(round(self.recording.sample_rate, 3)) or 50.0
        self.rate = self.native_rate
        self._step = 1
        self.config = protocol.Config.for_ranges(self.rate, acc_range_g, gyro_range_dps, FIRMWARE_VERSION)
        self.thingy_config = thingy52.MotionConfig(motion_freq_hz=int(round(self.rate)))
        peripheral.check_rate(self.rate)
        self._radio = radio
        self._transport_spec = transport
        self._transport = None
        self._peripheral = peripheral(self)
        self.clock_origin_s = peripheral.clock_origin_s
        self.stats = EmulatorStats()
        self.finished = asyncio.Event()  # every sample of the recording has been sent
        self.radio_lost = asyncio.Event()  # the HCI transport (the radio in another process) went away
        self.position = 0  # next sample index
        self._t_offset = 0.0  # device time added per loop of a repeated recording
        self._streaming_conn = None
        self._streaming = asyncio.Event()
        self._seq = 0
        self._rng = random.Random(faults.seed)
        self._task: asyncio.Task | None = None
        self.device: Device | None = None

    # ----------------------------------------------------------------------------------- lifecycle
    async def start(self) -> None:
        if self._radio is not None:
            controller, sink = self._radio.open_host(f"emu-{self.name}")
            self.device = Device(name=self.name, address=self.address, host=Host(controller, sink))
        else:
            from bumble.transport import open_transport

            self._transport = await open_transport(self._transport_spec or "")
            terminated = getattr(self._transport.source, "terminated", None)
            if terminated is not None:
                terminated.add_done_callback(lambda _f: self.radio_lost.set())
            self.device = Device.with_hci(self.name, self.address, self._transport.source, self._transport.sink)
        for service in self._peripheral.services():
            self.device.add_service(service)
        self.device.on("connection", self._on_connection)
        await self.device.power_on()
        await self._advertise()
        self._task = asyncio.create_task(self._play(), name=f"emulate-{self.name}")

    async def _advertise(self) -> None:
        ad = AdvertisingData([
            (AdvertisingData.FLAGS, bytes([0x06])),
            (AdvertisingData.COMPLETE_LIST_OF_128_BIT_SERVICE_CLASS_UUIDS, bytes(UUID(self._peripheral.advertised_uuid))),
            (AdvertisingData.COMPLETE_LOCAL_NAME, self.name.encode()),
        ])
        await self.device.start_advertising(advertising_data=bytes(ad), auto_restart=True,
                                            advertising_interval_min=50, advertising_interval_max=50)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except (asyncio.CancelledError, Exception):
                pass
            self._task = None
        if self.device is not None:
            for adv in (self.device.legacy_advertising_set, self.device.legacy_advertiser):
                if adv is not None:
                    adv.auto_restart = False  # no re-advertising while going away
            for conn in list(self.device.connections.values()):
                try:
                    await asyncio.wait_for(conn.disconnect(), timeout=1.0)
                except Exception:
                    log.debug("disconnect on stop failed", exc_info=True)
            try:
                await self.device.power_off()
            except Exception:
                log.debug("power off failed", exc_info=True)
        if self._transport is not None:
            await self._transport.close()
            self._transport = None

    async def __aenter__(self) -> "EmulatedWearable":
        await self.start()
        return self

    async def __aexit__(self, *exc) -> None:
        await self.stop()

    async def run_until_finished(self) -> None:
        await self.finished.wait()

    # ------------------------------------------------------------------------------- connections
    def _on_connection(self, connection) -> None:
        self.stats.connections += 1
        connection.on("disconnection", lambda reason: self._on_disconnection(connection))

    def _on_disconnection(self, connection) -> None:
        if self._streaming_conn is connection:
            self._set_streaming(connection, False)

    def _set_streaming(self, connection, on: bool) -> None:
        if on:
            self._streaming_conn = connection
            self._streaming.set()
        elif self._streaming_conn is connection:
            self._streaming_conn = None
            self._streaming.clear()

    def _set_rate(self, rate: int) -> bool:
        """Decimate the recording to ``rate`` when it divides the native rate."""
        step = self.native_rate / rate
        if rate <= 0 or abs(step - round(step)) > 1e-9 or round(step) < 1:
            return False
        self._step = int(round(step))
        self.rate = self.native_rate / self._step
        self.config = protocol.Config.for_ranges(self.rate, self.config.acc_range_g, self.config.gyro_range_dps,
                                                 FIRMWARE_VERSION)
        return True

    # ---------------------------------------------------------------------------------- playback
    async def _play(self) -> None:
        rec = self.recording
        n = len(rec)
        loop = asyncio.get_running_loop()
        held: bytes | None = None  # a frame held back for reordering
        since_stall = since_disconnect = 0.0
        while True:
            if self.position >= n:
                if held is not None and self._streaming_conn is not None:
                    await self._notify(held)
                    held = None
                self.finished.set()
                if not self.repeat:
                    return
                self.position = 0  # loop; the device clock keeps running: one sample period after the last
                self._t_offset += float(rec.t[-1] - rec.t[0]) + 1.0 / self.native_rate
            await self._streaming.wait()
            conn = self._streaming_conn
            if conn is None:
                continue
            anchor_wall, anchor_t = loop.time(), rec.t[self.position]
            while self._streaming_conn is conn and self.position < n:
                k = self._peripheral.samples_per_frame(conn.att_mtu)
                idx = np.arange(self.position, min(n, self.position + k * self._step), self._step)
                due = anchor_wall + (rec.t[idx[-1]] - anchor_t) / self.speed
                delay = due - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
                if self._streaming_conn is not conn:
                    break
                counts = self._peripheral.quantize(rec.raw[idx])
                frames = self._peripheral.frames(self._seq, rec.t[idx] + self._t_offset, counts)
                seq = self._seq
                self._seq = (self._seq + 1) & 0xFFFF
                self.position = int(idx[-1]) + 1
                self.stats.samples_sent += len(idx)
                frame_span = (len(idx)) / self.rate
                for frame in frames:
                    held = await self._emit(frame, seq, held)
                since_stall += frame_span
                since_disconnect += frame_span
                f = self.faults
                if f.stall_every and since_stall >= f.stall_every:
                    since_stall = 0.0
                    self.stats.stalls += 1
                    await asyncio.sleep(f.stall_for)
                    anchor_wall, anchor_t = loop.time(), rec.t[min(self.position, n - 1)]
                if f.disconnect_every and since_disconnect >= f.disconnect_every:
                    since_disconnect = 0.0
                    self.stats.forced_disconnects += 1
                    if held is not None:
                        await self._notify(held)
                        held = None
                    await asyncio.sleep(0.01)  # let queued notifications reach the link first
                    self._set_streaming(conn, False)
                    try:
                        await conn.disconnect()
                    except Exception:
                        log.debug("forced disconnect failed", exc_info=True)
                    break

    async def _emit(self, frame: bytes, seq: int, held: bytes | None) -> bytes | None:
        """Apply the fault switches to one frame; returns the frame now held back, if any."""
        f, rng = self.faults, self._rng
        if f.drop and rng.random() < f.drop:
            self.stats.dropped += 1
            self.stats.dropped_seqs.append(seq)
            return held
        if f.corrupt and rng.random() < f.corrupt:
            self.stats.corrupted += 1
            frame = self._peripheral.corrupt(frame, rng)
        if held is None and f.reorder and rng.random() < f.reorder:
            self.stats.reordered += 1
            return frame
        await self._notify(frame)
        if held is not None:
            await self._notify(held)
        return None

    async def _notify(self, frame: bytes) -> None:
        conn = self._streaming_conn
        if conn is None:
            return
        await self.device.notify_subscriber(conn, self._peripheral.data, frame)
        self.stats.frames_sent += 1


def resample_linear(rec: Recording, rate: float) -> Recording:
    """The recording sampled at ``rate`` by linear interpolation (what a device at that rate would
    have measured, to the extent the recording shows it)."""
    n = int(math.floor((rec.t[-1] - rec.t[0]) * rate + 1e-9)) + 1
    t = rec.t[0] + np.arange(n, dtype=np.float64) / rate
    raw = np.stack([np.interp(t, rec.t, rec.raw[:, c]) for c in range(rec.raw.shape[1])], axis=1)
    return Recording(t, raw.astype(np.float32))
