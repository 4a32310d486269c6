"""Decode, check and store what arrives: the one path every source (MQTT, HTTP) goes through.

A payload is *malformed* when it is not an envelope this receiver reads (JSON or binary version 1,
a device id the gateway could have, a 2-D window), *untrusted* when its bundle id/version fails the
trust check, and otherwise stored once (a repeated envelope id is a counted duplicate).
"""

from __future__ import annotations

import json
import logging
import threading
from dataclasses import dataclass, field
from typing import Sequence

from edge_runtime.sinks.envelope import Envelope
from receiver.store import DEVICE_ID, Received, WindowStore
from receiver.trust import TrustCheck

log = logging.getLogger("receiver")


@dataclass
class Outcome:
    new: int = 0
    duplicates: int = 0
    untrusted: list[tuple[str, bytes]] = field(default_factory=list)  # (reason, payload)
    malformed: list[tuple[str, bytes]] = field(default_factory=list)

    @property
    def refused(self) -> str | None:
        """The first reason a payload was refused, or None."""
        for reason, _ in self.malformed + self.untrusted:
            return reason
        return None


def parse(payload: bytes) -> Received:
    """Payload -> Received, or ValueError naming why it is not a usable envelope."""
    try:
        id_, w = Envelope.parse(payload)
    except (ValueError, KeyError, TypeError, IndexError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"not an envelope: {exc}") from None
    if not DEVICE_ID.match(w.device_id):
        raise ValueError(f"device id {w.device_id[:80]!r} is not one a gateway sends")
    if w.values.ndim != 2 or w.values.shape[1] != len(w.channels):
        raise ValueError(f"values of shape {w.values.shape} for {len(w.channels)} channels")
    return Received(id_, w, bytes(payload))


class Receiver:
    def __init__(self, store: WindowStore, trusted: TrustCheck):
        self.store = store
        self.trusted = trusted
        self._warned: set[str] = set()
        self._lock = threading.Lock()

    def check(self, payloads: Sequence[bytes]) -> tuple[list[Received], Outcome]:
        ok, out = [], Outcome()
        for p in payloads:
            try:
                r = parse(p)
            except ValueError as exc:
                out.malformed.append((str(exc), bytes(p)))
                continue
            w = r.window
            if not self.trusted(w.bundle_id, w.bundle_version):
                out.untrusted.append((f"bundle {w.bundle_id}@{w.bundle_version} is not trusted", bytes(p)))
                continue
            ok.append(r)
        return ok, out

    def handle(self, payloads: Sequence[bytes], source: str, all_or_nothing: bool = False) -> Outcome:
        """Store the good payloads. ``all_or_nothing`` (HTTP): if any is refused store none of them,
        so the sender keeps the whole batch and can resend it once the receiver accepts it."""
        ok, out = self.check(payloads)
        for reason, _ in out.malformed + out.untrusted:
            self._warn(reason, source)
        if all_or_nothing and out.refused:
            return out
        self.store.reject([(r, source, p) for r, p in out.untrusted], "untrusted")
        self.store.reject([(r, source, p) for r, p in out.malformed], "malformed")
        if ok:
            out.new, out.duplicates = self.store.accept(ok)
        return out

    def _warn(self, reason: str, source: str) -> None:
        key = reason if reason.startswith("bundle") else reason.split(":")[0]
        with self._lock:
            if key in self._warned:
                return
            self._warned.add(key)
        log.warning("refused: %s (from %s; further ones are counted, not logged)", reason, source)
