"""The central's bumble host: one bumble ``Device`` shared by every bleak scanner and client using it."""

from __future__ import annotations

import asyncio
import logging
from typing import Callable

from bumble import hci
from bumble.device import Advertisement, Connection, Device
from bumble.host import Host

log = logging.getLogger(__name__)

PREFERRED_MTU = 247


class BumbleAdapter:
    """A bumble host acting as the central, on a :class:`VirtualRadio` or any bumble HCI transport."""

    def __init__(self, device: Device, transport=None):
        self.device = device
        self._transport = transport
        self._listeners: set[Callable[[Advertisement], None]] = set()
        self._scan_lock = asyncio.Lock()
        self._connect_lock = asyncio.Lock()  # one LE connection being created at a time, as in BlueZ
        self._scanning = False
        self.preferred_mtu = PREFERRED_MTU
        device.on("advertisement", self._on_advertisement)

    @classmethod
    async def open(cls, radio=None, transport: str | None = None,
                   address: str = "F0:ED:6E:FF:FF:01", name: str = "edge-central") -> "BumbleAdapter":
        """``radio``: an in-process :class:`~firmware_bridge.link.VirtualRadio`; else ``transport``:
        a bumble transport spec (``tcp-client:127.0.0.1:PORT``)."""
        addr = hci.Address(address, hci.Address.RANDOM_DEVICE_ADDRESS)
        if radio is not None:
            controller, sink = radio.open_host(name)
            device = Device(name=name, address=addr, host=Host(controller, sink))
            t = None
        elif transport is not None:
            from bumble.transport import open_transport

            t = await open_transport(transport)
            device = Device.with_hci(name, addr, t.source, t.sink)
        else:
            raise ValueError("BumbleAdapter needs a radio or a transport")
        await device.power_on()
        return cls(device, t)

    def bleak_options(self):
        """The keywords for ``BleakScanner``/``BleakClient`` that select this backend and adapter."""
        from firmware_bridge.bleak_bumble.client import BleakClientBumble
        from firmware_bridge.bleak_bumble.scanner import BleakScannerBumble
        from firmware_bridge.ingest import BleakOptions

        return BleakOptions(scanner={"backend": BleakScannerBumble, "bumble": self},
                            client={"backend": BleakClientBumble, "bumble": self})

    # scanning is shared: on while any scanner listens
    async def add_listener(self, listener: Callable[[Advertisement], None]) -> None:
        self._listeners.add(listener)
        async with self._scan_lock:
            if not self._scanning:
                await self.device.start_scanning(filter_duplicates=False)
                self._scanning = True

    async def remove_listener(self, listener: Callable[[Advertisement], None]) -> None:
        self._listeners.discard(listener)
        async with self._scan_lock:
            if self._scanning and not self._listeners:
                try:
                    await self.device.stop_scanning()
                finally:
                    self._scanning = False

    def _on_advertisement(self, adv: Advertisement) -> None:
        for listener in list(self._listeners):
            try:
                listener(adv)
            except Exception:
                log.exception("advertisement listener failed")

    async def connect(self, address: str, timeout: float) -> Connection:
        peer = hci.Address(address, hci.Address.RANDOM_DEVICE_ADDRESS)
        async with self._connect_lock:
            connection = await self.device.connect(peer, timeout=timeout)
        if str(connection.peer_address).split("/")[0] != str(peer).split("/")[0]:
            await connection.disconnect()
            raise ConnectionError(f"connected to {connection.peer_address}, not {address}")
        return connection

    async def close(self) -> None:
        self._listeners.clear()
        try:
            await self.device.power_off()
        except Exception:
            log.debug("power off failed", exc_info=True)
        if self._transport is not None:
            await self._transport.close()
