"""MotionSense windows for training and evaluation, in the published protocol.

One config object holds the numbers that matter (feature set, activities, window, stride, test
trials). Windows never straddle a recording. Arrays are cached on disk, keyed by the data's
checksum and the config, so only the first run parses the CSVs (with a progress bar).
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np

from edge_runtime.errors import DataError
from edge_runtime.features import FeatureSet, feature_set
from edge_runtime.motionsense import SAMPLE_RATE, MotionSense, default_data_dir

ACTIVITIES = ("dws", "ups", "wlk", "jog", "std")
MOVING = ("dws", "ups", "wlk", "jog")
REQUIRED = ("dws", "ups", "wlk")
N_SUBJECTS = 24
CACHE_VERSION = 1


@dataclass(frozen=True)
class DataConfig:
    feature_set: str = "mag2"
    activities: tuple[str, ...] = ACTIVITIES
    window: int = 128
    stride: int = 10
    test_trials: tuple[int, ...] = (11, 12, 13, 14, 15, 16)
    # "trial": train on trials < 11, test on 11-16 (published). "subject": test on these subjects, all trials.
    split: str = "trial"
    test_subjects: tuple[int, ...] = ()

    def key(self, checksum: str) -> str:
        blob = json.dumps({"v": CACHE_VERSION, "data": checksum, **asdict(self)}, sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:20]


@dataclass
class Windows:
    """Windows in physical units and their per-window labels."""

    x: np.ndarray  # [n, window, channels] float32
    activity: np.ndarray  # index into DataConfig.activities
    subject: np.ndarray  # 0..23
    gender: np.ndarray  # 0 female, 1 male
    trial: np.ndarray
    recording: np.ndarray  # recording index, to keep windows of one recording together

    def __len__(self) -> int:
        return len(self.x)

    def select(self, mask: np.ndarray) -> "Windows":
        return Windows(**{k: v[mask] for k, v in self.__dict__.items()})

    def with_x(self, x: np.ndarray) -> "Windows":
        return replace(self, x=np.asarray(x, dtype=np.float32))


@dataclass
class Dataset:
    config: DataConfig
    features: FeatureSet
    train: Windows
    test: Windows
    mean: np.ndarray  # per channel, from the train windows
    std: np.ndarray
    checksum: str
    sample_rate: float = SAMPLE_RATE
    subjects: dict = field(default_factory=dict)

    @property
    def activities(self) -> tuple[str, ...]:
        return self.config.activities

    def standardize(self, x: np.ndarray) -> np.ndarray:
        return ((x - self.mean) / self.std).astype(np.float32)

    def destandardize(self, z: np.ndarray) -> np.ndarray:
        return (z * self.std + self.mean).astype(np.float32)

    def restrict(self, activities: tuple[str, ...]) -> "Dataset":
        """The same windows limited to ``activities``, labels re-indexed in that order (stats unchanged)."""
        def sub(w: Windows) -> Windows:
            names = np.array(self.activities)[w.activity]
            keep = np.isin(names, activities)
            out = w.select(keep)
            out.activity = np.array([activities.index(n) for n in names[keep]], dtype=np.int64)
            return out

        return replace(self, config=replace(self.config, activities=tuple(activities)),
                       train=sub(self.train), test=sub(self.test))


def window_starts(n_samples: int, window: int, stride: int) -> np.ndarray:
    """Start indices of every full window inside one recording (none straddles its end)."""
    if window <= 0 or stride <= 0:
        raise ValueError("window and stride must be positive")
    if n_samples < window:
        return np.zeros(0, dtype=np.int64)
    return np.arange(0, n_samples - window + 1, stride, dtype=np.int64)


def cut_windows(series: np.ndarray, window: int, stride: int) -> np.ndarray:
    """``[n, c]`` -> ``[k, window, c]`` windows of one recording."""
    starts = window_starts(len(series), window, stride)
    idx = starts[:, None] + np.arange(window)[None, :]
    return series[idx] if len(starts) else np.zeros((0, window, series.shape[1]), series.dtype)


def cache_dir() -> Path:
    return Path(os.environ.get("EDGE_RUNTIME_CACHE", Path.home() / ".cache" / "edge-runtime"))


def load_dataset(data_dir: str | os.PathLike | None = None, config: DataConfig = DataConfig(),
                 progress: bool = True) -> Dataset:
    """Windows of the published protocol, from the zip or folder at ``data_dir`` (cached)."""
    data_dir = data_dir or default_data_dir()
    if data_dir is None:
        raise DataError("no MotionSense data: pass --data PATH or set MOTIONSENSE_DIR")
    ms = MotionSense(data_dir)
    features = feature_set(config.feature_set)
    subjects = ms.subjects()
    checksum = ms.checksum()
    path = cache_dir() / f"windows-{config.key(checksum)}.npz"
    if path.is_file():
        arrays = dict(np.load(path))
    else:
        arrays = _parse(ms, features, config, subjects, progress)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp.npz")
        np.savez(tmp, **arrays)
        os.replace(tmp, path)
    allw = Windows(**{k: arrays[k] for k in ("x", "activity", "subject", "gender", "trial", "recording")})
    if config.split == "trial":
        is_test = np.isin(allw.trial, config.test_trials)
    elif config.split == "subject":
        if not config.test_subjects:
            raise ValueError("split='subject' needs test_subjects (0-based)")
        is_test = np.isin(allw.subject, config.test_subjects)
    else:
        raise ValueError(f"unknown split {config.split!r}: use 'trial' or 'subject'")
    train, test = allw.select(~is_test), allw.select(is_test)
    if len(train) == 0 or len(test) == 0:
        raise DataError(f"{data_dir}: the split leaves no train or no test windows")
    mean = train.x.reshape(-1, train.x.shape[-1]).mean(axis=0)
    std = train.x.reshape(-1, train.x.shape[-1]).std(axis=0) + 1e-8
    return Dataset(config, features, train, test, mean.astype(np.float32), std.astype(np.float32),
                   checksum, subjects=subjects)


def _parse(ms: MotionSense, features: FeatureSet, config: DataConfig, subjects: dict, progress: bool) -> dict:
    from tqdm import tqdm

    keys = [k for k in ms.keys if k.activity in config.activities]
    if not keys:
        raise DataError(f"{ms.path}: no recordings of activities {config.activities}")
    parts: dict[str, list] = {k: [] for k in ("x", "activity", "subject", "gender", "trial", "recording")}
    for rec, key in enumerate(tqdm(keys, desc="parsing MotionSense", unit="csv", disable=not progress)):
        w = cut_windows(features.from_raw(ms.read(key)), config.window, config.stride)
        n = len(w)
        parts["x"].append(w)
        parts["activity"].append(np.full(n, config.activities.index(key.activity)))
        parts["subject"].append(np.full(n, key.subject - 1))
        parts["gender"].append(np.full(n, int(subjects[key.subject]["gender"])))
        parts["trial"].append(np.full(n, key.trial))
        parts["recording"].append(np.full(n, rec))
    out = {k: np.concatenate(v) for k, v in parts.items()}
    out["x"] = out["x"].astype(np.float32)
    for k in ("activity", "subject", "gender", "trial", "recording"):
        out[k] = out[k].astype(np.int64)
    return out


@dataclass
class RecordingSeries:
    """One recording's continuous feature series, rebuilt from its windows, and its labels."""

    x: np.ndarray  # [n, channels]
    activity: int
    subject: int
    gender: int
    trial: int
    recording: int
    first: int  # index of its first window in the Windows it came from
    windows: int  # how many windows it had there


def recording_series(w: Windows, stride: int) -> list[RecordingSeries]:
    """Each recording of ``w`` as one series: its first window, then each next window's last
    ``stride`` samples (windows of a recording are contiguous, in order, ``stride`` apart). Samples
    after the last window, which no window holds, are not there."""
    out = []
    if len(w) == 0:
        return out
    cuts = np.flatnonzero(np.diff(w.recording)) + 1
    for lo, hi in zip(np.r_[0, cuts], np.r_[cuts, len(w)]):
        x = w.x[lo:hi]
        tail = x[1:, -stride:].reshape(-1, x.shape[2]) if hi - lo > 1 else x[:0, 0]
        out.append(RecordingSeries(np.concatenate([x[0], tail]).astype(np.float32), int(w.activity[lo]),
                                   int(w.subject[lo]), int(w.gender[lo]), int(w.trial[lo]), int(w.recording[lo]),
                                   int(lo), int(hi - lo)))
    return out
