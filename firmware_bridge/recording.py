"""Our recording format: the one CSV that capture writes and the emulator, engine and training read.

Columns ``t, acc_x, acc_y, acc_z, gyro_x, gyro_y, gyro_z``: time in seconds (device clock,
non-decreasing), acceleration in g *including gravity*, angular rate in rad/s. numpy only, so it
runs on the edge. A MotionSense CSV (one recording of the published data set) is accepted by
:func:`load_samples` too (50 Hz, t = i / 50). It lives in the protocol layer because capture writes
it and the emulator plays it; ``edge_runtime.recording`` is the runtime's door to it.
"""

from __future__ import annotations

import csv
import io
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from firmware_bridge.errors import RecordingError

COLUMNS = ("t", "acc_x", "acc_y", "acc_z", "gyro_x", "gyro_y", "gyro_z")
HEADER = ",".join(COLUMNS)
MOTIONSENSE_RATE = 50.0
MOTIONSENSE_COLUMNS = [  # the published DeviceMotion CSV header (after its unnamed index column)
    "attitude.roll", "attitude.pitch", "attitude.yaw",
    "gravity.x", "gravity.y", "gravity.z",
    "rotationRate.x", "rotationRate.y", "rotationRate.z",
    "userAcceleration.x", "userAcceleration.y", "userAcceleration.z",
]


@dataclass(frozen=True)
class Recording:
    """Timestamped raw samples: ``t`` [n] float64 seconds, ``raw`` [n, 6] float32 (g, rad/s)."""

    t: np.ndarray
    raw: np.ndarray

    def __post_init__(self) -> None:
        if self.raw.ndim != 2 or self.raw.shape[1] != 6 or self.t.shape != (self.raw.shape[0],):
            raise ValueError(f"recording needs t [n] and raw [n, 6], got {self.t.shape} and {self.raw.shape}")

    def __len__(self) -> int:
        return int(self.t.shape[0])

    @property
    def sample_rate(self) -> float:
        """Median rate in Hz (0.0 for fewer than two samples)."""
        if len(self) < 2:
            return 0.0
        dt = float(np.median(np.diff(self.t)))
        return 1.0 / dt if dt > 0 else 0.0


def read_recording(path: str | os.PathLike) -> Recording:
    """Read our recording CSV; raises :class:`RecordingError` naming the file on anything malformed."""
    return parse_recording(_read_text(path), name=str(path))


def _read_text(path: str | os.PathLike) -> str:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise RecordingError(f"{path}: no such recording") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise RecordingError(f"{path}: unreadable ({exc})") from None
    return text


def parse_recording(text: str, name: str = "<recording>") -> Recording:
    lines = text.splitlines()
    if not lines or not lines[0].strip():
        raise RecordingError(f"{name}: empty file (expected header {HEADER})")
    cols = [c.strip() for c in lines[0].lstrip("\ufeff").split(",")]
    if cols != list(COLUMNS):
        raise RecordingError(f"{name}: wrong header {','.join(cols)!r}, expected {HEADER}")
    body = [ln for ln in lines[1:] if ln.strip()]
    if not body:
        return Recording(np.zeros(0, np.float64), np.zeros((0, 6), np.float32))
    try:
        table = np.loadtxt(io.StringIO("\n".join(body)), delimiter=",", dtype=np.float64, ndmin=2)
    except ValueError as exc:
        raise RecordingError(f"{name}: malformed row ({exc})") from None
    if table.shape[1] != len(COLUMNS):
        raise RecordingError(f"{name}: rows must have {len(COLUMNS)} columns, found {table.shape[1]}")
    if not np.all(np.isfinite(table)):
        bad = int(np.argwhere(~np.isfinite(table))[0, 0]) + 2
        raise RecordingError(f"{name}: line {bad} has a non-finite value")
    t = table[:, 0]
    if t.size > 1 and np.any(np.diff(t) < 0):
        bad = int(np.argmax(np.diff(t) < 0)) + 3
        raise RecordingError(f"{name}: time goes backwards at line {bad}")
    return Recording(t.copy(), table[:, 1:].astype(np.float32))


def write_recording(path: str | os.PathLike, t: np.ndarray, raw: np.ndarray) -> None:
    """Write samples in our format (t with microsecond precision, values with 7 significant digits)."""
    rec = Recording(np.asarray(t, np.float64), np.asarray(raw, np.float32))
    with open(path, "w", encoding="utf-8", newline="\n") as fh:
        fh.write(HEADER + "\n")
        for ti, row in zip(rec.t, rec.raw):
            fh.write(f"{ti:.6f}," + ",".join(f"{float(v):.7g}" for v in row) + "\n")


class RecordingWriter:
    """Appends batches to a recording CSV as they arrive (capture streams, it never buffers a session)."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self._fh = open(self.path, "w", encoding="utf-8", newline="\n")
        self._fh.write(HEADER + "\n")
        self.rows = 0

    def write(self, t: np.ndarray, raw: np.ndarray) -> None:
        for ti, row in zip(np.asarray(t, np.float64), np.asarray(raw, np.float32)):
            self._fh.write(f"{ti:.6f}," + ",".join(f"{float(v):.7g}" for v in row) + "\n")
            self.rows += 1

    def close(self) -> None:
        self._fh.close()

    def __enter__(self) -> "RecordingWriter":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def load_samples(path: str | os.PathLike, sample_rate: float = MOTIONSENSE_RATE) -> Recording:
    """Our recording, or a MotionSense CSV (detected by its header; t = i / sample_rate)."""
    path = Path(path)
    text = _read_text(path)
    first = text.split("\n", 1)[0]
    if "userAcceleration.x" in first:
        raw = parse_motionsense_csv(text, name=str(path))
        return Recording(np.arange(raw.shape[0], dtype=np.float64) / sample_rate, raw)
    return parse_recording(text, name=str(path))


def parse_motionsense_csv(text: str, name: str = "<csv>") -> np.ndarray:
    """A MotionSense CSV -> raw samples ``[n, 6]``: acc xyz (g, with gravity), gyro xyz (rad/s).

    numpy's C parser reads the rows (about 2x the csv module's speed on the published data set, the
    same float64 values: every one of its 360 recordings decodes to the same bytes)."""
    header, _, body = text.partition("\n")
    if not header.strip():
        raise RecordingError(f"{name}: empty file")
    cols = [h.strip() for h in next(csv.reader([header]))]
    missing = [h for h in MOTIONSENSE_COLUMNS if h not in cols]
    if missing:
        raise RecordingError(f"{name}: wrong header, missing column(s) {', '.join(missing)}")
    if not body.strip():
        return np.zeros((0, 6), dtype=np.float32)
    try:
        table = np.loadtxt(io.StringIO(body), delimiter=",", dtype=np.float64, ndmin=2,
                           usecols=[cols.index(h) for h in MOTIONSENSE_COLUMNS])
    except ValueError as exc:
        raise RecordingError(f"{name}: malformed row ({exc})") from None
    col = {h: table[:, i] for i, h in enumerate(MOTIONSENSE_COLUMNS)}
    acc = np.stack([col[f"userAcceleration.{a}"] + col[f"gravity.{a}"] for a in "xyz"], axis=1)
    gyro = np.stack([col[f"rotationRate.{a}"] for a in "xyz"], axis=1)
    return np.concatenate([acc, gyro], axis=1).astype(np.float32)
