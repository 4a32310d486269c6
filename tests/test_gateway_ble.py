"""The gateway over BLE: emulated wearables on the virtual radio, ingested through bleak's API (the
bumble backend), transformed by a real bundle, written to JSONL — in process, no hardware."""

from __future__ import annotations

import asyncio

from edge_runtime.gateway.config import load_config
from edge_runtime.gateway.daemon import Gateway
from edge_runtime.sinks.envelope import Envelope
from edge_runtime.gateway.testing import config_text, gateway_files, metric, scrape
from edge_runtime.testing import async_wait_until


def test_emulated_wearables_stream_through_ble_to_jsonl(tmp_path):
    files = gateway_files(tmp_path, devices=2, seconds=40)
    out = tmp_path / "out.jsonl"
    sinks = f'[[sinks]]\ntype = "jsonl"\nname = "archive"\npath = "{out}"\n'
    (tmp_path / "gw.toml").write_text(config_text(tmp_path, files, sinks=sinks, speed=10.0, device_kind="emulate"))
    config = load_config(tmp_path / "gw.toml")
    assert config.ble.backend == "virtual"

    async def go():
        gw = Gateway(config, config_path=config.source)
        task = asyncio.create_task(gw.run())
        # 40 s of recording at 10x: every device's 15 windows (2000 samples // 128) arrive
        await async_wait_until(lambda: gw.engine is not None and len(gw.engine.stats()) == 2 and all(
            s.get("windows_emitted", 0) >= 15 for s in gw.engine.stats().values()),
            what=lambda: str(gw.engine and gw.engine.stats()))
        # SIGHUP with a changed sink and the same devices: the BLE connections stay up
        source0, task0 = gw.sources["dev0"]
        connections = {a: st.connections for a, st in source0.ingestor.stats.items()}
        (tmp_path / "gw.toml").write_text((tmp_path / "gw.toml").read_text().replace('name = "archive"', 'name = "archive2"'))
        assert await gw.reload() is True
        await asyncio.sleep(1.0)
        assert gw.sources["dev0"][1] is task0 and not task0.done()
        assert {a: st.connections for a, st in source0.ingestor.stats.items()} == connections
        assert set(gw.sinks) == {"archive2"}
        text = await asyncio.to_thread(scrape, gw.metrics_server.port)
        gw.request_stop()
        await asyncio.wait_for(task, 20)
        return gw, text

    gw, text = asyncio.run(go())
    records = [Envelope.parse(l)[1] for l in out.read_bytes().splitlines()]
    for dev in ("dev0", "dev1"):
        seqs = [w.seq for w in records if w.device_id == dev]
        assert seqs == list(range(15)), (dev, seqs)
        assert metric(text, "edge_device_connected", device=dev) == 1
        assert metric(text, "edge_reconnects_total", device=dev) == 0
        assert metric(text, "edge_frames_total", device=dev) > 0
        assert metric(text, "edge_frames_malformed_total", device=dev) == 0
        assert metric(text, "edge_samples_total", device=dev) >= 15 * 128
    assert gw.accepted == len(records) == 30
