"""Bounded memory: a blocked local sink holds RSS flat (back-pressure, bounded pending windows) and
shutdown still finishes within drain_timeout_s; the systemd notifier keeps a bounded history."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

from edge_runtime.gateway.systemd import Notifier
from edge_runtime.gateway.testing import Daemon, config_text, gateway_files, metric, scrape
from edge_runtime.testing import wait_until

SOAK_S = 12.0  # after the bounds are reached


def _rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def test_a_blocked_stdout_sink_holds_rss_flat_and_shutdown_honours_the_drain_timeout(tmp_path):
    files = gateway_files(tmp_path, devices=2, seconds=30.0)
    sinks = '[[sinks]]\ntype = "jsonl"\nname = "stdout"\npath = "-"\nqueue_records = 50\n'
    text = config_text(tmp_path, files, sinks=sinks, speed=80.0, loop=True,
                       extra="max_pending_windows = 100").replace("drain_timeout_s = 5", "drain_timeout_s = 2")
    (tmp_path / "gw.toml").write_text(text)
    daemon = Daemon(tmp_path / "gw.toml", stdout=subprocess.PIPE).start()  # stdout is never read: it blocks
    try:
        port = daemon.metrics_port()
        def bounds_reached():  # ~60 windows/s: the pipe, the queue, then pending fill up
            m = scrape(port)
            return metric(m, "edge_sink_backpressure_total", sink="stdout") and (
                metric(m, "edge_pending_dropped_total", device="dev0") or metric(m, "edge_pending_dropped_total", device="dev1"))
        wait_until(bounds_reached, interval=0.5, what=lambda: "the bounds were never reached:\n" + scrape(port))
        daemon.wait_log("local sink is not keeping up; its queue is full, so accepting new windows waits "
                        "(back-pressure)")
        daemon.wait_log("pending windows bound reached (acceptance is held up); new windows are dropped")
        reached = metric(scrape(port), "edge_windows_total", device="dev0")
        wait_until(lambda: metric(scrape(port), "edge_windows_total", device="dev0") > reached + 10)  # still producing
        samples = []  # the soak itself samples RSS over time: a measurement, not a wait
        windows_before = metric(scrape(port), "edge_windows_total", device="dev0")
        start = time.monotonic()
        while time.monotonic() - start < SOAK_S:
            samples.append(_rss_kb(daemon.proc.pid))
            time.sleep(0.5)
        m = scrape(port)
        assert metric(m, "edge_windows_total", device="dev0") - windows_before > 10 * SOAK_S  # kept producing
        first, last = samples[: len(samples) // 3], samples[-len(samples) // 3:]
        growth_mb = (max(last) - max(first)) / 1024
        # unbounded, this grew ~0.85 MB/s at real-time speed (far more at 40x); 2 MB is allocator noise
        assert growth_mb < 2.0, (growth_mb, samples)
        logs_before = len(daemon.logs)
        stopped = time.monotonic()
        daemon.signal(signal.SIGTERM)
        rc = daemon.proc.wait(timeout=30)
        took = time.monotonic() - stopped
        assert rc == 0, "\n".join(daemon.raw_stderr[-20:])
        assert took < 2 + 4, took  # drain_timeout_s 2, plus stopping sources and closing
        stop = daemon.wait_log("gateway stopped", after=logs_before)
        assert stop.get("not_written_stdout", 0) > 0  # said what was not written
        assert sum(1 for e in daemon.logs if e.get("msg", "").startswith("pending windows bound reached")) <= 3
    finally:
        if daemon.proc.poll() is None:
            daemon.proc.kill()
            daemon.proc.wait()


def test_sighup_reload_does_not_wait_on_a_blocked_local_sink_and_loses_nothing_accepted(tmp_path):
    """stdout is a pipe nobody reads (the sink blocks, back-pressure holds acceptance); SIGHUP adds a
    sink: the reload takes effect at once. Then the pipe is read: every accepted record comes out."""
    import threading

    from edge_runtime.sinks.envelope import Envelope

    files = gateway_files(tmp_path, devices=1, seconds=30.0)
    stdout_sink = '[[sinks]]\ntype = "jsonl"\nname = "stdout"\npath = "-"\nqueue_records = 20\n'
    other = f'[[sinks]]\ntype = "jsonl"\nname = "other"\npath = "{tmp_path / "other.jsonl"}"\n'
    cfg = tmp_path / "gw.toml"
    cfg.write_text(config_text(tmp_path, files, sinks=stdout_sink, speed=20.0, loop=True))
    daemon = Daemon(cfg, stdout=subprocess.PIPE).start()
    out: list[bytes] = []
    reader = threading.Thread(target=lambda: out.extend(daemon.proc.stdout), daemon=True)
    try:
        daemon.wait_log("local sink is not keeping up; its queue is full, so accepting new windows waits "
                        "(back-pressure)", timeout=60)
        cfg.write_text(config_text(tmp_path, files, sinks=stdout_sink + other, speed=20.0, loop=True))
        n = len(daemon.logs)
        asked = time.monotonic()
        daemon.signal(signal.SIGHUP)
        try:
            daemon.wait_log("config reloaded", after=n, timeout=5.0)  # while stdout is still blocked
            took = time.monotonic() - asked
        finally:
            reader.start()  # unblock the sink, whatever happened
        time.sleep(2.0)
        assert daemon.stop() == 0, "\n".join(daemon.raw_stderr[-20:])
        reader.join(timeout=10)
        stopped = daemon.wait_log("gateway stopped")
    finally:
        if daemon.proc.poll() is None:
            daemon.kill9()
    assert took < 3.0, took
    records = [Envelope.parse(line)[1] for line in out]
    assert len(records) == stopped["accepted"] > 0  # every accepted record was written, once, in order
    assert [w.seq for w in records] == list(range(len(records)))
    assert not any(k.startswith("not_written") for k in stopped)
    added = [Envelope.parse(line)[1].seq for line in (tmp_path / "other.jsonl").read_bytes().splitlines()]
    assert added and added == [w.seq for w in records[-len(added):]]  # the new sink: everything since


def test_sighup_that_removes_the_blocked_sink_is_prompt_and_says_what_it_did_not_write(tmp_path):
    """The operator swaps the stuck stdout sink for a file: the reload does not wait for it; the removed
    sink gets drain_timeout_s in the background, and what it still held is logged as not written."""
    files = gateway_files(tmp_path, devices=1, seconds=30.0)
    stdout_sink = '[[sinks]]\ntype = "jsonl"\nname = "stdout"\npath = "-"\nqueue_records = 20\n'
    archive = f'[[sinks]]\ntype = "jsonl"\nname = "archive"\npath = "{tmp_path / "archive.jsonl"}"\n'
    cfg = tmp_path / "gw.toml"
    cfg.write_text(config_text(tmp_path, files, sinks=stdout_sink, speed=20.0, loop=True).replace(
        "drain_timeout_s = 5", "drain_timeout_s = 1"))
    daemon = Daemon(cfg, stdout=subprocess.PIPE).start()  # never read
    try:
        daemon.wait_log("local sink is not keeping up; its queue is full, so accepting new windows waits "
                        "(back-pressure)", timeout=60)
        cfg.write_text(cfg.read_text().replace(stdout_sink, archive))
        n = len(daemon.logs)
        asked = time.monotonic()
        daemon.signal(signal.SIGHUP)
        daemon.wait_log("config reloaded", after=n, timeout=5.0)
        took = time.monotonic() - asked
        gone = daemon.wait_log("local sink did not finish within the drain timeout; records still queued for it "
                               "were not written", after=n, timeout=5.0)
        time.sleep(1.0)
        assert daemon.stop() == 0, "\n".join(daemon.raw_stderr[-20:])
    finally:
        if daemon.proc.poll() is None:
            daemon.kill9()
    assert took < 3.0, took
    assert gone["sink"] == "stdout" and gone["records"] > 0
    assert (tmp_path / "archive.jsonl").read_bytes().count(b"\n") > 0  # acceptance went on into the new sink


def test_the_notifier_history_is_bounded(tmp_path):
    import socket

    path = str(tmp_path / "notify.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as server:
        server.bind(path)
        n = Notifier(path)
        for _ in range(10_000):  # a watchdog ping every few seconds, for weeks
            assert n.watchdog()
            server.recv(64)
        assert len(n.sent) <= 64 and n.sent[-1] == "WATCHDOG=1"
