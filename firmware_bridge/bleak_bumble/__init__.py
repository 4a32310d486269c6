"""A bleak backend built on bumble: the same bleak code runs against emulated wearables.

Pass the classes through bleak's own ``backend=`` parameter and the adapter as a keyword::

    adapter = await BumbleAdapter.open(radio=radio)          # or transport="tcp-client:127.0.0.1:PORT"
    async with BleakScanner(backend=BleakScannerBumble, bumble=adapter) as scanner: ...
    async with BleakClient(device, backend=BleakClientBumble, bumble=adapter) as client: ...

``adapter.bleak_options()`` returns exactly those keywords for :class:`BleakScanner` and
:class:`BleakClient` (the ingestion code passes them through, and passes nothing on hardware).
"""

from firmware_bridge.bleak_bumble.adapter import BumbleAdapter
from firmware_bridge.bleak_bumble.client import BleakClientBumble
from firmware_bridge.bleak_bumble.scanner import BleakScannerBumble

__all__ = ["BumbleAdapter", "BleakClientBumble", "BleakScannerBumble"]
