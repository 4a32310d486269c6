"""The receiving side: the store's exactly-once bookkeeping, trust, HTTP, and ``edge-runtime receive``
end to end: emulated wearables -> gateway (binary envelopes over a real mosquitto, broker restarted
and receiver killed mid-run) -> receiver -> Parquet, every accepted window stored exactly once."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("pyarrow")

from edge_runtime.bundle import load_bundle, output_quantization  # noqa: E402
from edge_runtime.errors import UserError  # noqa: E402
from edge_runtime.transformed_window import TransformedWindow  # noqa: E402
from edge_runtime.sinks.base import SinkUnavailable  # noqa: E402
from edge_runtime.sinks import binary  # noqa: E402
from edge_runtime.sinks.binary import codec_for  # noqa: E402
from edge_runtime.sinks.envelope import Envelope  # noqa: E402
from edge_runtime.sinks.formats import BinaryEncoder  # noqa: E402
from edge_runtime.sinks.http import HttpSettings, HttpSink  # noqa: E402
from edge_runtime.spool import Spool  # noqa: E402
from mqtt_broker import free_port  # noqa: E402
from receiver.http import HttpSource  # noqa: E402
from receiver.mqtt import subscription  # noqa: E402
from receiver.service import Receiver  # noqa: E402
from receiver.store import Received, WindowStore, read_windows  # noqa: E402
from receiver.trust import parse_pair, trust_check, trusted_pairs  # noqa: E402
from edge_runtime.gateway.testing import Daemon, metric, scrape
from edge_runtime.testing import wait_until

REPO = Path(__file__).resolve().parents[1]
CLIPS = REPO / "edge_runtime" / "clips"
TRUSTED = {("b", "1")}


def window(device="wrist", seq=0, bundle=("b", "1"), rows=128):
    values = np.round(np.random.default_rng(seq).normal(1.0, 0.3, (rows, 2)), 2).astype(np.float32)
    return TransformedWindow(device, seq, seq * 2.56, 50.0, ("gyro_magnitude", "acc_magnitude"), ("rad/s", "g"),
                             values, *bundle)


def received(w: TransformedWindow) -> Received:
    env = Envelope.wrap(w)
    return Received(env.id, w, env.to_json())


def test_store_keeps_each_id_once_and_writes_parquet_by_device_and_day(tmp_path):
    store = WindowStore(tmp_path)
    recs = [received(window("wrist", i)) for i in range(5)] + [received(window("ankle", 0))]
    assert store.accept(recs[:4]) == (4, 0)
    assert store.accept(recs[2:]) == (2, 2)  # redelivered 2, 3; new 4 and the ankle's
    assert store.flush() == 6
    assert store.accept(recs[:1]) == (0, 1)  # still known after it went to Parquet
    t = store.totals()
    assert (t.stored, t.duplicates, t.pending, t.files, t.devices) == (6, 3, 0, 2, 2)
    table = read_windows(tmp_path)
    rows = sorted(table.to_pylist(), key=lambda r: (r["device_id"], r["seq"]))
    assert [(r["device_id"], r["seq"]) for r in rows] == [("ankle", 0)] + [("wrist", i) for i in range(5)]
    day = time.strftime("%Y-%m-%d", time.gmtime())
    assert {r["day"] for r in rows} == {day}
    assert sorted(p.relative_to(tmp_path).parts[:3] for p in tmp_path.rglob("*.parquet")) == [
        ("windows", "device_id=ankle", f"day={day}"), ("windows", "device_id=wrist", f"day={day}")]
    by_id = {r.id: r.window for r in recs}
    for r in rows:
        np.testing.assert_array_equal(np.array(r["values"], np.float32), by_id[r["id"]].values)
        assert r["channels"] == ["gyro_magnitude", "acc_magnitude"] and r["bundle_id"] == "b"
    store.close()


def test_a_crash_during_flush_loses_nothing_and_duplicates_nothing(tmp_path):
    store = WindowStore(tmp_path)
    store.accept([received(window("wrist", i)) for i in range(3)])
    store.flush()
    store.accept([received(window("wrist", i)) for i in range(3, 6)])
    # crash 1: a temp file written but never registered (its rows are still in the inbox)
    folder = next(tmp_path.rglob("day=*"))
    (folder / ".part-00000099.parquet.tmp").write_bytes(b"half a file")
    # crash 2: registered, not yet renamed
    final = next(folder.glob("part-*.parquet"))
    os.replace(final, folder / f".{final.name}.tmp")
    store.close()
    store = WindowStore(tmp_path)
    assert not list(tmp_path.rglob("*.tmp")) and final.exists()
    assert store.totals().pending == 3
    store.flush()
    assert sorted(r["seq"] for r in read_windows(tmp_path).to_pylist()) == list(range(6))
    store.close()


def test_untrusted_and_malformed_records_are_refused_counted_and_kept_aside(tmp_path, caplog):
    store = WindowStore(tmp_path)
    rx = Receiver(store, trust_check(TRUSTED))
    good, other = received(window()), received(window(seq=1, bundle=("evil", "9")))
    out = rx.handle([good.payload, other.payload, b"{not json", b"EW\x01garbage"], source="test")
    assert (out.new, len(out.untrusted), len(out.malformed)) == (1, 1, 2)
    t = store.totals()
    assert (t.stored, t.untrusted, t.malformed) == (1, 1, 2)
    assert [r for r, _, _ in store.rejected()] == ["bundle evil@9 is not trusted", out.malformed[0][0],
                                                    out.malformed[1][0]]
    assert "shorter than the 51-byte header" in out.malformed[1][0]
    assert "refused: bundle evil@9 is not trusted" in caplog.text
    bad_device = received(window(device="../etc"))
    assert "device id '../etc'" in rx.handle([bad_device.payload], "test").malformed[0][0]
    store.close()


def test_trust_from_pairs_and_verified_bundles_with_a_hook(tmp_path):
    b = load_bundle("motionsense-gender")
    assert parse_pair("a@1.2") == ("a", "1.2")
    with pytest.raises(UserError, match="must be BUNDLE_ID@VERSION"):
        parse_pair("motionsense-gender")
    assert trusted_pairs([("a", "1")], ["motionsense-gender"]) == {("a", "1"), (b.id, b.version)}
    seen = []
    trusted_pairs(bundles=["motionsense-gender"], verify=seen.append)
    assert [x.id for x in seen] == [b.id]
    with pytest.raises(UserError, match="--trust-bundle .*no such bundle"):
        trusted_pairs(bundles=[str(tmp_path / "nope")])


def test_subscription_follows_the_gateways_topic_template():
    assert subscription() == "wearables/+/windows"
    assert subscription("site-3/{device_id}") == "site-3/+"
    with pytest.raises(UserError, match="whole topic level"):
        subscription("w/dev-{device_id}")


def test_http_gets_binary_batches_and_refuses_untrusted_ones_so_the_gateway_keeps_them(tmp_path):
    store = WindowStore(tmp_path / "store")
    trusted = set(TRUSTED)
    rx = Receiver(store, lambda i, v: (i, v) in trusted)
    http = HttpSource(rx, "127.0.0.1:0")
    http.start()
    bundle = load_bundle("motionsense-gender")
    codecs = {("b", "1"): codec_for(bundle), ("new", "2"): codec_for(bundle)}
    sink = HttpSink("http", HttpSettings(url=f"http://127.0.0.1:{http.port}/ingest"), BinaryEncoder(codecs))
    try:
        batch = [Envelope.wrap(window(seq=i)) for i in range(4)]
        asyncio.run(sink.send(batch))
        asyncio.run(sink.send(batch[:2]))  # a batch whose answer was lost, resent
        later = [Envelope.wrap(window(seq=10, bundle=("new", "2")))]
        with pytest.raises(SinkUnavailable, match="HTTP 403"):
            asyncio.run(sink.send(batch[2:] + later))
        trusted.add(("new", "2"))  # the operator trusts the new bundle; the gateway's retry gets through
        asyncio.run(sink.send(batch[2:] + later))
        # a format = "json" sink's NDJSON bodies are read too
        asyncio.run(HttpSink("json", HttpSettings(url=f"http://127.0.0.1:{http.port}/")).send(
            [Envelope.wrap(window(seq=11)), batch[0]]))
        import urllib.error
        import urllib.request

        for body, ctype in ((b'{"id": "x"}\n', "application/x-ndjson"), (b"EW\x01junk", binary.CONTENT_TYPE)):
            req = urllib.request.Request(f"http://127.0.0.1:{http.port}/", data=body, headers={"Content-Type": ctype})
            with pytest.raises(urllib.error.HTTPError, match="400"):
                urllib.request.urlopen(req, timeout=5)
    finally:
        http.stop()
    t = store.totals()
    assert (t.stored, t.duplicates, t.untrusted, t.malformed) == (6, 5, 0, 0)
    assert http.refused_bodies == 3  # the untrusted batch and the two malformed bodies: refused, not stored
    store.flush()
    assert sorted(r["seq"] for r in read_windows(tmp_path / "store").to_pylist()) == [0, 1, 2, 3, 10, 11]
    store.close()


# -- end to end ---------------------------------------------------------------------------------------


class ReceiverProcess:
    def __init__(self, store: Path, url: str):
        self.args = [sys.executable, "-m", "edge_runtime.cli", "receive", "--store", str(store), "--mqtt", url,
                     "--client-id", "e2e-receiver", "--flush-s", "0.5", "--progress-s", "0.5"]
        self.lines: list[str] = []

    def start(self) -> "ReceiverProcess":
        self.proc = subprocess.Popen(self.args, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL)
        threading.Thread(target=self._read, args=(self.proc,), daemon=True).start()
        self.wait_for(r"subscribed to wearables/\+/windows")
        return self

    def _read(self, proc) -> None:
        for line in proc.stderr:
            self.lines.append(line.decode(errors="replace").rstrip())

    def wait_for(self, pattern: str, timeout: float = 30.0) -> re.Match:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in reversed(self.lines):
                if m := re.search(pattern, line):
                    return m
            if self.proc.poll() is not None:
                time.sleep(0.3)  # the reader thread may still hold its last lines
                if not any(re.search(pattern, line) for line in self.lines):
                    break
            time.sleep(0.1)
        raise AssertionError(f"no line matching {pattern!r}:\n" + "\n".join(self.lines[-20:]))

    def stored(self) -> int:
        m = [re.search(r"stored=(\d+)", line) for line in self.lines]
        return max([int(x.group(1)) for x in m if x] or [0])

    def wait_stored(self, n: int, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while self.stored() < n:
            assert time.monotonic() < deadline and self.proc.poll() is None, "\n".join(self.lines[-20:])
            time.sleep(0.1)


def delivering_again(port: int, gw: Daemon) -> None:
    """Wait until the gateway delivers to the broker again: a few more records acknowledged, or (the
    clips played out) nothing left in its spool for the broker while it is connected."""
    start = metric(scrape(port), "edge_sink_delivered_total", sink="broker")

    def delivering():
        t = scrape(port)
        return (metric(t, "edge_sink_delivered_total", sink="broker") >= start + 5
                or (metric(t, "edge_sink_up", sink="broker") == 1 and metric(t, "edge_spool_records", sink="broker") == 0))
    wait_until(delivering, what=lambda: "\n".join(gw.raw_stderr[-20:]))


@pytest.mark.timeout(240)
def test_wearables_to_parquet_exactly_once_across_broker_and_receiver_restarts(tmp_path, mosquitto):
    bundle = load_bundle("motionsense-gender")
    step = output_quantization(bundle).scale
    archive, spool = tmp_path / "archive.jsonl", tmp_path / "spool.sqlite"
    cfg = tmp_path / "gw.toml"
    cfg.write_text(
        'bundle = "motionsense-gender"\n[gateway]\ndrain_timeout_s = 15\nreconnect_max_s = 1\n'
        + "".join(f'[[devices]]\nid = "wearable-{i + 1}"\nemulate = "{CLIPS / name}"\nemulate_speed = 10\n'
                  for i, name in enumerate(("subject_5.csv", "subject_9.csv")))
        + f'[[sinks]]\ntype = "mqtt"\nname = "broker"\nurl = "{mosquitto.url}"\nack_timeout_s = 2\nbatch_size = 20\n'
        f'[[sinks]]\ntype = "jsonl"\nname = "archive"\npath = "{archive}"\n'
        f'[spool]\npath = "{spool}"\nsynchronous = "normal"\n[metrics]\nlisten = "127.0.0.1:0"\n'
        f'[ble]\nbackend = "virtual"\n'
    )
    store = tmp_path / "store"
    rx = ReceiverProcess(store, mosquitto.url).start()
    gw = Daemon(cfg).start()
    try:
        gw.wait_log("gateway started", timeout=60)
        port = gw.metrics_port()
        wait_until(lambda: metric(scrape(port), "edge_windows_total", device="wearable-2") >= 8,
                   what=lambda: "\n".join(gw.raw_stderr[-20:]))
        rx.wait_stored(1)
        mosquitto.restart()  # the broker goes away and comes back: the gateway spools meanwhile
        delivering_again(port, gw)
        before = rx.stored()
        rx.proc.kill()  # the receiver dies mid-stream; its session keeps collecting on the broker
        rx.proc.wait()
        delivering_again(port, gw)  # what it delivers now, the broker holds for the receiver
        rx = ReceiverProcess(store, mosquitto.url).start()
        rx.wait_stored(before + 5)
        assert gw.stop(timeout=60) == 0
        assert gw.wait_log("gateway stopped")["left_in_spool"] == 0
        with Spool(spool) as sp:
            accepted = sp.stats("broker").spooled
        rx.wait_stored(accepted)
        rx.proc.send_signal(signal.SIGTERM)
        assert rx.proc.wait(30) == 0
    finally:
        for p in (gw.proc, rx.proc):
            if p.poll() is None:
                p.kill()
    summary = rx.wait_for(r"stopped: stored=(\d+) .*duplicates=(\d+)")
    truth = {i: w for i, w in (Envelope.parse(line) for line in archive.read_bytes().splitlines())}
    rows = read_windows(store).to_pylist()
    ids = [r["id"] for r in rows]
    assert len(ids) == len(set(ids)) == len(truth) == accepted == int(summary.group(1)), summary.group(0)
    assert set(ids) == set(truth)
    for r in rows:
        w = truth[r["id"]]
        assert (r["device_id"], r["seq"], r["bundle_id"], r["bundle_version"]) == (
            w.device_id, w.seq, bundle.id, bundle.version)
        assert r["start_time"] == pytest.approx(w.start_time, abs=1e-6)
        # the JSON archive's text has 7 significant digits; the binary values are the model's own
        err = np.abs(np.array(r["values"], np.float32) - w.values)
        assert err.max() < step / 100
    for device in ("wearable-1", "wearable-2"):
        seqs = sorted(r["seq"] for r in rows if r["device_id"] == device)
        assert seqs == list(range(len(seqs))) and len(seqs) > 10
    print(f"\nreceiver e2e: {accepted} windows stored once each; {summary.group(0)}")


# -- analyse ------------------------------------------------------------------------------------------


def _clip_windows(name="subject_5.csv", device="wrist", drop=()):
    from edge_runtime.features import MAG2
    from edge_runtime.recording import load_samples

    x = MAG2.from_raw(load_samples(CLIPS / name).raw).astype(np.float32)
    n = len(x) // 128
    out = [TransformedWindow(device, k, k * 2.56, 50.0, MAG2.channels, MAG2.units, x[k * 128:(k + 1) * 128], "b", "1")
           for k in range(n) if k not in drop]
    return x[: n * 128], out


def test_analyse_gives_the_raw_streams_figures_for_untransformed_windows_and_skips_gaps(tmp_path, capsys):
    from edge_runtime.cli import main
    from receiver.analyse import analyse_store, figures, stream_from_windows

    raw, windows = _clip_windows()
    _, gappy = _clip_windows("subject_9.csv", device="ankle", drop={3, 4})
    store = WindowStore(tmp_path)
    store.accept([received(w) for w in windows + gappy])
    store.flush()
    store.close()
    days = {d.device_id: d for d in analyse_store(tmp_path)}
    want = figures(raw, 50.0, 128, windows[0].channels)
    assert days["wrist"].figures == want and days["wrist"].windows == len(windows)
    assert want.steps > 50 and 0 < want.active_minutes < want.minutes
    assert set(want.activity_minutes) == {"dws", "jog", "std", "ups", "wlk"} and want.activity_minutes["jog"] > 0
    # a gap of two windows: NaN there, so no step is counted across it and 2 windows fewer are covered
    stream = stream_from_windows(np.array([w.start_time for w in gappy]), [w.values for w in gappy], 50.0)
    assert np.isnan(stream[3 * 128:5 * 128]).all() and np.isfinite(stream[:3 * 128]).all()
    assert days["ankle"].figures.minutes == pytest.approx((len(gappy) * 128) / 50 / 60, abs=0.01)
    assert main(["analyse", "--store", str(tmp_path), "--json", str(tmp_path / "f.json")]) == 0
    out = capsys.readouterr().out
    assert f"from {len(windows) + len(gappy)} stored windows" in out
    assert re.search(rf"wrist \d{{4}}-\d\d-\d\d +{want.minutes:.2f} +{want.steps} ", out), out
    assert main(["analyse", "--store", str(tmp_path / "empty")]) == 2
    assert "no stored windows" in capsys.readouterr().err


def test_receive_without_a_source_or_with_a_bad_trust_is_a_one_line_error(tmp_path):
    for argv, message in ((["--store", str(tmp_path)], "give --mqtt URL and/or --http HOST:PORT"),
                          (["--store", str(tmp_path), "--http", "127.0.0.1:0", "--trust", "nope"],
                           "must be BUNDLE_ID@VERSION"),
                          (["--store", str(tmp_path), "--mqtt", "http://x"], "must look like mqtt://HOST")):
        proc = subprocess.run([sys.executable, "-m", "edge_runtime.cli", "receive", *argv], capture_output=True,
                              text=True, timeout=60)
        assert proc.returncode == 2 and message in proc.stderr and "Traceback" not in proc.stderr, proc.stderr


def test_the_device_runtime_never_imports_the_receiver():
    code = ("import sys, edge_runtime.gateway.daemon, edge_runtime.engine, edge_runtime.sinks.mqtt, "
            "edge_runtime.sinks.http, edge_runtime.sinks.formats\n"
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'receiver', 'pyarrow', 'analysis', 'scipy'}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and out.stdout.strip() == "[]", out.stdout + out.stderr
