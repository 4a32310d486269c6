"""Utility of forwarded data on continuous recordings: what a step-counting or activity app still gets.

A gateway forwards non-overlapping windows, so utility is measured on each test recording as a
gateway would forward it (windows concatenated, NaN rows where a window was dropped: see
``models.transforms.forwarded``; recordings rebuilt by ``models.data.recording_series``), against the raw
recording, with the independent step counter of ``analysis/steps.py`` run on both. Per-window
quantities are compared *within* each activity: across activities any transform that keeps the label
correlates well, and that is what ``label_only`` (the activity label alone, as per-activity medians
learned on train recordings) shows. Everything is scored over the recordings of the required activities.
"""

from __future__ import annotations

import numpy as np

from analysis.steps import cadence_per_window, count_steps, steps_per_window
from models.data import REQUIRED

ACC, GYRO = 1, 0  # mag2 channels: |rotationRate| (rad/s), |acc incl. gravity| (g)
QUANTITIES = ("step_rate", "cadence", "enmo", "gyro")  # per-window, compared within each activity


def per_window(series: np.ndarray, fs: float, window: int, steps: np.ndarray | None = None) -> dict:
    """Per full non-overlapping window: step rate and cadence (steps/min), ENMO (g), mean |gyro| (rad/s).

    Step rate counts the steps in the window; cadence comes from step intervals (``cadence_per_window``).
    A window holding a NaN row (dropped by the gateway) gets NaN for ENMO and |gyro| and is marked invalid.
    """
    n_windows = len(series) // window
    body = np.asarray(series[:n_windows * window], dtype=np.float64).reshape(n_windows, window, -1)
    if steps is None:
        steps = count_steps(series[:, ACC], fs)
    return {
        "step_rate": steps_per_window(steps, len(series), window) * 60.0 * fs / window,
        "cadence": cadence_per_window(steps, len(series), fs, window),
        "enmo": np.maximum(body[:, :, ACC] - 1.0, 0.0).mean(axis=1),
        "gyro": body[:, :, GYRO].mean(axis=1),
        "valid": np.isfinite(body).all(axis=(1, 2)),
        "steps": int((steps < n_windows * window).sum()),
        "minutes": n_windows * window / fs / 60.0,
    }


def utility_metrics(raw: list[np.ndarray], forwarded: list[np.ndarray], activity: list[str], fs: float,
                    window: int = 128, required: tuple[str, ...] = REQUIRED) -> dict:
    """Forwarded recordings against raw ones (both ``[n, channels]`` mag2 series, same length each)."""
    for i, (r, f) in enumerate(zip(raw, forwarded)):
        if r.shape != f.shape:
            raise ValueError(f"recording {i}: forwarded shape {f.shape} differs from raw {r.shape}")
    keep = [i for i, a in enumerate(activity) if a in required]
    ref = [per_window(raw[i], fs, window) for i in keep]
    fwd = [per_window(forwarded[i], fs, window) for i in keep]
    shapes = [_shape_r(raw[i], forwarded[i], window, q["valid"]) for i, q in zip(keep, fwd)]
    out = score(ref, fwd, [activity[i] for i in keep], required)
    shape = np.concatenate(shapes) if shapes else np.zeros(0)
    out["shape_r_median"] = float(np.median(shape)) if len(shape) else None
    return out


def steps_only_metrics(raw: list[np.ndarray], sent_steps: list[np.ndarray], activity: list[str], fs: float,
                       window: int = 128, required: tuple[str, ...] = REQUIRED) -> dict:
    """The step rows for a recipient handed step events ``sent_steps`` (sample indices per recording)
    instead of a waveform: what a set of kept step features alone gives. ENMO, |gyro| and shape
    need a waveform: None."""
    keep = [i for i, a in enumerate(activity) if a in required]
    ref = [per_window(raw[i], fs, window) for i in keep]
    fwd = [per_window(raw[i], fs, window, steps=np.asarray(sent_steps[i], np.int64)) for i in keep]
    out = score(ref, fwd, [activity[i] for i in keep], required)
    out["enmo_r"] = out["gyro_r"] = out["shape_r_median"] = None
    return out


def label_only(train_raw: list[np.ndarray], train_activity: list[str], raw: list[np.ndarray], activity: list[str],
               fs: float, window: int = 128, required: tuple[str, ...] = REQUIRED) -> dict:
    """The same metrics for a recipient that gets only the activity label (true labels: its best case).

    Each per-window quantity is predicted by its per-activity median over the train recordings' windows,
    steps per recording by the median train step rate of the activity times the recording's duration.
    Within an activity such a prediction is constant, so its correlations are undefined: 0.0, with a note.
    """
    train = [(per_window(x, fs, window), a) for x, a in zip(train_raw, train_activity) if a in required]
    medians = {a: {q: float(np.median(np.concatenate([p[q] for p, b in train if b == a]))) for q in QUANTITIES}
               | {"rate": float(np.median([p["steps"] / p["minutes"] for p, b in train if b == a and p["minutes"]]))}
               for a in required if any(b == a for _, b in train)}
    keep = [i for i, a in enumerate(activity) if a in required]
    missing = sorted({activity[i] for i in keep} - set(medians))
    if missing:
        raise ValueError(f"label_only: no train recordings of {', '.join(missing)}")
    ref = [per_window(raw[i], fs, window) for i in keep]
    pred = []
    for i, r in zip(keep, ref):
        m = medians[activity[i]]
        n = len(r["cadence"])
        pred.append({q: np.full(n, m[q]) for q in QUANTITIES} | {
            "valid": np.ones(n, bool), "steps": int(round(m["rate"] * r["minutes"])), "minutes": r["minutes"]})
    out = score(ref, pred, [activity[i] for i in keep], required)
    out["shape_r_median"] = 0.0
    out["notes"] = ["label only: every per-window prediction is constant within an activity, so its "
                    "correlations are undefined, reported 0.0; no waveform is sent, so shape r is reported 0.0"]
    return out


def score(ref: list[dict], fwd: list[dict], activity: list[str], required) -> dict:
    """The utility rows of per-recording ``per_window`` dicts, forwarded ``fwd`` against raw ``ref``."""
    notes: list[str] = []
    rel = np.array([abs(f["steps"] - r["steps"]) / r["steps"] for r, f in zip(ref, fwd) if r["steps"] > 0])
    valid = [f["valid"] for f in fwd]
    acts = np.concatenate([np.full(len(v), a) for v, a in zip(valid, activity)]) if valid else np.zeros(0, str)
    ok = np.concatenate(valid) if valid else np.zeros(0, bool)

    def pooled(q):
        return np.concatenate([r[q] for r in ref])[ok], np.concatenate([f[q] for f in fwd])[ok]

    out: dict = {
        "recordings": len(ref),
        "windows": int(ok.sum()),
        "dropped_windows": int((~ok).sum()),
        "steps_rel_error": {"median": float(np.median(rel)) if len(rel) else None,
                            "p90": float(np.percentile(rel, 90)) if len(rel) else None},
    }
    a_ok = acts[ok]
    for q in QUANTITIES:
        x, y = pooled(q)
        per = {a: _pearson(x[a_ok == a], y[a_ok == a], f"{q} r [{a}]", notes) for a in required if (a_ok == a).any()}
        out[f"{q}_r"] = {"within": _within_r(x, y, a_ok, f"{q} r within activity", notes), "per_activity": per}
    x, y = pooled("cadence")
    out["cadence_mae_spm"] = float(np.abs(x - y).mean()) if len(x) else None
    out["notes"] = notes
    return out


def _within_r(x, y, groups, what, notes) -> float:
    """Pearson r after removing each activity's own mean from both: the pooled within-activity r."""
    dx, dy = x.astype(np.float64).copy(), y.astype(np.float64).copy()
    for g in np.unique(groups):
        m = groups == g
        dx[m] -= dx[m].mean()
        dy[m] -= dy[m].mean()
    return _pearson(dx, dy, what, notes)


def _pearson(x, y, what, notes) -> float:
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    flat = [name for name, v in (("raw", x), ("forwarded", y)) if len(v) < 2 or v.std() < 1e-12]
    if flat:
        notes.append(f"{what}: {' and '.join(flat)} constant, r undefined, reported 0.0")
        return 0.0
    return float(np.corrcoef(x, y)[0, 1])


def _shape_r(raw: np.ndarray, fwd: np.ndarray, window: int, valid: np.ndarray) -> np.ndarray:
    """Per valid window, Pearson r of forwarded |acc| against raw |acc| (0.0 where either is flat)."""
    n = len(valid)
    a = raw[:n * window, ACC].astype(np.float64).reshape(n, window)[valid]
    b = fwd[:n * window, ACC].astype(np.float64).reshape(n, window)[valid]
    a, b = a - a.mean(1, keepdims=True), b - b.mean(1, keepdims=True)
    den = np.sqrt((a * a).sum(1) * (b * b).sum(1))
    return np.where(den > 1e-12, (a * b).sum(1) / np.where(den > 1e-12, den, 1.0), 0.0)


def plot_steps(raw: list[np.ndarray], forwarded: list[np.ndarray], fs: float, path, activity: list[str] | None = None,
               recordings: int = 4, seconds: float = 12.0, window: int = 128) -> None:
    """PNG: forwarded vs raw |acc| over the first ``seconds`` of a few recordings, detected steps marked
    as ticks above the traces (raw grey, forwarded blue); the legends count the steps of the whole forwarded span."""
    from matplotlib.figure import Figure

    k = min(recordings, len(raw))
    if k == 0:
        raise ValueError("plot_steps: no recordings to plot")
    fig = Figure(figsize=(10, 2.2 * k), layout="constrained")
    axes = fig.subplots(k, 1, squeeze=False)[:, 0]
    n = int(seconds * fs)
    for i, ax in enumerate(axes):
        t = np.arange(min(n, len(raw[i]))) / fs
        span = len(raw[i]) // window * window  # what a gateway forwards: full windows
        top = np.nanmax(raw[i][:len(t), ACC]) * 1.08
        for j, (series, label, colour) in enumerate(((raw[i], "raw", "0.45"), (forwarded[i], "forwarded", "tab:blue"))):
            steps = count_steps(series[:, ACC], fs)
            steps = steps[steps < span]
            ax.plot(t, series[:len(t), ACC], color=colour, lw=1.6 - 0.6 * j, label=f"{label}: {len(steps)} steps")
            shown = steps[steps < len(t)]
            ax.plot(t[shown], np.full(len(shown), top * (1 + 0.12 * j)), "|", color=colour, ms=9, mew=2)
        name = activity[i] if activity else f"recording {i}"
        ax.set_title(name, loc="left", fontsize=9)
        ax.set_ylabel("|acc| (g)")
        ax.legend(loc="lower right", fontsize=8)
    axes[-1].set_xlabel("time (s); ticks: steps found by analysis.steps.count_steps")
    fig.savefig(path, dpi=110)
