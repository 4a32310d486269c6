"""A virtual BLE radio: bumble controllers on one shared link, in-process or over TCP on loopback.

Real bumble hosts (an emulated wearable, the bleak-on-bumble central) talk HCI to a bumble
``Controller``; the controllers exchange link-layer PDUs over a ``LocalLink``. ``VirtualRadio``
owns that link. In-process hosts get a controller directly (:meth:`VirtualRadio.open_host`); other
processes connect over TCP (H4 HCI framing, bumble's ``tcp-client:HOST:PORT`` transport) and get a
fresh controller per TCP connection (:meth:`VirtualRadio.serve`).

bumble's ``LocalLink`` has no notion of a controller vanishing. When a process dies, its TCP
connection closes; the radio then detaches that controller and tells every peer it was connected
to that the link timed out (HCI Disconnection Complete, reason 0x08 "connection timeout"), as a
real radio's supervision timeout would.
"""

from __future__ import annotations

import asyncio
import logging

from bumble import hci
from bumble.controller import Controller
from bumble.link import LocalLink
from bumble.transport.common import AsyncPipeSink, StreamPacketSource

log = logging.getLogger(__name__)

CONNECTION_TIMEOUT = 0x08


class _TcpHost(StreamPacketSource):
    """One TCP client = one host; its controller lives while the connection does."""

    def __init__(self, radio: "VirtualRadio"):
        super().__init__()
        self.radio = radio
        self.controller: Controller | None = None
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport) -> None:
        self.transport = transport
        self.radio._attached += 1
        self.controller = Controller(f"tcp{self.radio._attached}", link=self.radio.link)
        self.controller.host = self  # controller -> host packets
        self.set_packet_sink(self.controller)  # host -> controller packets
        self.radio._tcp_hosts.add(self)

    def on_packet(self, packet: bytes) -> None:  # from the controller, to the remote host
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(packet)

    def connection_lost(self, exc) -> None:
        self.transport = None
        if self.controller is not None:
            self.radio.detach(self.controller)
            self.controller = None
        self.radio._tcp_hosts.discard(self)


class VirtualRadio:
    def __init__(self) -> None:
        self.link = LocalLink()
        self._server: asyncio.base_events.Server | None = None
        self._tcp_hosts: set[_TcpHost] = set()
        self._attached = 0
        self.port: int | None = None

    def open_host(self, name: str) -> tuple[Controller, AsyncPipeSink]:
        """A controller for an in-process bumble host: ``Host(controller, sink)`` / ``Device.with_hci``."""
        controller = Controller(name, link=self.link)
        return controller, AsyncPipeSink(controller)

    def detach(self, controller: Controller) -> None:
        """Remove a controller whose host is gone; its peers see a connection timeout."""
        for conn in list(controller.le_connections.values()):
            peer = self.link.find_le_controller(conn.peer_address)
            if peer is None or peer is controller:
                continue
            for peer_conn in list(peer.le_connections.values()):
                if peer_conn.peer_address == conn.self_address:
                    try:
                        peer.on_le_disconnected(peer_conn, CONNECTION_TIMEOUT)
                    except Exception:  # a peer mid-teardown: nothing left to tell
                        log.debug("peer disconnect failed", exc_info=True)
        controller.le_connections.clear()
        controller.le_legacy_advertiser.stop()
        for adv in list(getattr(controller, "advertising_sets", {}).values()):
            try:
                adv.stop()
            except Exception:
                pass
        if controller in self.link.controllers:
            self.link.remove_controller(controller)

    async def serve(self, host: str = "127.0.0.1", port: int = 0) -> int:
        """Accept remote hosts on ``host:port`` (0: any free port); returns the port."""
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(lambda: _TcpHost(self), host=host, port=port)
        self.port = self._server.sockets[0].getsockname()[1]
        return self.port

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            for h in list(self._tcp_hosts):
                if h.transport is not None:
                    h.transport.close()
            await self._server.wait_closed()
            self._server = None

    async def __aenter__(self) -> "VirtualRadio":
        return self

    async def __aexit__(self, *exc) -> None:
        await self.close()


def random_static_address(index: int, prefix: int = 0xC0) -> hci.Address:
    """A deterministic random static address (two top bits set) for device ``index``."""
    b = [prefix | 0xC0, 0xED, 0x6E, (index >> 16) & 0xFF, (index >> 8) & 0xFF, index & 0xFF]
    return hci.Address(":".join(f"{x:02X}" for x in b), hci.Address.RANDOM_DEVICE_ADDRESS)
