"""Where received windows go: a durable SQLite inbox, then Parquet files by device and day.

``accept`` commits new records to the inbox and their ids to the de-duplication table in one
transaction; only then does a source acknowledge them (MQTT PUBACK, HTTP 2xx), so a crash at any
point loses nothing and a redelivered record is recognised by its envelope id. ``flush`` moves the
inbox into Parquet::

    ROOT/windows/device_id=<device>/day=<YYYY-MM-DD>/part-<n>.parquet

(hive partitioning: pandas, DuckDB, Dask and pyarrow read ``ROOT/windows`` as one table). A file is
written as ``.part-<n>.parquet.tmp`` and fsynced, then one transaction registers it and empties
those inbox rows, then it is renamed; at start, a registered temp file is renamed and an
unregistered one deleted (its rows are still in the inbox). ``day`` is the UTC day the receiver
got the record: a window's ``start_time`` is the device's clock, not the time of day.
"""

from __future__ import annotations

import os
import re
import sqlite3
import threading
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from edge_runtime.transformed_window import TransformedWindow
from edge_runtime.sinks.envelope import Envelope
from edge_runtime.spool import immediate_transaction

DEVICE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$")  # as the gateway's config allows
COUNTERS = ("stored", "duplicates", "untrusted", "malformed")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS seen (id TEXT PRIMARY KEY) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS inbox (
    id TEXT PRIMARY KEY, device_id TEXT NOT NULL, day TEXT NOT NULL, received REAL NOT NULL, payload BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS files (n INTEGER PRIMARY KEY, path TEXT NOT NULL, rows INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS rejected (
    pos INTEGER PRIMARY KEY AUTOINCREMENT, reason TEXT NOT NULL, source TEXT NOT NULL, received REAL NOT NULL,
    payload BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
"""


@dataclass(frozen=True)
class Received:
    id: str
    window: TransformedWindow
    payload: bytes  # the envelope as it arrived (JSON or binary), kept in the inbox until flushed


@dataclass(frozen=True)
class Totals:
    stored: int  # windows accepted (inbox + Parquet), ever
    duplicates: int  # records dropped because their id was already stored, ever
    untrusted: int  # refused: bundle not trusted (kept in `rejected`), ever
    malformed: int  # refused: not an envelope this receiver reads (kept in `rejected`), ever
    pending: int  # in the inbox, not yet in Parquet
    files: int
    devices: int


def schema():
    import pyarrow as pa

    return pa.schema([
        ("id", pa.string()), ("seq", pa.int64()), ("start_time", pa.float64()), ("sample_rate", pa.float64()),
        ("channels", pa.list_(pa.string())), ("units", pa.list_(pa.string())),
        ("values", pa.list_(pa.list_(pa.float32()))),  # [window][channel], physical units
        ("bundle_id", pa.string()), ("bundle_version", pa.string()), ("received_at", pa.timestamp("ms", tz="UTC")),
    ])


class WindowStore:
    """Thread-safe; every call is one transaction."""

    def __init__(self, root: str | Path):
        self.root = Path(root)
        self.windows = self.root / "windows"
        self.windows.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(self.root / "state.sqlite"), isolation_level=None, check_same_thread=False,
                                   timeout=30)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)
        self._recover()

    # -- accepting ----------------------------------------------------------------------------------
    def accept(self, records: Sequence[Received], now: float | None = None) -> tuple[int, int]:
        """Commit the records not seen before; returns (new, duplicates). Durable when it returns."""
        now = time.time() if now is None else now
        day = time.strftime("%Y-%m-%d", time.gmtime(now))
        new = dup = 0
        with self._lock, self._tx():
            for r in records:
                if self._db.execute("INSERT OR IGNORE INTO seen (id) VALUES (?)", (r.id,)).rowcount:
                    self._db.execute("INSERT INTO inbox (id, device_id, day, received, payload) VALUES (?, ?, ?, ?, ?)",
                                     (r.id, r.window.device_id, day, now, r.payload))
                    new += 1
                else:
                    dup += 1
            self._bump("stored", new)
            self._bump("duplicates", dup)
        return new, dup

    def reject(self, rejects: Sequence[tuple[str, str, bytes]], counter: str) -> None:
        """Keep refused payloads aside ``(reason, source, payload)``, so a fixed config can replay them."""
        if not rejects:
            return
        with self._lock, self._tx():
            self._db.executemany("INSERT INTO rejected (reason, source, received, payload) VALUES (?, ?, ?, ?)",
                                 [(reason, source, time.time(), payload) for reason, source, payload in rejects])
            self._bump(counter, len(rejects))

    # -- Parquet ------------------------------------------------------------------------------------
    def flush(self) -> int:
        """Move everything in the inbox into Parquet files; returns how many windows were written."""
        import pyarrow.parquet as pq

        with self._lock:
            rows = self._db.execute("SELECT id, device_id, day, received, payload FROM inbox").fetchall()
            if not rows:
                return 0
            groups: dict[tuple[str, str], list] = defaultdict(list)
            for id_, device, day, received, payload in rows:
                _, w = Envelope.parse(payload)
                groups[(device, day)].append((id_, w, received))
            n0 = self._db.execute("SELECT COALESCE(MAX(n), 0) FROM files").fetchone()[0]
            written = []
            for i, ((device, day), items) in enumerate(sorted(groups.items())):
                items.sort(key=lambda x: x[1].seq)
                folder = self.windows / f"device_id={device}" / f"day={day}"
                folder.mkdir(parents=True, exist_ok=True)
                n = n0 + 1 + i
                final, tmp = folder / f"part-{n:08d}.parquet", folder / f".part-{n:08d}.parquet.tmp"
                with open(tmp, "wb") as fh:
                    pq.write_table(_table(items), fh, compression="zstd")
                    fh.flush()
                    os.fsync(fh.fileno())
                written.append((n, final, tmp, [x[0] for x in items]))
            with self._tx():
                for n, final, _, ids in written:
                    self._db.execute("INSERT INTO files (n, path, rows) VALUES (?, ?, ?)",
                                     (n, str(final.relative_to(self.root)), len(ids)))
                    self._db.executemany("DELETE FROM inbox WHERE id = ?", [(x,) for x in ids])
            for _, final, tmp, _ in written:
                os.replace(tmp, final)
                _fsync_dir(final.parent)
            return len(rows)

    def _recover(self) -> None:
        registered = {self.root / p for (p,) in self._db.execute("SELECT path FROM files")}
        for tmp in self.windows.rglob(".part-*.parquet.tmp"):
            final = tmp.with_name(tmp.name[1:-len(".tmp")])
            if final in registered:
                os.replace(tmp, final)  # registered but not yet renamed when we stopped
            else:
                tmp.unlink()  # never registered: its rows are still in the inbox

    # -- reporting ----------------------------------------------------------------------------------
    def totals(self) -> Totals:
        with self._lock:
            c = dict(self._db.execute("SELECT name, value FROM counters").fetchall())
            pending = self._db.execute("SELECT COUNT(*) FROM inbox").fetchone()[0]
            files = self._db.execute("SELECT COUNT(*) FROM files").fetchone()[0]
        devices = sum(1 for p in self.windows.glob("device_id=*") if p.is_dir())
        return Totals(**{k: c.get(k, 0) for k in COUNTERS}, pending=pending, files=files, devices=devices)

    def rejected(self) -> list[tuple[str, str, bytes]]:
        with self._lock:
            return self._db.execute("SELECT reason, source, payload FROM rejected ORDER BY pos").fetchall()

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # -- internals ----------------------------------------------------------------------------------
    def _tx(self):
        return immediate_transaction(self._db)

    def _bump(self, name: str, by: int) -> None:
        if by:
            self._db.execute("INSERT INTO counters (name, value) VALUES (?, ?) "
                             "ON CONFLICT (name) DO UPDATE SET value = value + excluded.value", (name, by))


def _table(items):
    import pyarrow as pa

    windows = [w for _, w, _ in items]
    rows = np.array([w.values.shape[0] for w in windows])
    chans = np.array([w.values.shape[1] for w in windows])
    flat = np.concatenate([np.ascontiguousarray(w.values, dtype=np.float32).ravel() for w in windows])
    inner = pa.ListArray.from_arrays(pa.array(np.concatenate(([0], np.cumsum(np.repeat(chans, rows)))), pa.int32()),
                                     pa.array(flat, pa.float32()))
    values = pa.ListArray.from_arrays(pa.array(np.concatenate(([0], np.cumsum(rows))), pa.int32()), inner)
    cols = {
        "id": [i for i, _, _ in items], "seq": [w.seq for w in windows], "start_time": [w.start_time for w in windows],
        "sample_rate": [w.sample_rate for w in windows], "channels": [list(w.channels) for w in windows],
        "units": [list(w.units) for w in windows], "values": values,
        "bundle_id": [w.bundle_id for w in windows], "bundle_version": [w.bundle_version for w in windows],
        "received_at": [int(r * 1000) for _, _, r in items],
    }
    sch = schema()
    return pa.table({k: (v if isinstance(v, pa.Array) else pa.array(v, sch.field(k).type)) for k, v in cols.items()},
                    schema=sch)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def read_windows(root: str | Path):
    """Every stored window as one pyarrow Table (with the ``device_id`` and ``day`` partition columns)."""
    import pyarrow as pa
    import pyarrow.dataset as ds

    folder = Path(root) / "windows"
    parts = ds.partitioning(pa.schema([("device_id", pa.string()), ("day", pa.string())]), flavor="hive")
    dataset = ds.dataset(folder, format="parquet", partitioning=parts, ignore_prefixes=[".", "_"])
    return dataset.to_table()
