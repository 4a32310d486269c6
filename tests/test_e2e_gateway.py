"""End-to-end reliability: emulated wearables (own processes) -> BLE (virtual radio, bleak API) ->
`edge-runtime run` (own process) -> real mosquitto, under faults.

During one bounded run: wearables are killed (-9) and restarted, frames arrive corrupted, the broker
is stopped and restarted, and the daemon is killed (-9) and restarted. Then: the daemon never
crashed by itself; every record it accepted (committed to its spool) reached the broker — counted
against the spool's persisted counters; every payload on the broker is an envelope around a
transformed window (the bundle's 2 feature channels, never the 6 raw channels) of the same size;
and the daemon's memory stayed flat.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest

from edge_runtime.sinks import binary
from edge_runtime.sinks.envelope import Envelope
from edge_runtime.spool import Spool
from mqtt_broker import Subscriber, free_port
from edge_runtime.gateway.testing import Daemon, gateway_files, metric, scrape
from edge_runtime.testing import wait_until


class Wearable:
    """`edge-runtime emulate` in its own process, attached to the daemon's virtual radio."""

    def __init__(self, recording: Path, name: str, address: str, link_port: int, faults: str = ""):
        self.args = [sys.executable, "-m", "edge_runtime.cli", "emulate", str(recording), "--link",
                     f"127.0.0.1:{link_port}", "--name", name, "--address", address, "--speed", "8",
                     "--repeat", "--wait", "30"] + (["--faults", faults] if faults else [])
        self.proc: subprocess.Popen | None = None
        self.log_path = recording.parent / f"emulate-{name}.log"

    def start(self) -> "Wearable":
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(self.args, stdout=self.log, stderr=self.log)
        return self

    def kill9(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


@pytest.mark.timeout(240)
def test_faults_end_to_end_lose_nothing_accepted_and_leak_nothing_raw(tmp_path, mosquitto):
    if not Path("/proc/self/status").exists():
        pytest.skip("needs /proc to measure memory")
    # long enough that no wearable reaches its end during the run (emulate --repeat ends after one pass)
    files = gateway_files(tmp_path, devices=2, seconds=900)
    link = free_port()
    archive = tmp_path / "archive.jsonl"
    spool_path = tmp_path / "spool.sqlite"
    cfg = tmp_path / "gw.toml"
    cfg.write_text(
        f'bundle = "{files["bundle"]}"\n'
        "[gateway]\ndrain_timeout_s = 10\nreconnect_max_s = 1\n"
        '[[devices]]\nid = "wrist"\nname = "EmuA"\n'
        '[[devices]]\nid = "ankle"\nname = "EmuB"\n'
        f'[[sinks]]\ntype = "mqtt"\nname = "broker"\nurl = "{mosquitto.url}"\nack_timeout_s = 2\nbatch_size = 20\n'
        f'[[sinks]]\ntype = "jsonl"\nname = "archive"\npath = "{archive}"\n'
        f'[spool]\npath = "{spool_path}"\nmax_records = 100000\nsynchronous = "normal"\n'
        '[metrics]\nlisten = "127.0.0.1:0"\n'
        f'[ble]\nbackend = "virtual"\nvirtual_link = "127.0.0.1:{link}"\nstall_timeout_s = 2\n'
    )
    sub = Subscriber(mosquitto.port, topic="wearables/#", client_id="e2e-consumer")
    wearables = [
        Wearable(files["dev0"], "EmuA", "C1:00:00:00:00:0A", link, faults="corrupt=0.05,seed=1"),
        Wearable(files["dev1"], "EmuB", "C1:00:00:00:00:0B", link, faults="reorder=0.05,drop=0.02,seed=2"),
    ]
    daemons: list[Daemon] = []
    rss: list[float] = []

    def start_daemon() -> Daemon:
        d = Daemon(cfg).start()
        daemons.append(d)
        d.wait_log("gateway started", timeout=120)
        for w in wearables:
            w.start()
        return d

    def tails(d: Daemon) -> str:
        emu = "\n".join(f"{w.log_path.name} (exit {w.proc.poll()}): {w.log_path.read_text()[-1500:]}"
                        for w in wearables)
        return "daemon log tail:\n" + "\n".join(d.raw_stderr[-25:]) + "\n" + emu

    def wait_metric(d: Daemon, name: str, at_least: float, **labels) -> str:
        """Wait (the event, not a pause) until the daemon's metric reaches ``at_least``; the exposition then."""
        port = d.metrics_port()

        def reached():
            assert d.proc.poll() is None, "the daemon died"
            text = scrape(port)
            return text if metric(text, name, **labels) >= at_least else None
        return wait_until(reached, interval=0.3, what=lambda: f"{name}{labels} < {at_least}; " + tails(d))

    def wait_windows(d: Daemon, device: str, at_least: float) -> str:
        return wait_metric(d, "edge_windows_total", at_least, device=device)

    def windows(d: Daemon, device: str) -> float:
        return metric(scrape(d.metrics_port()), "edge_windows_total", device=device)

    try:
        d = start_daemon()
        wait_windows(d, "wrist", 3)
        wait_windows(d, "ankle", 3)
        rss.append(rss_mb(d.proc.pid))
        # 1) a wearable dies and comes back: ingestion reconnects and its windows keep coming
        before = windows(d, "wrist")
        wearables[0].kill9()
        wait_until(lambda: metric(scrape(d.metrics_port()), "edge_device_connected", device="wrist") == 0,
                   what=lambda: tails(d))  # the daemon saw the link go
        wearables[0].start()
        wait_metric(d, "edge_reconnects_total", 1, device="wrist")
        wait_windows(d, "wrist", before + 3)
        # 2) the broker goes away while windows keep coming; they wait in the spool
        mosquitto.stop()
        text = wait_windows(d, "ankle", windows(d, "ankle") + 4)
        assert metric(text, "edge_spool_records", sink="broker") > 0
        assert metric(text, "edge_sink_up", sink="broker") == 0
        mosquitto.start()
        rss.append(rss_mb(d.proc.pid))
        # 3) the daemon is killed mid-stream, once the broker is back, and started again: the spool carries over
        wait_metric(d, "edge_sink_up", 1, sink="broker")
        d.kill9()
        for w in wearables:  # their radio lived in the daemon
            w.kill9()
        d = start_daemon()
        wait_windows(d, "wrist", 6)
        text = wait_windows(d, "ankle", 6)
        rss.append(rss_mb(d.proc.pid))
        for _ in range(10):  # steady state: memory must not grow while windows keep coming (~3/s a device)
            wait_windows(d, "wrist", windows(d, "wrist") + 3)
            rss.append(rss_mb(d.proc.pid))
        # corrupted frames were counted and dropped; the stream went on
        text = scrape(d.metrics_port())
        assert metric(text, "edge_frames_malformed_total", device="wrist") > 0
        assert metric(text, "edge_frames_malformed_total", device="ankle") == 0
        for w in wearables:
            w.kill9()
        assert d.stop(timeout=60) == 0
        stopped = d.wait_log("gateway stopped")
        assert stopped["left_in_spool"] == 0
    finally:
        for w in wearables:
            w.kill9()
        for x in daemons:
            if x.proc.poll() is None:
                x.kill9()

    # -- nothing accepted was lost --------------------------------------------------------------
    with Spool(spool_path) as spool:
        st = spool.stats("broker")
    assert st.records == 0 and st.dropped == 0
    assert sub.wait_for(lambda m: len({Envelope.parse(p)[0] for _, p in m}) >= st.spooled, 120)
    messages = sub.snapshot()
    sub.close()
    parsed = [(topic, payload, *Envelope.parse(payload)) for topic, payload in messages]
    ids = {i for _, _, i, _ in parsed}
    assert len(ids) == st.spooled, f"broker has {len(ids)} distinct records, the spool accepted {st.spooled}"
    # one (device, seq) per record, across the daemon's restart too: each device's sequence continued
    by_id = {i: w for _, _, i, w in parsed}
    pairs = [(w.device_id, w.seq) for w in by_id.values()]
    assert len(set(pairs)) == len(pairs)
    for device in ("wrist", "ankle"):
        seqs = sorted(q for d, q in pairs if d == device)
        assert seqs == list(range(len(seqs))), f"{device}: gaps in the sequence"
    archived = {Envelope.parse(l)[0] for l in archive.read_bytes().splitlines()}
    assert archived <= ids and len(archived) >= st.spooled - 40  # the archive misses at most the kill's tail
    # -- nothing raw reached the broker: binary envelopes (the network default) of transformed windows --
    sizes = set()
    for topic, payload, _, w in parsed:
        assert payload[:2] == binary.MAGIC
        assert topic == f"wearables/{w.device_id}/windows" and w.device_id in ("wrist", "ankle")
        assert w.channels == ("gyro_magnitude", "acc_magnitude") and w.values.shape == (128, 2)
        assert w.bundle_id == "test-bundle"
        sizes.add(len(payload) - len(w.device_id))  # the id's length is the only per-device difference
    assert len(sizes) == 1, "every record must encode to the same size"
    print(f"\ne2e: {st.spooled} records accepted and delivered, {len(messages)} messages on the broker "
          f"({len(messages) - len(ids)} redelivered duplicates), daemon RSS MB {[round(x, 1) for x in rss]}")
    # -- no crash, memory flat ------------------------------------------------------------------
    for x in daemons[:-1]:
        assert x.proc.returncode == -signal.SIGKILL  # only the kill we sent
    assert not [e for x in daemons for e in x.logs if e.get("level") in ("critical",)]
    steady = rss[3:]
    assert max(steady) - min(steady) < 25, f"daemon RSS grew: {rss}"
