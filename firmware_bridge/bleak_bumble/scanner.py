"""bleak scanner backend on a :class:`BumbleAdapter`."""

from __future__ import annotations

from typing import Any, Optional

from bleak.backends.scanner import AdvertisementData, AdvertisementDataCallback, BaseBleakScanner
from bumble.core import AdvertisingData

from firmware_bridge.bleak_bumble.adapter import BumbleAdapter

_UUID_TYPES = (
    AdvertisingData.COMPLETE_LIST_OF_16_BIT_SERVICE_CLASS_UUIDS,
    AdvertisingData.INCOMPLETE_LIST_OF_16_BIT_SERVICE_CLASS_UUIDS,
    AdvertisingData.COMPLETE_LIST_OF_128_BIT_SERVICE_CLASS_UUIDS,
    AdvertisingData.INCOMPLETE_LIST_OF_128_BIT_SERVICE_CLASS_UUIDS,
)


def _full_uuid(u) -> str:
    return u.to_hex_str("-").lower() if len(bytes(u)) == 16 else f"0000{u.to_hex_str()[-4:].lower()}-0000-1000-8000-00805f9b34fb"


def advertisement_data(adv) -> tuple[AdvertisementData, Optional[str]]:
    data = adv.data
    name = data.get(AdvertisingData.COMPLETE_LOCAL_NAME) or data.get(AdvertisingData.SHORTENED_LOCAL_NAME)
    uuids: list[str] = []
    for t in _UUID_TYPES:
        for group in data.get_all(t):
            uuids.extend(_full_uuid(u) for u in (group if isinstance(group, list) else [group]))
    manufacturer = {}
    for m in data.get_all(AdvertisingData.MANUFACTURER_SPECIFIC_DATA):
        company, payload = m
        manufacturer[int(company)] = bytes(payload)
    tx = data.get(AdvertisingData.TX_POWER_LEVEL)
    return AdvertisementData(local_name=name, manufacturer_data=manufacturer, service_data={},
                             service_uuids=uuids, tx_power=tx, rssi=int(adv.rssi), platform_data=(adv,)), name


class BleakScannerBumble(BaseBleakScanner):
    def __init__(self, detection_callback: Optional[AdvertisementDataCallback], service_uuids: Optional[list[str]],
                 scanning_mode: str = "active", *, bumble: BumbleAdapter | None = None, **kwargs: Any):
        super().__init__(detection_callback, service_uuids)
        if bumble is None:
            from bleak.exc import BleakError

            raise BleakError("BleakScannerBumble needs bumble=<BumbleAdapter>")
        self._adapter = bumble

    def _on_adv(self, adv) -> None:
        ad, name = advertisement_data(adv)
        if not self.is_allowed_uuid(ad.service_uuids):
            return
        address = str(adv.address).split("/")[0]
        device = self.create_or_update_device(address, address, name, self._adapter, ad)
        self.call_detection_callbacks(device, ad)

    async def start(self) -> None:
        self.seen_devices = {}
        await self._adapter.add_listener(self._on_adv)

    async def stop(self) -> None:
        await self._adapter.remove_listener(self._on_adv)
