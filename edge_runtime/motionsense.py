"""Read the MotionSense DeviceMotion data in its published form (zip or extracted folder).

numpy only, so the edge tools (offline transform, the emulated wearable) read it too. A recording is
``A_DeviceMotion_data/<act>_<trial>/sub_<n>.csv`` sampled at 50 Hz; raw acceleration is
``userAcceleration + gravity`` (g) and angular rate is ``rotationRate`` (rad/s).
"""

from __future__ import annotations

import csv
import hashlib
import os
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edge_runtime.errors import DataError
from edge_runtime.recording import MOTIONSENSE_COLUMNS, MOTIONSENSE_RATE, parse_motionsense_csv

SAMPLE_RATE = MOTIONSENSE_RATE
ZIP_NAME = "A_DeviceMotion_data.zip"
FOLDER_NAME = "A_DeviceMotion_data"
SUBJECTS_NAME = "data_subjects_info.csv"
ENV_VAR = "MOTIONSENSE_DIR"
HEADER = MOTIONSENSE_COLUMNS
parse_recording_csv = parse_motionsense_csv  # one MotionSense CSV -> raw [n, 6] (g, rad/s)
SUBJECT_HEADER = ["code", "weight", "height", "age", "gender"]
_MEMBER = re.compile(r"(?:^|/)A_DeviceMotion_data/([a-z]{3})_(\d+)/sub_(\d+)\.csv$")


@dataclass(frozen=True, order=True)
class RecordingKey:
    activity: str
    trial: int
    subject: int  # 1..24 as published

    @property
    def member(self) -> str:
        return f"{FOLDER_NAME}/{self.activity}_{self.trial}/sub_{self.subject}.csv"


def default_data_dir() -> Path | None:
    """``$MOTIONSENSE_DIR``, else ``../shared/data/motionsense`` (from the cwd or this checkout)."""
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env)
    for base in (Path.cwd(), Path(__file__).resolve().parent.parent):
        cand = base.parent / "shared" / "data" / "motionsense"
        if cand.exists():
            return cand
    return None


class MotionSense:
    """The published data set at ``path``: a folder holding the zip or the extracted folder, or the zip."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self._zip: zipfile.ZipFile | None = None
        self._folder: Path | None = None
        zip_path = self.path if self.path.suffix == ".zip" else self.path / ZIP_NAME
        root = self.path if self.path.suffix != ".zip" else self.path.parent
        if (root / FOLDER_NAME).is_dir():
            self._folder = root
        elif zip_path.is_file():
            try:
                self._zip = zipfile.ZipFile(zip_path)
            except zipfile.BadZipFile as exc:
                raise DataError(f"{zip_path}: not a readable zip (truncated or corrupt: {exc})") from None
            self.zip_path = zip_path
        else:
            raise DataError(
                f"{self.path}: no {ZIP_NAME} and no {FOLDER_NAME}/ folder here; "
                f"pass the MotionSense folder (or set {ENV_VAR})"
            )
        self.subjects_path = root / SUBJECTS_NAME
        self.keys = self._list_keys()
        if not self.keys:
            raise DataError(f"{self.path}: no recordings named {FOLDER_NAME}/<act>_<trial>/sub_<n>.csv found")

    def _list_keys(self) -> list[RecordingKey]:
        if self._zip is not None:
            names = self._zip.namelist()
        else:
            names = [p.relative_to(self._folder).as_posix() for p in (self._folder / FOLDER_NAME).glob("*/*.csv")]
        keys = []
        for n in names:
            m = _MEMBER.search(n)
            if m:
                keys.append(RecordingKey(m.group(1), int(m.group(2)), int(m.group(3))))
        return sorted(keys)

    def _member_name(self, key: RecordingKey) -> str:
        if self._zip is None:
            return key.member
        for n in self._zip.namelist():  # tolerate a leading folder inside the zip
            if n.endswith(key.member):
                return n
        raise DataError(f"{self.zip_path}: missing member {key.member}")

    def read_text(self, key: RecordingKey) -> str:
        name = self._member_name(key)
        if self._zip is None:
            path = self._folder / name
            if not path.is_file():
                raise DataError(f"{path}: missing recording")
            return path.read_text()
        try:
            return self._zip.read(name).decode()
        except (zipfile.BadZipFile, EOFError, OSError) as exc:
            raise DataError(f"{self.zip_path}: member {name} unreadable (truncated zip? {exc})") from None

    def size(self, key: RecordingKey) -> int:
        """Bytes of one recording's CSV as stored (a zip member's uncompressed size), without reading it."""
        name = self._member_name(key)
        if self._zip is None:
            return (self._folder / name).stat().st_size
        return self._zip.getinfo(name).file_size

    def read(self, key: RecordingKey) -> np.ndarray:
        """Raw samples ``[n, 6]`` of one recording."""
        return parse_recording_csv(self.read_text(key), name=key.member)

    def subjects(self) -> dict[int, dict[str, float]]:
        """``{code: {weight, height, age, gender}}`` from ``data_subjects_info.csv`` (gender: 0 f, 1 m)."""
        if not self.subjects_path.is_file():
            raise DataError(f"{self.subjects_path}: subject table missing")
        with open(self.subjects_path, encoding="utf-8-sig", newline="") as fh:
            rows = list(csv.reader(fh))
        if not rows or [h.strip() for h in rows[0]] != SUBJECT_HEADER:
            raise DataError(
                f"{self.subjects_path}: wrong subject table header {rows[0] if rows else []}, "
                f"expected {','.join(SUBJECT_HEADER)}"
            )
        table = {}
        for i, row in enumerate(rows[1:], start=2):
            if not row:
                continue
            try:
                vals = [float(v) for v in row]
            except ValueError:
                raise DataError(f"{self.subjects_path}: line {i} is not numeric: {row}") from None
            if len(vals) != 5 or vals[4] not in (0.0, 1.0):
                raise DataError(f"{self.subjects_path}: line {i} malformed (need 5 columns, gender 0/1): {row}")
            table[int(vals[0])] = dict(zip(SUBJECT_HEADER[1:], vals[1:]))
        missing = sorted({k.subject for k in self.keys} - set(table))
        if missing:
            raise DataError(f"{self.subjects_path}: wrong subject table, no row for subject(s) {missing}")
        return table

    def checksum(self) -> str:
        """SHA-256 identifying the data (the zip's bytes, or the folder's file names and sizes)."""
        h = hashlib.sha256()
        if self._zip is not None:
            with open(self.zip_path, "rb") as fh:
                for chunk in iter(lambda: fh.read(1 << 20), b""):
                    h.update(chunk)
        else:
            for k in self.keys:
                p = self._folder / k.member
                h.update(f"{k.member}:{p.stat().st_size}\n".encode())
        if self.subjects_path.is_file():
            h.update(self.subjects_path.read_bytes())
        return h.hexdigest()
