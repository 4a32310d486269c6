"""The one exponential backoff (firmware_bridge.backoff) every retry loop uses: BLE reconnects, the
gateway's device-source restarts and its forwarders' delivery retries."""

from __future__ import annotations

import asyncio

from firmware_bridge.backoff import Backoff


def test_backoff_doubles_to_its_cap_and_starts_over_after_a_success():
    b = Backoff(initial=0.5, maximum=3.0)
    delays, d = [], None
    for _ in range(5):
        d = b.next(d)
        delays.append(d)
    assert delays == [0.5, 1.0, 2.0, 3.0, 3.0]
    assert b.next(None) == 0.5  # a success resets: the caller passes None again
    assert Backoff(initial=1.0, maximum=10.0, factor=3.0).next(1.0) == 3.0


def test_forwarder_waits_grow_by_the_backoff_and_reset_after_delivery(tmp_path):
    """A sink that fails three times, then delivers: the forwarder's waits are the backoff's (0.05, 0.1, 0.2)."""
    from edge_runtime.gateway.forwarder import Forwarder
    from edge_runtime.sinks.base import Sink, SinkUnavailable
    from edge_runtime.sinks.envelope import Envelope
    from edge_runtime.spool import Spool

    class Flaky(Sink):
        kind = "test"

        def __init__(self):
            super().__init__("flaky")
            self.calls = 0

        async def open(self):
            pass

        async def send(self, envelopes):
            self.calls += 1
            if self.calls <= 3:
                raise SinkUnavailable("down")

        async def close(self):
            pass

    waits = []

    async def go():
        with Spool(tmp_path / "s.db") as spool:
            spool.put(["flaky"], [Envelope(id="a" * 32, device_id="d", seq=0, record=b"x")])
            fwd = Forwarder(spool, Flaky(), min_backoff_s=0.05, max_backoff_s=1.0)

            async def record(seconds):
                waits.append(seconds)

            fwd._backoff = record
            fwd.start()
            while spool.stats("flaky").records:
                await asyncio.sleep(0.01)
            await fwd.stop()

    asyncio.run(asyncio.wait_for(go(), 10))
    assert waits == [0.05, 0.1, 0.2]
