"""Store-and-forward spool: records wait on disk while a network sink's uplink is down.

One SQLite database in WAL mode holds a queue per sink. ``put`` commits before it returns, so a
record the gateway accepted survives ``kill -9`` (and, with ``synchronous="full"``, power loss).
A forwarder ``peek``s the oldest records of its sink, sends them and ``ack``s exactly the ones the
sink confirmed; insertion order is delivery order, so each device's records arrive in order.

The spool is bounded per sink (records and/or bytes). When full, the drop policy decides:
``drop-oldest`` (default) evicts the oldest waiting records to make room — the freshest data wins,
as a monitor wants after a long outage; ``drop-newest`` refuses the new record instead. Every drop is
counted, per sink, and the counters persist across restarts.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

from edge_runtime.sinks.envelope import Envelope

DROP_POLICIES = ("drop-oldest", "drop-newest")
SYNCHRONOUS = ("normal", "full")
DEFAULT_SYNCHRONOUS = "full"  # survives power loss, not only a crash

_SCHEMA = """
CREATE TABLE IF NOT EXISTS queue (
    pos INTEGER PRIMARY KEY AUTOINCREMENT,
    sink TEXT NOT NULL,
    id TEXT NOT NULL,
    device_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    record BLOB NOT NULL,
    size INTEGER NOT NULL,
    created REAL NOT NULL  -- wall-clock time it entered the gateway (for the delivery latency metric)
);
CREATE INDEX IF NOT EXISTS queue_sink_pos ON queue (sink, pos);
CREATE TABLE IF NOT EXISTS device_seq (
    device_id TEXT PRIMARY KEY,
    next_seq INTEGER NOT NULL  -- so a restarted gateway continues each device's sequence
);
CREATE TABLE IF NOT EXISTS counters (
    sink TEXT NOT NULL,
    name TEXT NOT NULL,
    value INTEGER NOT NULL,
    PRIMARY KEY (sink, name)
);
"""


@contextlib.contextmanager
def immediate_transaction(db: sqlite3.Connection):
    """``BEGIN IMMEDIATE`` ... ``COMMIT`` (``ROLLBACK`` on error) on an autocommit connection; the
    receiver's store uses it too."""
    db.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


@dataclass(frozen=True)
class SpoolBound:
    """Per sink; None = unbounded. These are the gateway's defaults too (``[spool]`` in its config)."""

    max_records: int | None = 100_000
    max_bytes: int | None = 256 * 1024 * 1024
    drop_policy: str = "drop-oldest"

    def __post_init__(self) -> None:
        if self.drop_policy not in DROP_POLICIES:
            raise ValueError(f"drop_policy must be one of {', '.join(DROP_POLICIES)}, not {self.drop_policy!r}")
        for name in ("max_records", "max_bytes"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ValueError(f"{name} must be at least 1 (or unset for no bound)")


@dataclass(frozen=True)
class SpooledRecord:
    pos: int  # position in the spool: delivery order
    envelope: Envelope
    created: float  # time.time() when it was spooled


@dataclass(frozen=True)
class SpoolStats:
    records: int  # waiting now
    bytes: int  # waiting now
    spooled: int  # accepted into the spool, ever
    delivered: int  # acknowledged by the sink, ever
    dropped: int  # evicted or refused because the bound was reached, ever


class Spool:
    """A durable, bounded, per-sink FIFO of envelopes. Thread-safe; every call is one transaction."""

    def __init__(self, path: str | Path, bound: SpoolBound = SpoolBound(), synchronous: str = DEFAULT_SYNCHRONOUS):
        if synchronous not in SYNCHRONOUS:
            raise ValueError(f"synchronous must be one of {', '.join(SYNCHRONOUS)}, not {synchronous!r}")
        self.path = Path(path)
        self.bound = bound
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(self.path), isolation_level=None, check_same_thread=False, timeout=30)
        mode = self._db.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        if mode.lower() != "wal":
            raise RuntimeError(f"{self.path}: SQLite refused WAL mode (got {mode})")
        self._db.execute(f"PRAGMA synchronous={synchronous.upper()}")
        self._db.executescript(_SCHEMA)

    # -- writing --------------------------------------------------------------------------------
    def put(self, sinks: Iterable[str], envelopes: Sequence[Envelope]) -> int:
        """Queue ``envelopes`` for every sink in ``sinks``; durable when this returns. Each device's
        next sequence number is committed in the same transaction (see ``next_seqs``).

        Returns how many (sink, record) pairs were dropped to respect the bound.
        """
        sinks = list(sinks)
        if not envelopes:
            return 0
        dropped = 0
        now = time.time()
        next_seq: dict[str, int] = {}
        for e in envelopes:
            next_seq[e.device_id] = max(next_seq.get(e.device_id, 0), e.seq + 1)
        with self._lock, self._transaction():
            self._db.executemany(
                "INSERT INTO device_seq (device_id, next_seq) VALUES (?, ?) ON CONFLICT (device_id) "
                "DO UPDATE SET next_seq = MAX(next_seq, excluded.next_seq)", list(next_seq.items()))
            for sink in sinks:
                self._db.executemany(
                    "INSERT INTO queue (sink, id, device_id, seq, record, size, created) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    [(sink, e.id, e.device_id, e.seq, e.record, e.size, now) for e in envelopes],
                )
                self._bump(sink, "spooled", len(envelopes))
                dropped += self._enforce_bound(sink, len(envelopes))
        return dropped

    def ack(self, sink: str, records: Sequence[SpooledRecord]) -> None:
        """The sink confirmed these records (from ``peek``): forget them."""
        if not records:
            return
        with self._lock, self._transaction():
            cur = self._db.executemany(
                "DELETE FROM queue WHERE sink = ? AND pos = ?", [(sink, r.pos) for r in records]
            )
            self._bump(sink, "delivered", cur.rowcount)

    # -- reading --------------------------------------------------------------------------------
    def peek(self, sink: str, limit: int = 100) -> list[SpooledRecord]:
        """The oldest ``limit`` records waiting for ``sink``, in delivery order (not removed)."""
        with self._lock:
            rows = self._db.execute(
                "SELECT pos, id, device_id, seq, record, created FROM queue WHERE sink = ? ORDER BY pos LIMIT ?",
                (sink, limit),
            ).fetchall()
        return [
            SpooledRecord(pos, Envelope(id=id_, device_id=device_id, seq=seq, record=bytes(record)), created)
            for pos, id_, device_id, seq, record, created in rows
        ]

    def stats(self, sink: str) -> SpoolStats:
        with self._lock:
            records, size = self._db.execute(
                "SELECT COUNT(*), COALESCE(SUM(size), 0) FROM queue WHERE sink = ?", (sink,)
            ).fetchone()
            counters = dict(self._db.execute("SELECT name, value FROM counters WHERE sink = ?", (sink,)).fetchall())
        return SpoolStats(
            records=records,
            bytes=size,
            spooled=counters.get("spooled", 0),
            delivered=counters.get("delivered", 0),
            dropped=counters.get("dropped", 0),
        )

    def next_seqs(self) -> dict[str, int]:
        """Per device, one past the highest sequence number ever accepted."""
        with self._lock:
            return dict(self._db.execute("SELECT device_id, next_seq FROM device_seq").fetchall())

    def sinks(self) -> list[str]:
        """Sinks that have records waiting (including sinks no longer configured)."""
        with self._lock:
            return [r[0] for r in self._db.execute("SELECT DISTINCT sink FROM queue ORDER BY sink")]

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> "Spool":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- internals ------------------------------------------------------------------------------
    def _transaction(self):
        return immediate_transaction(self._db)

    def _bump(self, sink: str, name: str, by: int) -> None:
        if by:
            self._db.execute(
                "INSERT INTO counters (sink, name, value) VALUES (?, ?, ?) "
                "ON CONFLICT (sink, name) DO UPDATE SET value = value + excluded.value",
                (sink, name, by),
            )

    def _enforce_bound(self, sink: str, just_added: int) -> int:
        b = self.bound
        if b.max_records is None and b.max_bytes is None:
            return 0
        records, size = self._db.execute(
            "SELECT COUNT(*), COALESCE(SUM(size), 0) FROM queue WHERE sink = ?", (sink,)
        ).fetchone()
        over_records = max(0, records - b.max_records) if b.max_records is not None else 0
        over_bytes = max(0, size - b.max_bytes) if b.max_bytes is not None else 0
        if not over_records and not over_bytes:
            return 0
        # newest first when refusing new records, oldest first when evicting old ones
        order = "ASC" if b.drop_policy == "drop-oldest" else "DESC"
        victims: list[int] = []
        freed_records = freed_bytes = 0
        for pos, rsize in self._db.execute(
            f"SELECT pos, size FROM queue WHERE sink = ? ORDER BY pos {order}", (sink,)
        ):
            if freed_records >= over_records and freed_bytes >= over_bytes:
                break
            victims.append(pos)
            freed_records += 1
            freed_bytes += rsize
        self._db.executemany("DELETE FROM queue WHERE sink = ? AND pos = ?", [(sink, p) for p in victims])
        self._bump(sink, "dropped", len(victims))
        return len(victims)
