"""Recordings and transformed windows on disk: CSV (numpy only) and Parquet (pyarrow, the ``[publish]`` extra).

A raw recording in Parquet has the columns of our CSV recording format, ``t`` (float64 seconds) and
``acc_x, acc_y, acc_z, gyro_x, gyro_y, gyro_z``; its units are stated per field (metadata ``unit``:
acceleration ``g`` or ``m/s^2``..., angular rate ``rad/s`` or ``deg/s``...), default g and rad/s.

A transformed recording has one row per sample of each released window: ``window`` (the window's
sequence number), ``t`` (seconds) and the bundle's channels in its units (stated the same way in
Parquet; in CSV they are the bundle's, see the datasheet). Windows the model failed on are absent.
"""

from __future__ import annotations

import io
import json
from typing import Any, Iterable, Sequence

import numpy as np

from edge_runtime.errors import DataError, UserError
from edge_runtime.recording import COLUMNS

ACC_COLUMNS, GYRO_COLUMNS = COLUMNS[1:4], COLUMNS[4:7]


# zstd, without dictionary pages: sensor floats repeat too seldom for a dictionary to pay, so
# without one the files are smaller (MotionSense transformed: 4.9 MB, 5.6 MB with) and written faster
WRITE_OPTIONS = {"compression": "zstd", "use_dictionary": False}


def pyarrow():
    """``(pyarrow, pyarrow.parquet)``, or a clear error naming the extra to install."""
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise UserError("Parquet needs pyarrow: pip install 'edge-privacy-runtime[publish]'") from None
    return pa, pq


# --------------------------------------------------------------------------------------------
# Transformed windows


def windows_columns(records: Sequence[Any]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Records -> ``(window [rows] int64, t [rows] float64, values [rows, channels] float32)``."""
    if not records:
        return np.zeros(0, np.int64), np.zeros(0, np.float64), np.zeros((0, 0), np.float32)
    w = records[0].values.shape[0]
    offsets = np.arange(w) / records[0].sample_rate
    window = np.repeat(np.array([r.seq for r in records], np.int64), w)
    t = np.concatenate([r.start_time + offsets for r in records])
    values = np.concatenate([r.values for r in records]).astype(np.float32, copy=False)
    return window, t, values


def windows_csv(records: Iterable[Any], channels: Sequence[str]) -> str:
    """Transformed windows as CSV rows ``window, t, <channels>`` (one row per sample: t to the
    microsecond, values to 7 significant digits). A window's rows are one %-format call (3x the
    speed of formatting value by value, the same text)."""
    parts = [",".join(("window", "t", *channels)) + "\n"]
    for r in records:
        n, c = r.values.shape
        cells = np.empty((n, c + 2), dtype=object)
        cells[:, 0] = r.seq
        cells[:, 1] = r.start_time + np.arange(n) / r.sample_rate
        cells[:, 2:] = r.values.astype(np.float64)
        parts.append(("%d,%.6f" + ",%.7g" * c + "\n") * n % tuple(cells.ravel().tolist()))
    return "".join(parts)


def windows_parquet(records: Sequence[Any], channels: Sequence[str], units: Sequence[str],
                    metadata: dict[str, Any]) -> bytes:
    """Transformed windows as Parquet bytes (deterministic: the same records give the same bytes)."""
    pa, pq = pyarrow()
    window, t, values = windows_columns(records)
    if values.shape[1] == 0:
        values = np.zeros((0, len(channels)), np.float32)
    fields = [pa.field("window", pa.int64()), pa.field("t", pa.float64(), metadata={"unit": "s"})]
    fields += [pa.field(c, pa.float32(), metadata={"unit": u}) for c, u in zip(channels, units)]
    schema = pa.schema(fields, metadata={"edge_runtime": json.dumps(metadata, sort_keys=True)})
    table = pa.table([window, t] + [values[:, i] for i in range(len(channels))], schema=schema)
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, **WRITE_OPTIONS)
    return sink.getvalue().to_pybytes()


# --------------------------------------------------------------------------------------------
# Raw recordings


def parse_parquet_recording(data: bytes, name: str = "<parquet>") -> tuple[np.ndarray, np.ndarray, str | None]:
    """Parquet bytes -> ``(t [n] float64, raw [n, 6] float32, "ACC,GYRO" units or None)``."""
    pa, pq = pyarrow()
    try:
        file = pq.ParquetFile(pa.BufferReader(data))  # not read_table: its dataset API costs seconds to import
        missing = [c for c in COLUMNS if c not in file.schema_arrow.names]
        if missing:
            raise DataError(f"{name}: missing column(s) {', '.join(missing)} (a recording has {', '.join(COLUMNS)})")
        table = file.read(columns=list(COLUMNS))  # only these: a recording may carry others (labels, ...)
    except (pa.ArrowException, OSError) as exc:
        raise DataError(f"{name}: not a readable Parquet file ({exc})") from None
    try:
        t = table.column("t").to_numpy(zero_copy_only=False).astype(np.float64)
        raw = np.empty((table.num_rows, len(COLUMNS) - 1), np.float32)  # column by column: a day-long recording
        for i, c in enumerate(COLUMNS[1:]):  # never holds a float64 copy of its samples
            raw[:, i] = table.column(c).to_numpy(zero_copy_only=False)
    except (pa.ArrowException, ValueError, TypeError) as exc:
        raise DataError(f"{name}: a recording column is not numeric ({exc})") from None
    if not np.all(np.isfinite(t)):
        raise DataError(f"{name}: row {int(np.argmax(~np.isfinite(t)))} has a missing or non-finite time")
    if t.size > 1 and np.any(np.diff(t) < 0):
        raise DataError(f"{name}: time goes backwards at row {int(np.argmax(np.diff(t) < 0)) + 1}")
    return t, raw, _stated_units(table.schema, name)


def _stated_units(schema, name: str) -> str | None:
    def unit(cols) -> str | None:
        found = {(schema.field(c).metadata or {}).get(b"unit", b"").decode() for c in cols}
        found.discard("")
        if len(found) > 1:
            raise DataError(f"{name}: columns {', '.join(cols)} state different units {sorted(found)}")
        return found.pop() if found else None

    acc, gyro = unit(ACC_COLUMNS), unit(GYRO_COLUMNS)
    if acc is None and gyro is None:
        return None
    return f"{acc or 'g'},{gyro or 'rad/s'}"


def recording_parquet(t: np.ndarray, raw: np.ndarray, units: tuple[str, str] = ("g", "rad/s"),
                      metadata: dict[str, Any] | None = None) -> bytes:
    """A raw recording as Parquet bytes (columns ``t, acc_x, ..., gyro_z``, units per field)."""
    pa, pq = pyarrow()
    raw = np.asarray(raw, np.float32)
    fields = [pa.field("t", pa.float64(), metadata={"unit": "s"})]
    fields += [pa.field(c, pa.float32(), metadata={"unit": units[0]}) for c in ACC_COLUMNS]
    fields += [pa.field(c, pa.float32(), metadata={"unit": units[1]}) for c in GYRO_COLUMNS]
    schema = pa.schema(fields, metadata={"edge_runtime": json.dumps(metadata or {}, sort_keys=True)})
    table = pa.table([np.asarray(t, np.float64)] + [raw[:, i] for i in range(6)], schema=schema)
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, **WRITE_OPTIONS)
    return sink.getvalue().to_pybytes()
