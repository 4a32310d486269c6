"""What a data set is: its recordings, where each comes from and where its transformed copy goes.

Input forms (``--input``):

- the MotionSense zip or folder (``A_DeviceMotion_data/<act>_<trial>/sub_<n>.csv``, 50 Hz);
- a folder of recordings, searched recursively: our CSV (``t, acc_x, ..., gyro_z``), a MotionSense
  CSV, or Parquet with the same columns (:mod:`.formats`);
- a glob of such files (``'data/**/*.parquet'``), relative paths taken from the glob's fixed prefix.

Each recording keeps its relative path and format in the output. A :class:`Source` is small and
picklable: it travels to Dask workers, which read the file themselves (so the data must be on a
filesystem the workers see).
"""

from __future__ import annotations

import functools
import glob
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edge_runtime.bundle import sha256_file
from edge_runtime.errors import DataError

RECORDING_SUFFIXES = (".csv", ".parquet")
SKIPPED_NAMES = ("DATASET.md", "DATASET.json")


@dataclass(frozen=True)
class Source:
    """One recording: ``kind`` ("motionsense", "csv" or "parquet"), the file (or MotionSense zip or
    folder) at ``path``, its ``key`` (relative path, also the output's) and the MotionSense member."""

    kind: str
    path: str
    key: str
    member: str = ""

    @property
    def out_format(self) -> str:
        return "parquet" if self.kind == "parquet" else "csv"


@dataclass(frozen=True)
class Loaded:
    """A recording as read: times (s), raw samples ``[n, 6]``, the units it states (or ``None``), and
    the SHA-256 of the bytes it was read from."""

    t: np.ndarray
    raw: np.ndarray
    units: str | None
    sha256: str


def is_glob(text: str) -> bool:
    return any(c in text for c in "*?[")


def is_motionsense(path: Path) -> bool:
    from edge_runtime.motionsense import FOLDER_NAME, ZIP_NAME

    if path.is_file():
        return path.suffix.lower() == ".zip"
    return (path / ZIP_NAME).is_file() or (path / FOLDER_NAME).is_dir()


def discover(spec: str | os.PathLike) -> tuple[str, list[Source]]:
    """``--input`` -> (a description of the data set, its recordings in a stable order)."""
    text = str(spec)
    if is_glob(text):
        files = sorted(Path(p).resolve() for p in glob.glob(os.path.expanduser(text), recursive=True))
        files = [p for p in files if p.is_file() and p.suffix.lower() in RECORDING_SUFFIXES]
        if not files:
            raise DataError(f"{text}: the glob matches no .csv or .parquet recordings")
        base = _glob_base(text)
        return f"recordings matching {text}", [_file_source(p, base) for p in files]
    path = Path(text).expanduser()
    if not path.exists():
        raise DataError(f"{path}: no such file or folder")
    path = path.resolve()
    if is_motionsense(path):
        from edge_runtime.motionsense import MotionSense

        data = MotionSense(path)  # raises a clear DataError for a broken zip or an empty folder
        where = str(data.zip_path if data._zip is not None else path)
        return f"MotionSense at {path}", [Source("motionsense", where, k.member, k.member) for k in data.keys]
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in RECORDING_SUFFIXES
                       and not any(part.startswith(".") for part in p.relative_to(path).parts)
                       and p.name not in SKIPPED_NAMES)
        if not files:
            raise DataError(f"{path}: no .csv or .parquet recordings in this folder (nor a MotionSense data set)")
        return f"recordings under {path}", [_file_source(p, path) for p in files]
    if path.suffix.lower() in RECORDING_SUFFIXES:
        return f"recording {path}", [_file_source(path, path.parent)]
    raise DataError(f"{path}: not a recording (.csv, .parquet), a folder of them, or the MotionSense zip/folder")


def _glob_base(pattern: str) -> Path:
    parts = Path(os.path.expanduser(pattern)).parts
    fixed = []
    for part in parts:
        if is_glob(part):
            break
        fixed.append(part)
    return Path(*fixed).resolve() if fixed else Path.cwd()


def _file_source(path: Path, base: Path) -> Source:
    kind = "parquet" if path.suffix.lower() == ".parquet" else "csv"
    return Source(kind, str(path), path.relative_to(base).as_posix())


def sizes(sources: list[Source]) -> list[int]:
    """Each recording's size in bytes (0 where it cannot be told): for handing the longest out first."""
    out = []
    for s in sources:
        try:
            if s.kind != "motionsense":
                out.append(os.stat(s.path).st_size)
                continue
            data, keys = _data_set(s.path)
            out.append(data.size(keys[s.member]))
        except (OSError, KeyError, DataError):
            out.append(0)
    return out


def _data_set(path: str):
    """The MotionSense zip or folder at ``path``, opened once per process while it is unchanged
    (opening the published zip reads its directory of 360 members: 7 ms, paid per recording before),
    with its recordings by member name."""
    from edge_runtime.motionsense import ZIP_NAME

    stamp = []  # the zip itself, or the folder and the zip it holds: a replaced zip is opened anew
    for p in (path, os.path.join(path, ZIP_NAME)):
        try:
            st = os.stat(p)
            stamp.append((st.st_mtime_ns, st.st_size, st.st_ino))
        except OSError:
            stamp.append(None)
    return _opened(path, tuple(stamp))


@functools.lru_cache(maxsize=4)
def _opened(path: str, stamp: tuple):
    from edge_runtime.motionsense import MotionSense

    data = MotionSense(path)
    return data, {k.member: k for k in data.keys}


def _motionsense_text(source: Source) -> str:
    """The CSV text of one recording of a MotionSense zip or folder."""
    data, keys = _data_set(source.path)
    if source.member not in keys:
        raise DataError(f"{source.path}: no recording {source.member}")
    return data.read_text(keys[source.member])


def checksum(source: Source) -> str:
    """SHA-256 of the bytes :func:`read` would parse (a resumed run compares it, nothing parsed)."""
    if source.kind == "motionsense":
        return hashlib.sha256(_motionsense_text(source).encode()).hexdigest()
    try:
        return sha256_file(Path(source.path))
    except OSError as exc:
        raise DataError(f"{source.path}: unreadable ({exc})") from None


def read(source: Source) -> Loaded:
    """Read one recording (raises :class:`DataError` naming the file on anything malformed)."""
    from edge_runtime.motionsense import SAMPLE_RATE

    if source.kind == "motionsense":
        from edge_runtime.motionsense import parse_recording_csv

        text = _motionsense_text(source)
        raw = parse_recording_csv(text, name=source.member)
        t = np.arange(raw.shape[0], dtype=np.float64) / SAMPLE_RATE
        return Loaded(t, raw, None, hashlib.sha256(text.encode()).hexdigest())
    try:
        data_bytes = Path(source.path).read_bytes()
    except FileNotFoundError:
        raise DataError(f"{source.path}: no such recording") from None
    except OSError as exc:
        raise DataError(f"{source.path}: unreadable ({exc})") from None
    digest = hashlib.sha256(data_bytes).hexdigest()
    if source.kind == "parquet":
        from edge_runtime.publish.formats import parse_parquet_recording

        t, raw, units = parse_parquet_recording(data_bytes, name=source.path)
        return Loaded(t, raw, units, digest)
    try:
        text = data_bytes.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DataError(f"{source.path}: not UTF-8 text ({exc})") from None
    first = text.split("\n", 1)[0]
    if "userAcceleration.x" in first:
        from edge_runtime.motionsense import parse_recording_csv

        raw = parse_recording_csv(text, name=source.path)
        return Loaded(np.arange(raw.shape[0], dtype=np.float64) / SAMPLE_RATE, raw, None, digest)
    from edge_runtime.recording import parse_recording

    rec = parse_recording(text, name=source.path)
    return Loaded(rec.t, rec.raw, None, digest)
