"""A real mosquitto broker for tests: own config, free loopback port, stop/restart on the same port.

The fixtures ``mosquitto`` and ``mqtt_subscriber`` are in ``conftest.py``; tests
using them skip with a clear reason when the mosquitto binary is absent (``apt-get install mosquitto``).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest

MOSQUITTO = os.environ.get("MOSQUITTO") or shutil.which("mosquitto") or (
    "/usr/sbin/mosquitto" if Path("/usr/sbin/mosquitto").exists() else None
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


class Broker:
    """One mosquitto process with persistence, so queued QoS 1 messages survive a restart."""

    def __init__(self, workdir: Path, port: int | None = None, extra_config: str = "", tls_port_config: str = ""):
        if MOSQUITTO is None:
            raise RuntimeError("mosquitto not installed")
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.config = self.workdir / "mosquitto.conf"
        self.config.write_text(
            f"listener {self.port} 127.0.0.1\n"
            "allow_anonymous true\n"
            "persistence true\n"
            f"persistence_location {self.workdir}/\n"
            "autosave_interval 1\n"
            "max_queued_messages 100000\n"
            "log_dest stderr\n"
            "log_type error\nlog_type warning\n"
            # as root mosquitto would drop to the 'mosquitto' user, which cannot read pytest's tmp dirs
            + ("user root\n" if hasattr(os, "geteuid") and os.geteuid() == 0 else "")
            + extra_config
        )
        self.proc: subprocess.Popen | None = None
        self.log = self.workdir / "mosquitto.log"

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def start(self) -> "Broker":
        logf = open(self.log, "ab")
        self.proc = subprocess.Popen([MOSQUITTO, "-c", str(self.config)], stdout=logf, stderr=logf)
        deadline = time.monotonic() + 10
        while not _port_open(self.port):
            if self.proc.poll() is not None:
                raise RuntimeError(f"mosquitto exited: {self.log.read_text()[-2000:]}")
            if time.monotonic() > deadline:
                raise RuntimeError("mosquitto did not open its port in 10 s")
            time.sleep(0.05)
        return self

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def restart(self) -> None:
        self.stop()
        self.start()


class Subscriber:
    """A persistent-session QoS 1 subscriber that records every (topic, payload) it receives."""

    def __init__(self, port: int, topic: str = "#", client_id: str = "test-subscriber",
                 username: str | None = None, password: str | None = None):
        import paho.mqtt.client as mqtt

        self.messages: list[tuple[str, bytes]] = []
        self._lock = threading.Lock()
        self.subscribed = threading.Event()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=False)
        self.client.reconnect_delay_set(0.2, 1)
        if username:
            self.client.username_pw_set(username, password)
        self.topic = topic

        def on_connect(client, userdata, flags, rc, props):
            client.subscribe(topic, qos=1)

        def on_subscribe(client, userdata, mid, rcs, props):
            self.subscribed.set()

        def on_message(client, userdata, msg):
            with self._lock:
                self.messages.append((msg.topic, bytes(msg.payload)))

        self.client.on_connect = on_connect
        self.client.on_subscribe = on_subscribe
        self.client.on_message = on_message
        self.client.connect_async("127.0.0.1", port, keepalive=10)
        self.client.loop_start()
        if not self.subscribed.wait(10):
            raise RuntimeError("subscriber could not subscribe in 10 s")

    def snapshot(self) -> list[tuple[str, bytes]]:
        with self._lock:
            return list(self.messages)

    def wait_for(self, predicate, timeout: float = 20.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate(self.snapshot()):
                return True
            time.sleep(0.05)
        return predicate(self.snapshot())

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


requires_mosquitto = pytest.mark.skipif(
    MOSQUITTO is None, reason="mosquitto binary not found (apt-get install mosquitto, or set $MOSQUITTO)"
)
