"""What the forwarded windows are for: steps and activity minutes per device and day.

The same :func:`figures` runs on a stream rebuilt from stored windows and on a raw recording's
features, so the two can be put side by side (the demo does). Steps come from the independent
step counter in ``analysis.steps`` (band-pass + peak picking on |acc|); a window counts as *active*
when its cadence is at least ``ACTIVE_CADENCE`` steps/min; minutes per activity come from the
demo's activity judge (the frozen raw-trained activity5 CNN, ``edge_runtime/clips/judge_activity5.tflite``,
mag2 windows only).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

ACTIVE_CADENCE = 60.0  # steps/min: slower than the slowest walk in MotionSense (~100), faster than shuffling
MAX_GAP_S = 60.0  # windows further apart than this (device clock) start a new stretch
ACC_CHANNEL = "acc_magnitude"
MAG2 = ("gyro_magnitude", "acc_magnitude")


@dataclass(frozen=True)
class Figures:
    minutes: float  # device time covered by windows
    steps: int
    active_minutes: float  # windows with a cadence >= ACTIVE_CADENCE
    activity_minutes: dict[str, float] | None  # per recognised activity (mag2 only)


def figures(stream: np.ndarray, fs: float, window: int, channels: tuple[str, ...]) -> Figures:
    """``stream [n, channels]``: consecutive samples, NaN rows where no window was received."""
    from analysis.steps import cadence_per_window, count_steps

    if ACC_CHANNEL not in channels:
        raise ValueError(f"no {ACC_CHANNEL} channel to count steps in (channels: {', '.join(channels)})")
    acc = stream[:, channels.index(ACC_CHANNEL)]
    steps = count_steps(acc, fs)
    n = len(stream) // window
    chunks = stream[: n * window].reshape(n, window, -1)
    full = np.isfinite(chunks).all(axis=(1, 2))
    cadence = cadence_per_window(steps, len(stream), fs, window)
    minutes_per_window = window / fs / 60.0
    per_activity = None
    if tuple(channels) == MAG2 and full.any():
        judge = _activity_judge()
        picked = judge.predict(chunks[full])
        per_activity = {c: round(float(np.sum(picked == i)) * minutes_per_window, 2)
                        for i, c in enumerate(judge.classes)}
    return Figures(minutes=round(float(np.isfinite(acc).sum()) / fs / 60.0, 2), steps=int(len(steps)),
                   active_minutes=round(float(np.sum(full & (cadence >= ACTIVE_CADENCE))) * minutes_per_window, 2),
                   activity_minutes=per_activity)


@lru_cache(maxsize=1)
def _activity_judge():
    from edge_runtime.demo_judges import load_judges

    return load_judges(("activity5",))["activity5"]


def stream_from_windows(start_times: np.ndarray, values: list[np.ndarray], fs: float) -> np.ndarray:
    """Windows placed at their start times on one sample grid; gaps are NaN, long gaps one NaN row."""
    order = np.argsort(start_times)
    parts, t0, end = [], None, 0
    for i in order:
        v, t = values[i], float(start_times[i])
        if t0 is None or (t - t0) * fs - end > MAX_GAP_S * fs:
            if parts:
                parts.append(np.full((1, v.shape[1]), np.nan, np.float32))
            t0, end = t, 0
            parts.append(np.zeros((0, v.shape[1]), np.float32))
        pos = int(round((t - t0) * fs))
        seg = parts[-1]
        if pos + len(v) > len(seg):
            seg = np.concatenate([seg, np.full((pos + len(v) - len(seg), v.shape[1]), np.nan, np.float32)])
        seg[pos:pos + len(v)] = v
        parts[-1], end = seg, max(end, pos + len(v))
    return np.concatenate(parts) if parts else np.zeros((0, 0), np.float32)


@dataclass(frozen=True)
class DeviceDay:
    device_id: str
    day: str
    windows: int
    bundles: tuple[str, ...]
    figures: Figures


def analyse_store(root: str | Path) -> list[DeviceDay]:
    """Figures per (device, day) for every window stored under ``root`` by ``edge-runtime receive``."""
    from receiver.store import read_windows

    table = read_windows(root)
    cols = table.select(["device_id", "day", "start_time", "sample_rate", "channels", "values", "bundle_id",
                         "bundle_version"]).to_pydict()
    groups: dict[tuple[str, str], list[int]] = {}
    for i, key in enumerate(zip(cols["device_id"], cols["day"])):
        groups.setdefault(key, []).append(i)
    out = []
    for (device, day), idx in sorted(groups.items()):
        values = [np.asarray(cols["values"][i], dtype=np.float32) for i in idx]
        channels = {tuple(cols["channels"][i]) for i in idx}
        rates = {cols["sample_rate"][i] for i in idx}
        if len(channels) > 1 or len({v.shape for v in values}) > 1:
            raise ValueError(f"{device} {day}: windows of different bundle shapes; analyse them separately")
        fs = float(np.median(list(rates)))
        stream = stream_from_windows(np.array([cols["start_time"][i] for i in idx]), values, fs)
        bundles = tuple(sorted({f"{cols['bundle_id'][i]}@{cols['bundle_version'][i]}" for i in idx}))
        out.append(DeviceDay(device, day, len(idx), bundles, figures(stream, fs, values[0].shape[0],
                                                                      channels.pop())))
    return out


def table_lines(rows: list[tuple[str, Figures]], header: str = "") -> list[str]:
    """Aligned text: one row per (label, figures)."""
    acts = sorted({a for _, f in rows if f.activity_minutes for a in f.activity_minutes})
    head = f"  {header:<28s} {'minutes':>8s} {'steps':>6s} {'active min':>10s}" + "".join(f" {a:>6s}" for a in acts)
    lines = [head]
    for label, f in rows:
        per = "".join(f" {f.activity_minutes.get(a, 0.0):6.2f}" if f.activity_minutes else f" {'-':>6s}"
                      for a in acts)
        lines.append(f"  {label:<28s} {f.minutes:8.2f} {f.steps:6d} {f.active_minutes:10.2f}{per}")
    return lines
