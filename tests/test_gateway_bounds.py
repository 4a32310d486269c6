"""Bounded memory: a blocked local sink holds RSS flat (back-pressure, bounded pending windows) and
shutdown still finishes within drain_timeout_s; the systemd notifier keeps a bounded history."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

from test_gateway_support import Daemon, config_text, gateway_files, metric, scrape

from edge_runtime.gateway.systemd import Notifier

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
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # ~60 windows/s: the pipe, the queue, then pending fill up
            m = scrape(port)
            if metric(m, "edge_sink_backpressure_total", sink="stdout") and (
                    metric(m, "edge_pending_dropped_total", device="dev0")
                    or metric(m, "edge_pending_dropped_total", device="dev1")):
                break
            time.sleep(0.5)
        else:
            raise AssertionError("the bounds were never reached:\n" + scrape(port))
        daemon.wait_log("local sink is not keeping up; its queue is full, so accepting new windows waits "
                        "(back-pressure)")
        daemon.wait_log("pending windows bound reached (acceptance is held up); new windows are dropped")
        time.sleep(1.0)
        samples = []
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
