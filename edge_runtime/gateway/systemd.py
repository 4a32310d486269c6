"""sd_notify over the NOTIFY_SOCKET datagram protocol: READY, WATCHDOG, RELOADING, STOPPING.

A few lines of the standard library instead of libsystemd; a no-op when not run by systemd.
The watchdog is pinged from the gateway's event loop, so a hung loop stops the pings and systemd
restarts the service (``WatchdogSec=`` in ``deploy/edge-runtime.service``).
"""

from __future__ import annotations

import os
import socket
import time
from collections import deque


class Notifier:
    def __init__(self, socket_path: str | None = None):
        self.path = socket_path if socket_path is not None else os.environ.get("NOTIFY_SOCKET")
        self.sent: deque[str] = deque(maxlen=64)  # the latest notifications, for logs and tests (bounded:
        # the watchdog pings every few seconds for as long as the gateway runs)

    @property
    def enabled(self) -> bool:
        return bool(self.path)

    def watchdog_interval_s(self) -> float | None:
        """Half of systemd's WatchdogSec (WATCHDOG_USEC) when it is meant for this process."""
        usec = os.environ.get("WATCHDOG_USEC")
        pid = os.environ.get("WATCHDOG_PID")
        if not usec or (pid and pid != str(os.getpid())):
            return None
        return int(usec) / 1e6 / 2

    def notify(self, state: str) -> bool:
        if not self.path:
            return False
        addr = self.path
        if addr.startswith("@"):  # abstract namespace socket
            addr = "\0" + addr[1:]
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
                s.connect(addr)
                s.sendall(state.encode())
        except OSError:
            return False
        self.sent.append(state)
        return True

    def ready(self, status: str = "") -> bool:
        return self.notify("READY=1" + (f"\nSTATUS={status}" if status else ""))

    def watchdog(self) -> bool:
        return self.notify("WATCHDOG=1")

    def reloading(self) -> bool:
        # Type=notify-reload wants the monotonic timestamp with RELOADING=1
        return self.notify(f"RELOADING=1\nMONOTONIC_USEC={time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000}")

    def stopping(self) -> bool:
        return self.notify("STOPPING=1")

    def status(self, text: str) -> bool:
        return self.notify(f"STATUS={text}")
