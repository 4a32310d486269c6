"""BLE ingestion over bleak's public API: wearables in, timestamped samples in g and rad/s out.

The stable API the engine consumes::

    async with Ingestor([DeviceTarget(name="EdgeIMU")], bleak=options) as ingestor:
        async for batch in ingestor.samples():      # SampleBatch(device_id, t[n], raw[n, 6])
            ...

Only ``BleakScanner`` and ``BleakClient`` are used; ``BleakOptions`` carries the keywords passed
to them (empty on hardware: bleak's platform backend; ``BumbleAdapter.bleak_options()`` for the
bumble backend). Per device: scan by address, name or service UUID; reconnect with exponential
backoff after a drop or a stall; frames put back in sequence order, duplicates and late frames
dropped, gaps counted; malformed frames counted by reason and dropped. ``t`` is the device clock in
seconds, kept non-decreasing per device across reconnects and device restarts.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import AsyncIterator, Callable, Sequence

import numpy as np

from firmware_bridge.backoff import Backoff
from firmware_bridge.profiles import (DecodedFrame, DeviceProfile, FrameError, ProfileSession, get_profile,
                                      profile_for_services)
from firmware_bridge.sequence import SequenceTracker

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SampleBatch:
    """Consecutive samples of one device: ``t`` [n] float64 s (device clock), ``raw`` [n, 6] float32."""

    device_id: str
    t: np.ndarray
    raw: np.ndarray  # acc xyz (g, with gravity), gyro xyz (rad/s)


@dataclass(frozen=True)
class DeviceTarget:
    """Which wearable(s) to stream from. Set one of address/name/service_uuid (or several: all must match).

    ``profile``: a name from ``firmware_bridge.profiles.PROFILE_NAMES`` or None (detected from the GATT
    services after connecting).
    ``multiple``: every device matching this target (e.g. all advertising our service UUID).
    ``allowed_addresses``: if given, only these addresses may match (a name alone is spoofable).

    A target bound by address keeps its device. One bound by name (or service) claims the first
    matching device and releases it when that device disconnects, so a replacement wearable with
    the same name and a new address is picked up; ``allowed_addresses`` limits who that may be.
    """

    address: str | None = None
    name: str | None = None
    service_uuid: str | None = None
    profile: str | None = None
    device_id: str | None = None
    multiple: bool = False
    allowed_addresses: tuple[str, ...] = ()

    def matches(self, address: str, name: str | None, service_uuids: Sequence[str]) -> bool:
        if self.address is None and self.name is None and self.service_uuid is None:
            return False
        if self.allowed_addresses and address.lower() not in {a.lower() for a in self.allowed_addresses}:
            return False
        if self.address is not None and address.lower() != self.address.lower():
            return False
        if self.name is not None and name != self.name:
            return False
        if self.service_uuid is not None and self.service_uuid.lower() not in [u.lower() for u in service_uuids]:
            return False
        return True


@dataclass(frozen=True)
class BleakOptions:
    """Keywords for ``BleakScanner(...)`` and ``BleakClient(...)`` (e.g. ``backend=``)."""

    scanner: dict = field(default_factory=dict)
    client: dict = field(default_factory=dict)


@dataclass
class LinkStats:
    """Counters of one device's BLE link and frame stream (the engine counts windows in its own ``StreamStats``)."""

    address: str = ""
    profile: str = ""
    description: str = ""
    connections: int = 0
    disconnects: int = 0
    failed_connects: int = 0
    stalls: int = 0
    frames: int = 0
    samples: int = 0
    lost_frames: int = 0
    duplicates: int = 0
    late: int = 0
    reordered: int = 0
    out_of_order_dropped: int = 0
    malformed: Counter = field(default_factory=Counter)  # reason -> count
    overflow: int = 0
    last_error: str = ""

    @property
    def frames_accounted(self) -> int:
        return self.frames + sum(self.malformed.values()) + self.duplicates + self.late

    def as_dict(self) -> dict:
        d = {k: getattr(self, k) for k in self.__dataclass_fields__ if k != "malformed"}
        d["malformed"] = dict(self.malformed)
        return d


class _DeviceClock:
    """Keeps a device's output times non-decreasing across sessions (reconnects, device reboots)."""

    def __init__(self) -> None:
        self.offset = 0.0
        self.last_t: float | None = None
        self.last_host: float | None = None
        self._anchor_pending = False

    def new_session(self) -> None:
        self._anchor_pending = True

    def map(self, t_dev: np.ndarray, rate: float, host_now: float) -> np.ndarray:
        """Device time -> output time; a session whose clock starts at or before the last output
        (a rebooted device, a profile dated by counting) is re-anchored after it by the host-measured gap."""
        if self._anchor_pending:
            self._anchor_pending = False
            if self.last_t is not None and t_dev[0] + self.offset <= self.last_t:
                gap = max(host_now - (self.last_host or host_now), 1.0 / rate)
                self.offset = self.last_t + gap - t_dev[0]
        t = t_dev + self.offset
        return t

    def commit(self, t: np.ndarray, host_now: float) -> None:
        self.last_t = float(t[-1])
        self.last_host = host_now


class FrameIngest:
    """One connection's notifications -> decoded frames in order, every notification accounted for.

    Each notification is either decoded (``stats.frames``) or malformed (``stats.malformed[reason]``);
    each decoded frame is released, or dropped as a duplicate or late, or (until :meth:`flush`) held
    for reordering. Counters in ``stats`` are live, so they are right whenever the session ends.
    """

    def __init__(self, session: ProfileSession, stats: LinkStats, window: int = 8, max_hold: float = 0.5):
        self.session = session
        self.stats = stats
        self.tracker = SequenceTracker(window, max_hold)
        self._base = (stats.lost_frames, stats.duplicates, stats.late, stats.reordered)
        self.notifications = 0
        self.last_notification = time.monotonic()

    def on_notification(self, data: bytes | bytearray, now: float) -> list[DecodedFrame]:
        self.notifications += 1
        self.last_notification = now
        try:
            frame = self.session.decode(data)
        except FrameError as exc:
            self.stats.malformed[exc.reason] += 1
            return []
        self.stats.frames += 1
        if frame.seq is None:  # no sequence numbers in this profile: nothing to order
            return [frame] if frame.t.size else []  # (a frame whose samples wait for a partner)
        return self._sync(self.tracker.push(frame.seq, frame, now))

    def expire(self, now: float) -> list[DecodedFrame]:
        return self._sync(self.tracker.expire(now))

    def flush(self) -> list[DecodedFrame]:
        return self._sync(self.tracker.flush())

    def _sync(self, out: list[DecodedFrame]) -> list[DecodedFrame]:
        c, b, s = self.tracker.counters, self._base, self.stats
        s.lost_frames, s.duplicates, s.late, s.reordered = b[0] + c.lost, b[1] + c.duplicates, b[2] + c.late, \
            b[3] + c.reordered
        return out


class Ingestor:
    def __init__(self, targets: Sequence[DeviceTarget], *, bleak: BleakOptions = BleakOptions(),
                 backoff: Backoff = Backoff(), stall_timeout: float = 5.0, connect_timeout: float = 10.0,
                 reorder_window: int = 8, max_hold: float = 0.5, queue_size: int = 8192,
                 on_connection: Callable[[str, bool], None] | None = None):
        """``on_connection(address, connected)`` is called on the event loop when a device connects
        or disconnects (connection counts are in ``stats``, the connected ones in ``connected``)."""
        if not targets:
            raise ValueError("Ingestor needs at least one DeviceTarget")
        self.targets = list(targets)
        self.bleak = bleak
        self.backoff = backoff
        self.stall_timeout = stall_timeout
        self.connect_timeout = connect_timeout
        self.reorder_window = reorder_window
        self.max_hold = max_hold
        self.stats: dict[str, LinkStats] = {}
        self.connected: set[str] = set()
        self._queue: asyncio.Queue[SampleBatch | None] = asyncio.Queue(maxsize=queue_size)
        self._sessions: dict[str, asyncio.Task] = {}  # address -> task
        self._claims: dict[tuple[int, str], str] = {}  # (target index, address or "") -> address
        self._retry_at: dict[str, float] = {}
        self._delay: dict[str, float] = {}
        self._clocks: dict[str, _DeviceClock] = {}
        self._scanner = None
        self._stopping = False
        self.on_connection = on_connection

    # ------------------------------------------------------------------------------- lifecycle
    async def start(self) -> None:
        from bleak import BleakScanner

        self._scanner = BleakScanner(detection_callback=self._on_advertisement, **self.bleak.scanner)
        await self._scanner.start()

    async def stop(self) -> None:
        self._stopping = True
        if self._scanner is not None:
            try:
                await self._scanner.stop()
            except Exception:
                log.debug("scanner stop failed", exc_info=True)
            self._scanner = None
        tasks = list(self._sessions.values())
        for task in tasks:
            task.cancel()
        for task in tasks:
            try:
                await task
            except (asyncio.CancelledError, Exception):
                pass
        self._put(None)

    async def __aenter__(self) -> "Ingestor":
        await self.start()
        return self

    async def __aexit__(self, *exc) -> None:
        await self.stop()

    async def samples(self) -> AsyncIterator[SampleBatch]:
        """Batches from every device, in per-device time order, until :meth:`stop`."""
        while True:
            batch = await self._queue.get()
            if batch is None:
                return
            yield batch

    # -------------------------------------------------------------------------------- scanning
    def _on_advertisement(self, device, adv) -> None:
        if self._stopping:
            return
        address = device.address
        if address in self._sessions or time.monotonic() < self._retry_at.get(address, 0.0):
            return
        for ti, target in enumerate(self.targets):
            key = (ti, address if target.multiple else "")
            if key in self._claims and self._claims[key] != address:
                continue
            if target.matches(address, adv.local_name, adv.service_uuids):
                self._claims[key] = address
                self._sessions[address] = asyncio.get_running_loop().create_task(
                    self._session(target, device, key), name=f"ingest-{address}")
                return

    # --------------------------------------------------------------------------------- session
    async def _session(self, target: DeviceTarget, device, claim: tuple[int, str] | None = None) -> None:
        from bleak import BleakClient
        from bleak.exc import BleakError

        address = device.address
        stats = self.stats.setdefault(address, LinkStats(address=address))
        device_id = target.device_id or address
        clock = self._clocks.setdefault(address, _DeviceClock())
        disconnected = asyncio.Event()
        frames: FrameIngest | None = None
        client = BleakClient(device, disconnected_callback=lambda _c: disconnected.set(),
                             timeout=self.connect_timeout, **self.bleak.client)
        try:
            await client.connect()
            profile: DeviceProfile | None = get_profile(target.profile) if target.profile else \
                profile_for_services(s.uuid for s in client.services)
            if profile is None:
                raise BleakError(f"{address}: no known profile among its GATT services")
            session = await profile.open(client)
            stats.profile, stats.description = profile.name, session.description
            stats.connections += 1
            self.connected.add(address)
            self._event(address, True)
            clock.new_session()
            frames = FrameIngest(session, stats, self.reorder_window, self.max_hold)

            def emit(decoded: list[DecodedFrame]) -> None:
                for fr in decoded:
                    self._emit(device_id, stats, clock, fr, session.rate_hz)

            def on_data(_char, data: bytearray) -> None:
                emit(frames.on_notification(data, time.monotonic()))

            await profile.start(client, session, on_data)
            while not disconnected.is_set():
                try:
                    await asyncio.wait_for(disconnected.wait(), timeout=0.1)
                except asyncio.TimeoutError:
                    pass
                now = time.monotonic()
                emit(frames.expire(now))
                if now - frames.last_notification > self.stall_timeout:
                    stats.stalls += 1
                    stats.last_error = f"stalled: no frame for {self.stall_timeout:g} s"
                    break
            emit(frames.flush())
        except asyncio.CancelledError:
            if frames is not None:
                emit(frames.flush())  # deliver what was held for reordering before going away
            raise
        except Exception as exc:  # bleak/bumble/OS errors and unusable configs: this session ends, others go on
            stats.failed_connects += 0 if address in self.connected else 1
            stats.last_error = f"{type(exc).__name__}: {exc}"
            log.info("%s: session ended: %s", address, stats.last_error)
        finally:
            streamed = frames is not None and frames.notifications > 0
            was_connected = address in self.connected
            self.connected.discard(address)
            if client.is_connected:
                try:
                    await asyncio.wait_for(client.disconnect(), timeout=2.0)
                except Exception:
                    log.debug("disconnect failed", exc_info=True)
            if was_connected:
                stats.disconnects += 1
                self._event(address, False)
            delay = self.backoff.next(None if streamed else self._delay.get(address))
            self._delay[address] = delay
            self._retry_at[address] = time.monotonic() + delay
            self._sessions.pop(address, None)
            if target.address is None and claim is not None and self._claims.get(claim) == address:
                # bound by name: free the claim, so a replacement wearable (new address) can take it
                # (the same one comes back too, after its backoff)
                del self._claims[claim]

    def _emit(self, device_id: str, stats: LinkStats, clock: _DeviceClock, fr: DecodedFrame, rate: float) -> None:
        now = time.monotonic()
        t = clock.map(fr.t, rate, now)
        raw = fr.raw
        if clock.last_t is not None and t[0] <= clock.last_t:  # same samples again (device resent)
            keep = t > clock.last_t
            stats.out_of_order_dropped += int((~keep).sum())
            t, raw = t[keep], raw[keep]
            if t.size == 0:
                return
        clock.commit(t, now)
        stats.samples += int(t.size)
        if not self._put(SampleBatch(device_id, t, raw)):
            if not stats.overflow:
                log.error("%s: ingest queue full; samples dropped (the consumer is not keeping up)", stats.address)
            stats.overflow += int(t.size)

    def _put(self, item: SampleBatch | None) -> bool:
        """Queue a batch (False: the consumer fell behind and it was dropped, counted as overflow)."""
        try:
            self._queue.put_nowait(item)
            return True
        except asyncio.QueueFull:
            if item is None:  # the end marker always gets through
                self._queue.get_nowait()
                self._queue.put_nowait(None)
            return False

    def _event(self, address: str, connected: bool) -> None:
        if self.on_connection is not None:
            try:
                self.on_connection(address, connected)
            except Exception:  # a listener's bug must not end the session
                log.exception("%s: on_connection callback failed", address)
