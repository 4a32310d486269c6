"""Testing utilities for the gateway: a bundle and recordings to stream, a config, the daemon as a real process.

``Daemon(config).start()`` runs ``edge-runtime run --config`` as a subprocess and collects its JSON
log lines, so a test waits on the event itself (``wait_log``) instead of sleeping; ``scrape`` and
``metric`` read its Prometheus endpoint. ``gateway_files`` needs the suite's fixture model
``affine_mag2_w128`` in ``edge_runtime.testing.MODEL_DIRS``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

from edge_runtime.recording import write_recording
from edge_runtime.synthetic import synthetic_raw
from edge_runtime.testing import make_bundle


def make_recording(path: Path, seconds: float = 20.0, seed: int = 0) -> Path:
    t, raw = synthetic_raw(int(seconds * 50), seed=seed)
    write_recording(path, t, raw)
    return path


def gateway_files(tmp: Path, devices: int = 2, seconds: float = 20.0) -> dict[str, Path]:
    """A bundle around the affine fixture model (stride 10 -> a window every 0.2 s) and recordings."""
    make_bundle(tmp / "bundle", "affine_mag2_w128", stride=10)
    recs = {f"dev{i}": make_recording(tmp / f"rec{i}.csv", seconds, seed=i) for i in range(devices)}
    return {"bundle": tmp / "bundle", **recs}


def config_text(tmp: Path, files: dict[str, Path], *, sinks: str, speed: float = 10.0, loop: bool = False,
                device_kind: str = "replay", metrics_port: int = 0, extra: str = "",
                spool: str = 'max_records = 10000\nsynchronous = "normal"') -> str:
    devices = "".join(
        f'[[devices]]\nid = "{name}"\n{device_kind} = "{path}"\nemulate_speed = {speed}\n'
        f"emulate_loop = {str(loop).lower()}\n\n"
        for name, path in files.items() if name.startswith("dev")
    )
    return (
        f'bundle = "{files["bundle"]}"\n\n[gateway]\nlog_level = "info"\ndrain_timeout_s = 5\n{extra}\n'
        f"{devices}{sinks}\n"
        f'[spool]\npath = "{tmp / "spool.sqlite"}"\n{spool}\n\n'
        f'[metrics]\nlisten = "127.0.0.1:{metrics_port}"\n'
    )


def scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
        return r.read().decode()


def metric(text: str, name: str, **labels) -> float:
    """Value of one sample in a Prometheus text exposition (0 when absent)."""
    want = ",".join(f'{k}="{v}"' for k, v in labels.items())
    key = f"{name}{{{want}}}" if want else name
    for line in text.splitlines():
        if line.startswith(key + " "):
            return float(line.split()[-1])
    return 0.0


class Daemon:
    """``edge-runtime run --config`` as a real process; stderr (JSON logs) collected in a thread."""

    def __init__(self, config: Path, env: dict | None = None, stdout=subprocess.DEVNULL):
        self.config = config
        self.stdout = stdout  # subprocess.PIPE and never read: a blocked stdout sink
        self.env = {**os.environ, **(env or {})}
        self.logs: list[dict] = []
        self.raw_stderr: list[str] = []
        self.proc: subprocess.Popen | None = None

    def start(self) -> "Daemon":
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "edge_runtime.cli", "run", "--config", str(self.config)],
            stderr=subprocess.PIPE, stdout=self.stdout, env=self.env, cwd=self.config.parent,
        )
        threading.Thread(target=self._read, args=(self.proc,), daemon=True).start()
        return self

    def _read(self, proc) -> None:
        for line in proc.stderr:
            text = line.decode(errors="replace").rstrip("\n")
            self.raw_stderr.append(text)
            try:
                self.logs.append(json.loads(text))
            except json.JSONDecodeError:
                pass

    def wait_log(self, msg: str, timeout: float = 20.0, after: int = 0) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for entry in self.logs[after:]:
                if entry.get("msg") == msg:
                    return entry
            if self.proc.poll() is not None and not any(e.get("msg") == msg for e in self.logs[after:]):
                time.sleep(0.2)
                break
            time.sleep(0.05)
        for entry in self.logs[after:]:
            if entry.get("msg") == msg:
                return entry
        raise AssertionError(f"no {msg!r} log line; stderr tail:\n" + "\n".join(self.raw_stderr[-30:]))

    def metrics_port(self) -> int:
        url = self.wait_log("metrics endpoint")["url"]
        return int(url.rsplit(":", 1)[1].split("/")[0])

    def signal(self, sig: int) -> None:
        self.proc.send_signal(sig)

    def stop(self, timeout: float = 30.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout)

    def kill9(self) -> None:
        self.proc.kill()
        self.proc.wait()
