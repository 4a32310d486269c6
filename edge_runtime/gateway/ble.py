"""BLE device sources: wearables streamed through ``firmware_bridge.ingest.Ingestor`` (bleak's API).

On hardware the ingestor uses bleak's platform backend (BlueZ on a Pi). With ``[ble] backend =
"virtual"`` — implied when a device uses ``emulate`` — the gateway owns a virtual radio (bumble),
one bumble central shared by every device source, and passes the bumble bleak backend through
bleak's ``backend=`` keyword: the same ingestion code, no hardware. The virtual radio also listens on
``[ble] virtual_link`` so wearables in other processes (``edge-runtime emulate --link HOST:PORT``)
can join it.

One ingestor per configured device, so a reload that changes one device leaves the others'
connections alone.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging

from edge_runtime.gateway.config import BleConfig, DeviceConfig
from edge_runtime.gateway.sources import DeviceSource, SampleListener, SourceCounters

log = logging.getLogger("edge_runtime.gateway.ble")


class BleContext:
    """The radio side shared by all BLE sources: bleak options, and the virtual radio if any."""

    def __init__(self, config: BleConfig):
        self.config = config
        self.radio = None
        self.adapter = None
        self.link_port: int | None = None
        self._lock = asyncio.Lock()
        self._ready = False

    @property
    def virtual(self) -> bool:
        return self.config.backend == "virtual"

    async def ensure(self) -> None:
        async with self._lock:
            if self._ready:
                return
            if self.virtual:
                from firmware_bridge.bleak_bumble import BumbleAdapter
                from firmware_bridge.link import VirtualRadio

                self.radio = VirtualRadio()
                if self.config.virtual_link is not None:
                    host, _, port = self.config.virtual_link.rpartition(":")
                    self.link_port = await self.radio.serve(host, int(port))
                    log.info("virtual radio listening", extra={"link": f"{host}:{self.link_port}"})
                self.adapter = await BumbleAdapter.open(radio=self.radio)
            self._ready = True

    def bleak_options(self):
        from firmware_bridge.ingest import BleakOptions

        return self.adapter.bleak_options() if self.adapter is not None else BleakOptions()

    async def close(self) -> None:
        if self.adapter is not None:
            await self.adapter.close()
            self.adapter = None
        if self.radio is not None:
            await self.radio.close()
            self.radio = None
        self._ready = False


def emulated_address(device_id: str) -> str:
    """A stable random static address for an in-process emulated wearable."""
    h = hashlib.sha256(device_id.encode()).digest()
    return ":".join(f"{b:02X}" for b in (0xC0 | (h[0] & 0x3F), h[1], h[2], h[3], h[4], h[5]))


class BleSource(DeviceSource):
    def __init__(self, device: DeviceConfig, reconnect_max_s: float, context: BleContext):
        super().__init__(device, reconnect_max_s)
        self.context = context
        self.ingestor = None
        self.wearable = None
        self._earlier = SourceCounters()  # what the ingestors of earlier runs (restarts) counted

    async def run(self, listener: SampleListener) -> None:
        from firmware_bridge.backoff import Backoff
        from firmware_bridge.ingest import DeviceTarget, Ingestor

        dev = self.device
        await self.context.ensure()
        address = dev.address
        if dev.emulate:
            from firmware_bridge.emulator import EmulatedWearable

            address = emulated_address(dev.id)
            self.wearable = EmulatedWearable(dev.emulate, profile=dev.profile, speed=dev.emulate_speed,
                                             address=address, radio=self.context.radio, repeat=dev.emulate_loop)
            await self.wearable.start()
        target = DeviceTarget(address=address, name=dev.name, profile=dev.profile, device_id=dev.id,
                              allowed_addresses=dev.allowed_addresses)
        self.ingestor = Ingestor([target], bleak=self.context.bleak_options(),
                                 backoff=Backoff(maximum=self.reconnect_max_s),
                                 stall_timeout=self.context.config.stall_timeout_s,
                                 on_connection=lambda _address, connected: listener.on_connection(dev.id, connected))
        try:
            async with self.ingestor:
                async for batch in self.ingestor.samples():
                    listener.on_samples(dev.id, batch.t, batch.raw)
        finally:
            if self.wearable is not None:
                await self.wearable.stop()
                self.wearable = None
            self._earlier = self._earlier + self._ingestor_counters()
            self.ingestor = None

    def counters(self) -> SourceCounters:
        return self._earlier + self._ingestor_counters()

    def _ingestor_counters(self) -> SourceCounters:
        if self.ingestor is None:
            return SourceCounters()
        stats = list(self.ingestor.stats.values())
        return SourceCounters(frames=sum(s.frames for s in stats),
                              malformed=sum(sum(s.malformed.values()) for s in stats),
                              overflow=sum(s.overflow for s in stats),
                              connections=sum(s.connections for s in stats),
                              connected=bool(self.ingestor.connected))

    def ingest_stats(self) -> dict:
        return {} if self.ingestor is None else {a: s.as_dict() for a, s in self.ingestor.stats.items()}
