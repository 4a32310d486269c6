"""The gateway daemon: config validation, the pipeline with a real bundle, metrics, reload, signals,
systemd notifications — in process and as a real `edge-runtime run` process."""

from __future__ import annotations

import asyncio
import shutil
import signal
import socket
from pathlib import Path

import pytest

from edge_runtime.errors import UserError
from edge_runtime.gateway.config import ConfigError, load_config, parse_config
from edge_runtime.gateway.daemon import Gateway
from edge_runtime.gateway.metrics import Counter, GatewayMetrics
from edge_runtime.sinks.envelope import Envelope
from edge_runtime.spool import Spool
from edge_runtime.gateway.testing import Daemon, config_text, gateway_files, metric, scrape
from edge_runtime.testing import async_wait_until, wait_until
from http_collector import Collector

REPO = Path(__file__).resolve().parents[1]

MINIMAL = {"bundle": "b", "devices": [{"id": "d1", "address": "AA:BB:CC:DD:EE:FF"}],
           "sinks": [{"type": "jsonl", "path": "-"}]}


def _with(**changes):
    import copy

    d = copy.deepcopy(MINIMAL)
    for dotted, value in changes.items():
        target = d
        parts = dotted.split("__")
        for p in parts[:-1]:
            target = target[int(p)] if isinstance(target, list) else target.setdefault(p, {})
        if isinstance(target, list):
            target[int(parts[-1])] = value
        else:
            target[parts[-1]] = value
    return d


@pytest.mark.parametrize("doc, field", [
    ({k: v for k, v in MINIMAL.items() if k != "bundle"}, "bundle: is required"),
    (_with(devices=[]), "devices: must be a non-empty array"),
    (_with(devices__0={"id": "d1"}), "devices[0]: give exactly one of"),
    (_with(devices__0={"id": "d 1", "name": "x"}), "devices[0].id: must be"),
    (_with(devices__0={"id": "d1", "name": "x", "profile": "fitbit"}), "devices[0].profile: must be one of ours, thingy52"),
    (_with(devices__0={"id": "d1", "emulate": "/nonexistent.csv"}), "devices[0].emulate: recording not found"),
    (_with(devices=[{"id": "d1", "name": "a"}, {"id": "d1", "name": "b"}]), "devices[1].id: duplicate"),
    (_with(sinks__0={"type": "kafka"}), "sinks[0].type: must be one of jsonl, mqtt, http"),
    (_with(sinks__0={"type": "mqtt", "url": "http://x"}), "sinks[0].url: must look like mqtt://"),
    (_with(sinks__0={"type": "mqtt", "url": "mqtt://x", "topic": "w/{device}/x"}), "sinks[0].topic: only {device_id}"),
    (_with(sinks__0={"type": "mqtt", "url": "mqtt://x", "topic": "w/#"}), "sinks[0].topic: must not contain"),
    (_with(sinks__0={"type": "mqtt", "url": "mqtt://x", "qos": 2}), "sinks[0].qos: must be 0 or 1"),
    (_with(sinks__0={"type": "mqtt", "url": "mqtt://x", "password_env": "NO_SUCH_VAR_X"}), "sinks[0].password_env: environment"),
    (_with(sinks__0={"type": "http", "url": "ftp://x"}), "sinks[0].url: must look like http"),
    (_with(sinks__0={"type": "http", "url": "http://x", "headers": {"A": 1}}), "sinks[0].headers.A: must be a non-empty string"),
    (_with(sinks__0={"type": "jsonl", "path": "-", "batchsize": 3}), "sinks[0].batchsize: unknown key"),
    (_with(spool={"max_records": -1}), "spool.max_records: must be at least 1"),
    (_with(spool={"drop_policy": "random"}), "spool.drop_policy: must be one of drop-oldest, drop-newest"),
    (_with(metrics={"listen": "9108"}), "metrics.listen: must be HOST:PORT"),
    (_with(gateway={"log_level": "loud"}), "gateway.log_level: must be one of"),
    (_with(gateway={"drain_timeout_s": "ten"}), "gateway.drain_timeout_s: must be a number"),
    (_with(extra_table={"a": 1}), "extra_table: unknown key"),
])
def test_config_errors_name_the_field(doc, field):
    with pytest.raises(ConfigError) as exc:
        parse_config(doc, "gw.toml")
    assert f"gw.toml: {field}" in str(exc.value)
    assert isinstance(exc.value, UserError)


def test_config_file_errors(tmp_path):
    with pytest.raises(ConfigError, match="no such config file"):
        load_config(tmp_path / "missing.toml")
    (tmp_path / "bad.toml").write_text("bundle = \n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(tmp_path / "bad.toml")


def test_defaults_and_relative_paths(tmp_path):
    (tmp_path / "rec.csv").write_text("t,acc_x,acc_y,acc_z,gyro_x,gyro_y,gyro_z\n")
    (tmp_path / "gw.toml").write_text(
        'bundle = "./bundle"\n[[devices]]\nid = "x"\nreplay = "rec.csv"\n'
        '[[sinks]]\ntype = "mqtt"\nurl = "mqtts://broker:8883"\n'
        '[[sinks]]\ntype = "jsonl"\npath = "out/w.jsonl"\n[spool]\nmax_bytes = 0\n'
    )
    c = load_config(tmp_path / "gw.toml")
    assert c.bundle == str(tmp_path / "bundle")
    assert c.devices[0].replay == str(tmp_path / "rec.csv") and c.devices[0].kind == "replay"
    mqtt, jsonl = c.sinks
    assert (mqtt.name, mqtt.spooled, mqtt.mqtt.port, mqtt.mqtt.tls, mqtt.mqtt.qos) == ("mqtt", True, 8883, True, 1)
    assert mqtt.mqtt.topic == "wearables/{device_id}/windows"
    assert (jsonl.name, jsonl.spooled, jsonl.path) == ("jsonl1", False, str(tmp_path / "out/w.jsonl"))
    assert c.spool.max_bytes is None and c.spool.max_records == 100_000 and c.spool.drop_policy == "drop-oldest"
    assert (c.metrics.host, c.metrics.port) == ("127.0.0.1", 9108)


def test_docs_defaults_table_matches_the_config(tmp_path):
    """docs/gateway.md states each default once, in its Defaults table; it must say what parsing does."""
    import re
    import tomllib

    c = parse_config({"bundle": "b", "devices": [{"id": "d1", "address": "AA:BB:CC:DD:EE:FF"}],
                      "sinks": [{"type": "jsonl", "path": "-"}, {"type": "mqtt", "url": "mqtt://x"},
                                {"type": "http", "url": "http://x"}]}, base=tmp_path)
    jsonl, mqtt, http = c.sinks
    actual = {
        "gateway.log_level": c.log_level, "gateway.drain_timeout_s": c.drain_timeout_s,
        "gateway.max_pending_windows": c.max_pending_windows, "gateway.reconnect_max_s": c.reconnect_max_s,
        "ble.backend": c.ble.backend, "ble.stall_timeout_s": c.ble.stall_timeout_s,
        "devices.profile": c.devices[0].profile, "devices.emulate_speed": c.devices[0].emulate_speed,
        "devices.emulate_loop": c.devices[0].emulate_loop,
        "sinks.batch_size": jsonl.batch_size, "sinks.format": mqtt.wire_format, "sinks.spooled": jsonl.spooled,
        "sinks.queue_records": jsonl.queue_records, "sinks.fsync": jsonl.fsync, "sinks.topic": mqtt.mqtt.topic,
        "sinks.qos": mqtt.mqtt.qos, "sinks.keepalive_s": mqtt.mqtt.keepalive,
        "sinks.ack_timeout_s": mqtt.mqtt.ack_timeout_s, "sinks.timeout_s": http.http.timeout_s,
        "spool.path": Path(c.spool.path).relative_to(tmp_path).as_posix(), "spool.max_records": c.spool.max_records,
        "spool.max_bytes": c.spool.max_bytes, "spool.drop_policy": c.spool.drop_policy,
        "spool.synchronous": c.spool.synchronous, "metrics.enabled": c.metrics.enabled,
        "metrics.listen": f"{c.metrics.host}:{c.metrics.port}", "trust.allow_unsigned": c.trust.allow_unsigned,
    }
    assert (http.http.timeout_s, http.wire_format, jsonl.wire_format) == (mqtt.mqtt.ack_timeout_s, "binary", "json")
    text = (REPO / "docs" / "gateway.md").read_text().split("### Defaults", 1)[1].split("\n#", 1)[0]
    documented = {k: tomllib.loads(f"v = {v}")["v"] for k, v in re.findall(r"^\| `([a-z_.]+)` \| `([^`]+)`", text, re.M)}
    assert documented == actual


def test_example_config_is_valid(tmp_path, monkeypatch):
    text = (REPO / "deploy" / "gateway.example.toml").read_text()
    (tmp_path / "ca.crt").write_text("x")
    text = text.replace("/etc/edge-runtime/ca.crt", str(tmp_path / "ca.crt"))
    (tmp_path / "gw.toml").write_text(text)
    monkeypatch.setenv("EDGE_RUNTIME_MQTT_PASSWORD", "pw")
    c = load_config(tmp_path / "gw.toml")
    assert [d.kind for d in c.devices] == ["address", "name"]
    assert [s.type for s in c.sinks] == ["jsonl", "mqtt"] and c.sinks[1].mqtt.password == "pw"


def test_systemd_unit_has_watchdog_and_reload():
    unit = (REPO / "deploy" / "edge-runtime.service").read_text()
    for line in ("Type=notify", "WatchdogSec=", "ExecReload=/bin/kill -HUP $MAINPID", "KillSignal=SIGTERM",
                 "edge-runtime run --config", "Restart=always"):
        assert line in unit


def test_metrics_refuse_per_class_labels():
    with pytest.raises(ValueError, match="per-class"):
        Counter("x", "y", ["device", "activity"])
    text = GatewayMetrics().render()
    for forbidden in ("class", "activity", "replaced", "sensitive"):
        assert f'{forbidden}="' not in text


def _run_gateway(config, during):
    """Run the gateway until ``during(gw)`` (a coroutine waiting on what the test needs) returns."""
    async def go():
        gw = Gateway(config, config_path=config.source)
        task = asyncio.create_task(gw.run())
        while gw.metrics_server is None:
            await asyncio.sleep(0.02)
        result = await during(gw)
        gw.request_stop()
        await task
        return gw, result

    return asyncio.run(go())


def test_pipeline_replay_to_jsonl_and_http_with_metrics(tmp_path, collector):
    files = gateway_files(tmp_path, devices=2, seconds=26)
    sinks = (f'[[sinks]]\ntype = "jsonl"\nname = "archive"\npath = "{tmp_path / "out.jsonl"}"\n'
             f'[[sinks]]\ntype = "http"\nname = "collector"\nurl = "{collector.url}"\nbatch_size = 4\n')
    (tmp_path / "gw.toml").write_text(config_text(tmp_path, files, sinks=sinks, speed=40.0))
    config = load_config(tmp_path / "gw.toml")

    async def during(gw):
        async def settled():  # both recordings played out, their 20 windows acknowledged by the collector
            if any(not t.done() for _, t in gw.sources.values()):
                return None
            text = await asyncio.to_thread(scrape, gw.metrics_server.port)
            done = (metric(text, "edge_sink_delivered_total", sink="collector") >= 20
                    and metric(text, "edge_spool_records", sink="collector") == 0)
            return text if done else None
        return await async_wait_until(settled)

    gw, text = _run_gateway(config, during)
    lines = (tmp_path / "out.jsonl").read_bytes().splitlines()
    parsed = [Envelope.parse(l) for l in lines]
    # 26 s at 50 Hz = 1300 samples, non-overlapping windows of 128 -> 10 per device
    for dev in ("dev0", "dev1"):
        seqs = [w.seq for _, w in parsed if w.device_id == dev]
        assert seqs == list(range(10))
        assert metric(text, "edge_windows_total", device=dev) == len(seqs)
        assert metric(text, "edge_frames_total", device=dev) == 163  # 1300 samples in chunks of 8
        assert metric(text, "edge_samples_total", device=dev) == 1300
        assert metric(text, "edge_transform_latency_seconds_count", device=dev) == len(seqs)
        assert metric(text, "edge_windows_dropped_total", device=dev) == 0
    # the HTTP collector got exactly the same records (same ids), in order
    assert collector.ids() == [i for i, _ in parsed]
    assert metric(text, "edge_sink_delivered_total", sink="collector") == len(parsed)
    assert metric(text, "edge_spool_records", sink="collector") == 0
    assert metric(text, "edge_sink_up", sink="collector") == 1
    assert gw.accepted == len(parsed)
    assert "edge_sink_delivery_latency_seconds_bucket" in text
    # valid Prometheus text exposition: HELP/TYPE comments and `name{labels} value` samples
    import re

    sample = re.compile(r'^[a-z_]+(\{[a-z_]+="[^"]*"(,[a-z_]+="[^"]*")*\})? [-+0-9.e]+(inf)?$|^[a-z_]+ [-+0-9.e]+$')
    for line in text.splitlines():
        assert line.startswith(("# HELP ", "# TYPE ")) or sample.match(line), line


def test_component_counters_are_read_at_scrape_time_and_survive_a_replaced_source(tmp_path):
    """Frames and connections are counted by the source and read when /metrics is scraped (from the
    server's thread, through the event loop); a reload that replaces the device's source keeps the
    counters monotonic and counts the new connection as a reconnect."""
    files = gateway_files(tmp_path, devices=1, seconds=60)
    sinks = f'[[sinks]]\ntype = "jsonl"\nname = "archive"\npath = "{tmp_path / "out.jsonl"}"\n'
    (tmp_path / "gw.toml").write_text(config_text(tmp_path, files, sinks=sinks, speed=5.0))
    config = load_config(tmp_path / "gw.toml")

    async def during(gw):
        async def frames_at_least(n):
            while True:
                text = await asyncio.to_thread(scrape, gw.metrics_server.port)
                if metric(text, "edge_frames_total", device="dev0") >= n:
                    return text
                await asyncio.sleep(0.05)

        first = await asyncio.wait_for(frames_at_least(5), 20)
        (tmp_path / "gw.toml").write_text(config_text(tmp_path, files, sinks=sinks, speed=6.0))
        assert await gw.reload() is True  # the device entry changed: its source is replaced
        before = metric(first, "edge_frames_total", device="dev0")
        second = await asyncio.wait_for(frames_at_least(before + 5), 20)
        return first, second

    _, (first, second) = _run_gateway(config, during)
    assert metric(first, "edge_reconnects_total", device="dev0") == 0
    assert metric(first, "edge_device_connected", device="dev0") == 1
    assert metric(second, "edge_reconnects_total", device="dev0") == 1
    assert metric(second, "edge_device_connected", device="dev0") == 1
    assert metric(second, "edge_samples_total", device="dev0") >= metric(first, "edge_samples_total", device="dev0")


def test_sink_outage_spools_and_sigterm_drain_leaves_the_rest_on_disk(tmp_path):
    files = gateway_files(tmp_path, devices=1, seconds=30)
    c = Collector()
    url = c.url
    c.close()  # nothing listens: the uplink is down for the whole run
    sinks = f'[[sinks]]\ntype = "http"\nname = "collector"\nurl = "{url}"\n'
    (tmp_path / "gw.toml").write_text(config_text(tmp_path, files, sinks=sinks, speed=30.0).replace(
        "drain_timeout_s = 5", "drain_timeout_s = 0.5"))
    gw, _ = _run_gateway(load_config(tmp_path / "gw.toml"), lambda gw: async_wait_until(lambda: gw.accepted >= 5))
    with Spool(tmp_path / "spool.sqlite") as spool:
        st = spool.stats("collector")
        waiting = spool.peek("collector", 1000)
    assert gw.accepted > 0 and st.records == gw.accepted and st.delivered == 0
    assert [r.envelope.seq for r in waiting] == list(range(gw.accepted))
    # next start: the records waiting from the last run are delivered first, in order
    c2 = Collector.__new__(Collector)
    Collector.__init__(c2)
    try:
        text = (tmp_path / "gw.toml").read_text().replace(url, c2.url)
        (tmp_path / "gw.toml").write_text(text)
        gw2, _ = _run_gateway(load_config(tmp_path / "gw.toml"),  # the waiting records, then new ones
                              lambda gw: async_wait_until(lambda: len(c2.ids()) > len(waiting) + 2))
        ids = c2.ids()
        assert ids[: len(waiting)] == [r.envelope.id for r in waiting]
        assert len(ids) == len(waiting) + gw2.accepted
        # the device's sequence continues across the restart: 0..N-1 from the first run, then N..
        seqs = [Envelope.parse(rec)[1].seq for rec in c2.records()]
        assert seqs == list(range(len(ids)))
    finally:
        c2.close()


def test_reload_keeps_unchanged_devices_and_swaps_sinks_and_bundle(tmp_path):
    files = gateway_files(tmp_path, devices=2, seconds=30)
    jsonl_a = f'[[sinks]]\ntype = "jsonl"\nname = "a"\npath = "{tmp_path / "a.jsonl"}"\n'
    jsonl_b = f'[[sinks]]\ntype = "jsonl"\nname = "b"\npath = "{tmp_path / "b.jsonl"}"\n'
    path = tmp_path / "gw.toml"
    path.write_text(config_text(tmp_path, files, sinks=jsonl_a, speed=5.0, loop=True))

    def emitted(gw, device):
        return gw.engine is not None and gw.engine.stats().get(device, {}).get("windows_emitted", 0)

    async def during(gw):
        await async_wait_until(lambda: emitted(gw, "dev0") >= 1)
        tasks_before = {k: t for k, (_, t) in gw.sources.items()}
        # 1) a broken config is refused and the running one kept
        path.write_text("bundle = 3\n")
        assert await gw.reload() is False
        assert set(gw.sinks) == {"a"}
        # 2) switch sinks a -> b and change dev1's speed; dev0 must keep its connection (same task)
        shutil.copytree(files["bundle"], tmp_path / "bundle2")
        text = config_text(tmp_path, {**files, "bundle": tmp_path / "bundle2"}, sinks=jsonl_b, speed=5.0, loop=True)
        text = text.replace('replay = "' + str(files["dev1"]) + '"\nemulate_speed = 5.0',
                            'replay = "' + str(files["dev1"]) + '"\nemulate_speed = 6.0')
        path.write_text(text)
        seq_before = gw.engine.stats()["dev0"]["windows_emitted"]
        assert await gw.reload() is True
        assert gw.sources["dev0"][1] is tasks_before["dev0"] and not tasks_before["dev0"].done()
        assert gw.sources["dev1"][1] is not tasks_before["dev1"]
        assert set(gw.sinks) == {"b"}
        assert str(gw.bundle.path) == str(tmp_path / "bundle2")
        await async_wait_until(lambda: emitted(gw, "dev0") >= seq_before + 2)  # windows went on, to sink b
        return seq_before

    gw, seq_before = _run_gateway(load_config(path), during)
    assert metric(gw.metrics.render(), "edge_config_reloads_total", result="error") == 1
    assert metric(gw.metrics.render(), "edge_config_reloads_total", result="ok") == 1
    a = [Envelope.parse(l)[1] for l in (tmp_path / "a.jsonl").read_bytes().splitlines()]
    b = [Envelope.parse(l)[1] for l in (tmp_path / "b.jsonl").read_bytes().splitlines()]
    assert a and b
    # dev0's sequence continues across the reload: no restart, no gap
    dev0 = [w.seq for w in a + b if w.device_id == "dev0"]
    assert dev0 == list(range(len(dev0)))


def _notify_socket(tmp_path):
    path = str(tmp_path / "notify.sock")
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(path)
    s.settimeout(0.2)
    return s, path


def _drain(sock) -> list[str]:
    out = []
    while True:
        try:
            out.append(sock.recv(4096).decode())
        except (socket.timeout, BlockingIOError):
            return out


def test_daemon_process_notify_reload_and_sigterm(tmp_path):
    files = gateway_files(tmp_path, devices=1, seconds=60)
    out = tmp_path / "out.jsonl"
    sinks = f'[[sinks]]\ntype = "jsonl"\nname = "archive"\npath = "{out}"\n'
    cfg = tmp_path / "gw.toml"
    cfg.write_text(config_text(tmp_path, files, sinks=sinks, speed=5.0))
    sock, path = _notify_socket(tmp_path)
    d = Daemon(cfg, env={"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "1000000"}).start()
    try:
        d.wait_log("gateway started")
        port = d.metrics_port()
        windows = wait_until(lambda: metric(scrape(port), "edge_windows_total", device="dev0"))
        n = len(d.logs)
        d.signal(signal.SIGHUP)
        d.wait_log("config reloaded", after=n)

        def more_windows():  # the stream goes on after the reload
            text = scrape(port)
            return text if metric(text, "edge_windows_total", device="dev0") > windows else None
        text = wait_until(more_windows)
        import urllib.request

        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as r:
            assert r.status == 200 and r.read() == b"ok\n"
        assert metric(text, "edge_windows_total", device="dev0") > 0
        assert metric(text, "edge_device_connected", device="dev0") == 1
        assert metric(text, "edge_reconnects_total", device="dev0") == 0  # reload kept the connection
        assert d.stop() == 0
        d.wait_log("gateway stopped")
    finally:
        if d.proc.poll() is None:
            d.kill9()
    msgs = _drain(sock)
    sock.close()
    assert msgs[0].startswith("READY=1")
    assert "WATCHDOG=1" in msgs
    assert any(m.startswith("RELOADING=1\nMONOTONIC_USEC=") for m in msgs)
    assert msgs[-1] == "STOPPING=1"
    # every stderr line is a JSON object with the structured fields
    assert d.raw_stderr and len(d.logs) == len([l for l in d.raw_stderr if l.strip()])
    assert all({"ts", "level", "logger", "msg"} <= set(e) for e in d.logs)
    lines = out.read_bytes().splitlines()
    stopped = d.wait_log("gateway stopped")
    assert stopped["accepted"] == len(lines) > 0


def test_run_check_and_bad_config_exit_codes(tmp_path, capsys):
    from edge_runtime.cli import main

    files = gateway_files(tmp_path, devices=1, seconds=4)
    cfg = tmp_path / "gw.toml"
    cfg.write_text(config_text(tmp_path, files, sinks='[[sinks]]\ntype = "jsonl"\npath = "-"\n'))
    assert main(["run", "--config", str(cfg), "--check"]) == 0
    assert "test-bundle@1.0.test" in capsys.readouterr().out
    cfg.write_text(cfg.read_text().replace('type = "jsonl"', 'type = "jsnol"'))
    assert main(["run", "--config", str(cfg)]) == 2
    assert "sinks[0].type: must be one of" in capsys.readouterr().err


def test_unusable_spool_path_and_busy_metrics_port_are_user_errors(tmp_path):
    files = gateway_files(tmp_path, devices=1, seconds=4)
    (tmp_path / "blocker").write_text("a file, not a folder")
    text = config_text(tmp_path, files, sinks='[[sinks]]\ntype = "jsonl"\npath = "-"\n')
    (tmp_path / "a.toml").write_text(text.replace(str(tmp_path / "spool.sqlite"), str(tmp_path / "blocker" / "s.db")))
    with pytest.raises(UserError, match="spool.path: cannot open"):
        asyncio.run(Gateway(load_config(tmp_path / "a.toml")).run())
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        (tmp_path / "b.toml").write_text(text.replace("127.0.0.1:0", f"127.0.0.1:{port}"))
        with pytest.raises(UserError, match="metrics.listen: cannot listen"):
            asyncio.run(Gateway(load_config(tmp_path / "b.toml")).run())


def test_emulated_example_config_is_valid():
    c = load_config(REPO / "deploy" / "gateway.emulated.toml")
    assert [d.kind for d in c.devices] == ["emulate", "emulate"] and c.ble.backend == "virtual"
    assert all(Path(d.emulate).exists() for d in c.devices)
    assert [s.type for s in c.sinks] == ["mqtt", "jsonl"]


def test_gateway_path_never_imports_tensorflow(tmp_path):
    import subprocess
    import sys

    files = gateway_files(tmp_path, devices=1, seconds=6)
    (tmp_path / "gw.toml").write_text(config_text(tmp_path, files, sinks='[[sinks]]\ntype = "jsonl"\npath = "-"\n'
                                                  '[[sinks]]\ntype = "mqtt"\nurl = "mqtt://127.0.0.1:1"\n',
                                                  speed=30.0))
    code = (
        "import asyncio, sys\n"
        "from edge_runtime.gateway.config import load_config\n"
        "from edge_runtime.gateway.daemon import Gateway\n"
        "import edge_runtime.gateway.ble, edge_runtime.commands.demo, edge_runtime.commands.run\n"
        "async def main():\n"
        "    gw = Gateway(load_config(sys.argv[1]))\n"
        "    t = asyncio.create_task(gw.run())\n"
        "    while not gw.accepted and not t.done():  # until it has done the work, not for a fixed time\n"
        "        await asyncio.sleep(0.05)\n"
        "    gw.request_stop()\n"
        "    await t\n"
        "    return gw.accepted\n"
        "n = asyncio.run(main())\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras', 'tf_keras'))\n"
        "print('ACCEPTED', n, 'HEAVY', heavy)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code, str(tmp_path / "gw.toml")], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr[-2000:]
    line = next(l for l in proc.stdout.splitlines() if l.startswith("ACCEPTED"))
    assert line.endswith("HEAVY []") and int(line.split()[1]) > 0
