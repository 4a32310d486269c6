"""bleak client backend on a :class:`BumbleAdapter`: a real bumble GATT client over the virtual link."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from bleak.backends.characteristic import BleakGATTCharacteristic
from bleak.backends.client import BaseBleakClient, NotifyCallback
from bleak.backends.descriptor import BleakGATTDescriptor
from bleak.backends.device import BLEDevice
from bleak.backends.service import BleakGATTService, BleakGATTServiceCollection
from bleak.exc import BleakDeviceNotFoundError, BleakError, BleakGATTProtocolError
from bumble.att import ATT_Error
from bumble.device import Peer
from bumble.gatt import Characteristic

from firmware_bridge.bleak_bumble.adapter import BumbleAdapter
from firmware_bridge.bleak_bumble.scanner import _full_uuid

log = logging.getLogger(__name__)

_PROPS = {
    Characteristic.Properties.BROADCAST: "broadcast",
    Characteristic.Properties.READ: "read",
    Characteristic.Properties.WRITE_WITHOUT_RESPONSE: "write-without-response",
    Characteristic.Properties.WRITE: "write",
    Characteristic.Properties.NOTIFY: "notify",
    Characteristic.Properties.INDICATE: "indicate",
    Characteristic.Properties.AUTHENTICATED_SIGNED_WRITES: "authenticated-signed-writes",
    Characteristic.Properties.EXTENDED_PROPERTIES: "extended-properties",
}


class BleakClientBumble(BaseBleakClient):
    def __init__(self, address_or_ble_device: BLEDevice | str, *, disconnected_callback=None,
                 timeout: float = 10.0, bumble: BumbleAdapter | None = None, **kwargs: Any):
        super().__init__(address_or_ble_device, disconnected_callback=disconnected_callback, timeout=timeout)
        if bumble is None and isinstance(address_or_ble_device, BLEDevice) and isinstance(
                address_or_ble_device.details, BumbleAdapter):
            bumble = address_or_ble_device.details
        if bumble is None:
            raise BleakError("BleakClientBumble needs bumble=<BumbleAdapter>")
        self._adapter = bumble
        self._name = address_or_ble_device.name if isinstance(address_or_ble_device, BLEDevice) else None
        self._connection = None
        self._peer: Peer | None = None
        self._subscriptions: dict[int, Any] = {}

    @property
    def name(self) -> str:
        return self._name or self.address.replace(":", "-")

    @property
    def mtu_size(self) -> int:
        return self._connection.att_mtu if self._connection is not None else 23

    @property
    def is_connected(self) -> bool:
        return self._connection is not None

    async def connect(self, pair: bool, **kwargs: Any) -> None:
        try:
            connection = await self._adapter.connect(self.address, timeout=self._timeout)
        except (asyncio.TimeoutError, Exception) as exc:  # bumble raises its own timeout/connection errors
            if isinstance(exc, (asyncio.TimeoutError, TimeoutError)) or "timeout" in type(exc).__name__.lower():
                raise BleakDeviceNotFoundError(self.address, f"{self.address}: not found/connectable") from exc
            raise BleakError(f"{self.address}: connection failed: {exc}") from exc
        self._connection = connection
        connection.on("disconnection", self._on_disconnection)
        try:
            peer = Peer(connection)
            self._peer = peer
            await peer.request_mtu(self._adapter.preferred_mtu)
            self.services = await self._discover(peer)
        except Exception as exc:
            await self.disconnect()
            raise BleakError(f"{self.address}: GATT setup failed: {exc}") from exc

    async def _discover(self, peer: Peer) -> BleakGATTServiceCollection:
        coll = BleakGATTServiceCollection()
        await peer.discover_services()
        for s in peer.services:
            service = BleakGATTService(s, s.handle, _full_uuid(s.uuid))
            coll.add_service(service)
            await s.discover_characteristics()
            for c in s.characteristics:
                await c.discover_descriptors()
                props = [name for flag, name in _PROPS.items() if c.properties & flag]
                char = BleakGATTCharacteristic(c, c.handle, _full_uuid(c.uuid), props,
                                               lambda: self.mtu_size - 3, service)
                coll.add_characteristic(char)
                for d in c.descriptors:
                    coll.add_descriptor(BleakGATTDescriptor(d, d.handle, _full_uuid(d.type), char))
        return coll

    def _on_disconnection(self, reason: int) -> None:
        self._connection = None
        self._peer = None
        self._subscriptions.clear()
        if self._disconnected_callback is not None:
            self._disconnected_callback()

    async def disconnect(self) -> None:
        connection = self._connection
        if connection is None:
            return
        try:
            await connection.disconnect()
        except Exception:
            log.debug("disconnect failed", exc_info=True)
            self._connection = None

    async def pair(self, *args: Any, **kwargs: Any) -> None:
        raise NotImplementedError("pairing is not supported by the bumble backend")

    async def unpair(self) -> None:
        raise NotImplementedError("pairing is not supported by the bumble backend")

    def _require(self) -> Peer:
        if self._peer is None:
            raise BleakError("Not connected")
        return self._peer

    async def read_gatt_char(self, characteristic: BleakGATTCharacteristic, *, use_cached: bool = False,
                             **kwargs: Any) -> bytearray:
        try:
            return bytearray(await self._require().read_value(characteristic.obj))
        except ATT_Error as exc:
            raise BleakGATTProtocolError(exc.error_code) from exc

    async def read_gatt_descriptor(self, descriptor: BleakGATTDescriptor, *, use_cached: bool = False,
                                   **kwargs: Any) -> bytearray:
        try:
            return bytearray(await self._require().read_value(descriptor.obj))
        except ATT_Error as exc:
            raise BleakGATTProtocolError(exc.error_code) from exc

    async def write_gatt_char(self, characteristic: BleakGATTCharacteristic, data, response: bool) -> None:
        try:
            await self._require().write_value(characteristic.obj, bytes(data), with_response=response)
        except ATT_Error as exc:
            raise BleakGATTProtocolError(exc.error_code) from exc

    async def write_gatt_descriptor(self, descriptor: BleakGATTDescriptor, data) -> None:
        try:
            await self._require().write_value(descriptor.obj, bytes(data), with_response=True)
        except ATT_Error as exc:
            raise BleakGATTProtocolError(exc.error_code) from exc

    async def start_notify(self, characteristic: BleakGATTCharacteristic, callback: NotifyCallback,
                           **kwargs: Any) -> None:
        def on_value(value: bytes) -> None:
            callback(bytearray(value))

        await self._require().subscribe(characteristic.obj, on_value, prefer_notify=True)
        self._subscriptions[characteristic.handle] = on_value

    async def stop_notify(self, characteristic: BleakGATTCharacteristic) -> None:
        on_value = self._subscriptions.pop(characteristic.handle, None)
        if on_value is not None and self._peer is not None:
            await self._peer.unsubscribe(characteristic.obj, on_value)
