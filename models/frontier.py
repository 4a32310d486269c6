"""The frontier: what the declared kept features alone leak, the floor for any transform that keeps them.

A transform whose output keeps the activity and the wearer's step timing (issue 12) cannot leak less
than attackers that are handed exactly those features, computed from the *raw* data: the activity
label (a sensitive activity shown as its neutral one) and the step events found by the evaluation's
own counter (``analysis.steps.count_steps``) on each raw continuous recording, so steps near a
window's edges are found with their context. Each stride-10 window becomes a view ``[window, 3 + A]``:

- channel 0: step impulse train (1 at a step sample),
- channels 1-2: cos, sin of the step phase (0 -> 2 pi linearly from one step to the next; 0, 0 where no
  phase is defined: before the first step, after the last, across a gap over 2 s),
- channels 3..: the activity one-hot, constant over the window.

A transform that keeps only the *cadence* (``keeps: ["activity", "cadence"]``) lays each window's steps
evenly between the wearer's steps either side of the window (its step count and mean period). Its
frontier view has the same channels, from those steps (``cadence_channels``). One that keeps only each
window's *step count* (``keeps: ["activity", "step_count"]``) lays that many steps evenly across the
window (``count_channels``).

The CNN attackers read the view (mean 0 / std 1: it is already in unit scale); the trees read summary
statistics of the same view (``summary_features``). The three attacks, configs and families are those of
``models/attackers.py``, so a transform's adaptive attackers and its frontier are directly comparable.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from analysis.steps import MAX_STEP_INTERVAL_S, count_steps
from models.attackers import AttackConfig, attack_known, attack_unseen_gender, attacker_families
from models.data import Dataset, Windows, cut_windows, recording_series
from models.stepsynth import DetectorConfig
from models.utility import ACC

IMPULSE, COS, SIN, ONEHOT = 0, 1, 2, 3
EDGE = 5  # a cadence transform lays no step within 5 samples of a window's edges (StepResynthesis.EDGE)
LONE_PERIOD_S = 0.5  # a lone step's period where its class's is not given


def step_channels(steps: np.ndarray, n: int, fs: float) -> np.ndarray:
    """``[n, 3]``: impulse train, cos and sin of the step phase, for one continuous recording."""
    out = np.zeros((n, 3), np.float32)
    steps = np.unique(np.asarray(steps, np.int64))
    steps = steps[(steps >= 0) & (steps < n)]
    out[steps, IMPULSE] = 1.0
    for a, b in zip(steps[:-1], steps[1:]):
        if b - a <= MAX_STEP_INTERVAL_S * fs:
            phi = 2 * np.pi * np.arange(b - a) / (b - a)
            out[a:b, COS], out[a:b, SIN] = np.cos(phi), np.sin(phi)
    return out


def cadence_channels(steps: np.ndarray, n: int, window: int, stride: int, context: tuple[int, int],
                     fs: float, lone_period: int | None = None) -> np.ndarray:
    """``[k, window, 3]`` per window of a recording of ``n`` samples: the channels of ``step_channels`` for
    the steps a cadence transform lays (``models.layers.StepResynthesis``): the window's own ``m`` steps
    evenly spaced between the last step before its start and the first at or after its end (a first or
    last step that spacing would put outside the window, or within ``EDGE`` samples of its edge, laid
    ``EDGE`` samples inside it, so the count stays). Without a step within ``max_gap`` samples on one side,
    that side is one mean period beyond the window's first (last) step, and the window steps from half a
    period before it (to half a period after); a window without a step has none. The mean period is, as
    in the graph, the window's own in whole samples within ``[min_period, max_period]`` with two steps or
    more; for a lone step the class's default ``lone_period`` (samples: ``class_step_periods``; else
    0.5 s), as the graph takes its class's: nothing of the wearer's context. As
    there, nothing steps past the recording's ends (the engine holds its edge samples there)."""
    before, after = context
    lay = DetectorConfig()  # the graph's gap and period bounds (models.stepsynth: their one home)
    starts = np.arange(0, n - window + 1, stride)
    out = np.zeros((len(starts), window, 3), np.float32)
    steps = np.unique(np.asarray(steps, np.int64))
    steps = steps[(steps >= 0) & (steps < n)]
    for k, s0 in enumerate(starts):
        near = steps[(steps >= s0 - before) & (steps < s0 + window + after)]
        own = near[(near >= s0) & (near < s0 + window)]
        m = len(own)
        if m == 0:
            continue
        lo, hi = near[near < s0], near[near >= s0 + window]
        if m >= 2:
            d = int(np.clip((own[-1] - own[0]) // (m - 1), lay.min_period, lay.max_period))
        else:
            d = int(lone_period) if lone_period is not None else int(round(LONE_PERIOD_S * fs))
        near_lo = len(lo) and s0 - lo[-1] <= lay.max_gap
        near_hi = len(hi) and hi[0] - s0 - window <= lay.max_gap
        a = int(lo[-1]) if near_lo else int(own[0]) - d
        b = int(hi[0]) if near_hi else int(own[-1]) + d
        start = -np.inf if near_lo else own[0] - d // 2
        stop = np.inf if near_hi else own[-1] + d // 2
        q = m + 1  # intervals from a to b
        e0, e1 = s0 + EDGE, s0 + window - 1 - EDGE
        first_out = q * (e0 - a) > b - a  # even spacing would lay the first step before e0...
        if first_out:
            a, q = e0, q - 1
        if q * (b - e1) > b - a:  # ... or the last after e1: laid there instead
            b, q = e1, q - 1
        if not first_out and q * (e0 - a) > b - a:
            a, q = e0, q - 1
        q, span = max(q, 1), max(b - a, 1)
        t = np.arange(s0, s0 + window)
        stepping = (t >= start) & (t <= stop)
        u = (np.arange(s0 - 1, s0 + window) - a) * q  # step j of the lay from a: u // span == j
        phase = np.mod(u[1:], span) / span
        impulse = np.diff(np.floor_divide(u, span)) > 0
        out[k, :, IMPULSE] = impulse & stepping
        out[k, :, COS] = np.where(stepping, np.cos(2 * np.pi * phase), 0.0)
        out[k, :, SIN] = np.where(stepping, np.sin(2 * np.pi * phase), 0.0)
    return out


def count_channels(steps: np.ndarray, n: int, window: int, stride: int) -> np.ndarray:
    """``[k, window, 3]`` per window of a recording of ``n`` samples: the channels of ``step_channels`` for
    the steps a step-count transform lays (``models.layers.StepResynthesis``, ``timing="count"``): the
    window's own ``m`` steps at ``ceil((2 j + 1) window / (2 m))``, ``j = 0..m-1``, evenly across the
    window, so only ``m`` survives; the window steps throughout (none: still)."""
    starts = np.arange(0, n - window + 1, stride)
    out = np.zeros((len(starts), window, 3), np.float32)
    steps = np.unique(np.asarray(steps, np.int64))
    m = np.searchsorted(steps, starts + window) - np.searchsorted(steps, starts)  # [k]
    t = np.arange(-1, window)
    u = 2 * m[:, None] * t[None, :] - window  # step j of the lay at u = 2 j window
    impulse = np.diff(np.floor_divide(u, 2 * window), axis=1) > 0
    phase = 2 * np.pi * np.mod(u[:, 1:], 2 * window) / (2 * window)
    on = (m > 0)[:, None]
    out[:, :, IMPULSE] = impulse & on
    out[:, :, COS] = np.where(on, np.cos(phase), 0.0)
    out[:, :, SIN] = np.where(on, np.sin(phase), 0.0)
    return out


def laid_channels(steps: np.ndarray, n: int, window: int, stride: int, keeps, context: tuple[int, int],
                  fs: float, lone_period: int | None = None) -> np.ndarray:
    """The kept step channels per window, as the transform that keeps ``keeps`` lays them."""
    if "step_count" in keeps:
        return count_channels(steps, n, window, stride)
    if "cadence" in keeps:
        return cadence_channels(steps, n, window, stride, context, fs, lone_period)
    return cut_windows(step_channels(steps, n, fs), window, stride)


def laid_steps(steps: np.ndarray, n: int, window: int, keeps, context: tuple[int, int], fs: float,
               lone_period: int | None = None) -> np.ndarray:
    """The step samples a transform keeping ``keeps`` sends for a recording of ``n`` samples forwarded as
    non-overlapping windows, from the wearer's ``steps``."""
    views = laid_channels(steps, n, window, window, keeps, context, fs, lone_period)
    return np.flatnonzero(views[:, :, IMPULSE].reshape(-1) > 0.5).astype(np.int64)


def class_step_periods(w: Windows, n_classes: int, stride: int, fs: float) -> np.ndarray:
    """Per activity class, the median step interval (samples, within the graph's ``[min_period,
    max_period]``) that the evaluation's counter finds on the recordings of ``w`` (train data): the
    population default a cadence lay gives a lone step, as the graph's class default period does."""
    lay = DetectorConfig()
    found: list[list[np.ndarray]] = [[] for _ in range(n_classes)]
    for rec in recording_series(w, stride):
        iv = np.diff(count_steps(rec.x[:, ACC], fs))
        found[rec.activity].append(iv[(iv >= lay.min_period) & (iv <= lay.max_period)])
    intervals = [np.concatenate(f) if f else np.zeros(0) for f in found]
    default = int(round(LONE_PERIOD_S * fs))
    return np.array([int(np.median(iv)) if iv.size else default for iv in intervals], np.int64)


def kept_views(w: Windows, activities: tuple[str, ...], stride: int, fs: float,
               neutral: dict[str, str] | None = None, keeps: tuple[str, ...] = ("activity", "step_timing"),
               context: tuple[int, int] = (128, 128), lone_periods: np.ndarray | None = None) -> np.ndarray:
    """``[n, window, 3 + len(activities)]`` kept-feature views of raw mag2 windows ``w`` (in their order);
    ``lone_periods``: per class, a lone step's period in a cadence lay (``class_step_periods``)."""
    if set(keeps) not in ({"activity", "step_timing"}, {"activity", "cadence"}, {"activity", "step_count"}):
        raise ValueError(f"no frontier for keeps {list(keeps)}")
    neutral = neutral or {}
    shown = np.array([activities.index(neutral.get(a, a)) for a in activities])
    window = w.x.shape[1]
    views = []
    for rec in recording_series(w, stride):
        steps = count_steps(rec.x[:, ACC], fs)
        lone = None if lone_periods is None else int(lone_periods[rec.activity])
        timing = laid_channels(steps, len(rec.x), window, stride, keeps, context, fs, lone)
        onehot = np.zeros((len(timing), window, len(activities)), np.float32)
        onehot[:, :, shown[rec.activity]] = 1.0
        views.append(np.concatenate([timing, onehot], axis=2))
    out = np.concatenate(views) if views else np.zeros((0, window, 3 + len(activities)), np.float32)
    if len(out) != len(w):
        raise ValueError(f"{len(w)} windows but {len(out)} rebuilt from their recordings at stride {stride}")
    return out


def summary_features(views: np.ndarray) -> np.ndarray:
    """Per view: activity, number of steps, mean/std/min/max step interval (samples), offset of the first step.

    Intervals are all those overlapping the window: between its steps from the impulses, and the two cut
    by its edges from the phase (it grows by 2 pi / interval per sample from 0 at a step). NaN where
    undefined (LightGBM treats it as missing). Vectorised: it runs on every attacker's train and test set.
    """
    n, window, _ = views.shape
    imp = views[:, :, IMPULSE] > 0.5
    has = imp.any(axis=1)
    first = np.where(has, imp.argmax(axis=1), -1)
    last = np.where(has, window - 1 - imp[:, ::-1].argmax(axis=1), -1)
    iv = np.full((n, window + 2), np.nan)
    rows, cols = np.nonzero(imp)
    rank = np.arange(len(rows)) - np.searchsorted(rows, rows)  # index of each step within its window
    pair = np.flatnonzero(rows[1:] == rows[:-1])
    iv[rows[pair], rank[pair]] = cols[pair + 1] - cols[pair]
    ends = views[:, [0, -1]]  # the phase is only needed where the window starts and ends
    phase = np.mod(np.arctan2(ends[:, :, SIN], ends[:, :, COS]), 2 * np.pi)
    defined = ends[:, :, COS] ** 2 + ends[:, :, SIN] ** 2 > 0.5
    ok = has & defined[:, 0] & (phase[:, 0] > 1e-6)  # inside an interval when the window starts
    iv[ok, window] = first[ok] / (1 - phase[ok, 0] / (2 * np.pi))
    ok = has & defined[:, -1] & (last < window - 1) & (phase[:, -1] > 1e-6)  # ... when it ends
    iv[ok, window + 1] = 2 * np.pi * (window - 1 - last[ok]) / phase[ok, -1]
    out = np.full((n, 7), np.nan, np.float32)
    out[:, 0] = views[:, 0, ONEHOT:].argmax(axis=1)
    out[:, 1] = imp.sum(axis=1)
    some = ~np.isnan(iv).all(axis=1)
    out[some, 2] = np.nanmean(iv[some], axis=1)
    out[some, 3] = np.nanstd(iv[some], axis=1)
    out[some, 4] = np.nanmin(iv[some], axis=1)
    out[some, 5] = np.nanmax(iv[some], axis=1)
    out[has, 6] = first[has]
    return out


def kept_dataset(ds: Dataset, neutral: dict[str, str] | None = None,
                 keeps: tuple[str, ...] = ("activity", "step_timing"), context: tuple[int, int] = (128, 128)) -> Dataset:
    """``ds`` with each window replaced by its kept-feature view (unit scale: mean 0, std 1)."""
    lone = class_step_periods(ds.train, len(ds.activities), ds.config.stride, ds.sample_rate) \
        if "cadence" in keeps else None  # only a cadence lay has lone steps' periods
    views = {split: kept_views(getattr(ds, split), ds.activities, ds.config.stride, ds.sample_rate, neutral,
                               keeps, context, lone)
             for split in ("train", "test")}
    k = views["train"].shape[2]
    return replace(ds, train=ds.train.with_x(views["train"]), test=ds.test.with_x(views["test"]),
                   mean=np.zeros(k, np.float32), std=np.ones(k, np.float32))


def recording_rate_attack(ds: Dataset, cfg: AttackConfig = AttackConfig()) -> dict | None:
    """Gender of unseen people from each whole recording's activity and step rate (steps/min, the
    evaluation's counter on raw data), subject folds as ``attack_unseen_gender``: what a server that
    adds up a recording's forwarded steps reads, whatever the per-window lay. Any transform meeting the
    steps-per-recording row hands this over. Accuracy per recording, for logistic regression and trees."""
    import lightgbm as lgb
    from sklearn.linear_model import LogisticRegression

    from models.attackers import subject_folds
    from models.data import REQUIRED

    rows, gender, subject = [], [], []
    for split in (ds.train, ds.test):
        for rec in recording_series(split, ds.config.stride):
            name = ds.activities[rec.activity]
            if name in REQUIRED:
                rate = len(count_steps(rec.x[:, ACC], ds.sample_rate)) / (len(rec.x) / ds.sample_rate / 60)
                rows.append([*(np.array(REQUIRED) == name), rate])
                gender.append(rec.gender)
                subject.append(rec.subject)
    x, y, s = np.array(rows, np.float64), np.array(gender), np.array(subject)
    if len(set(y.tolist())) < 2:
        return None  # no recordings of the required activities, or one gender only: nothing to tell
    models = {"logreg": lambda: LogisticRegression(class_weight="balanced"),
              "gbt": lambda: lgb.LGBMClassifier(n_estimators=cfg.gbt_rounds, learning_rate=cfg.gbt_learning_rate,
                                                min_child_samples=5, class_weight="balanced",
                                                random_state=cfg.seed, n_jobs=1, verbose=-1)}
    correct = dict.fromkeys(models, 0)
    for held in subject_folds(s, {int(a): int(b) for a, b in zip(s, y)}, cfg.folds):
        test = np.isin(s, held)
        if not test.any():
            continue
        seen = np.unique(y[~test])
        for name, make in models.items():
            if len(seen) == 1:  # a train fold of one gender can only answer that gender
                pred = np.full(int(test.sum()), seen[0])
            else:
                pred = make().fit(x[~test], y[~test]).predict(x[test])
            correct[name] += int((pred == y[test]).sum())
    return {name: c / len(y) for name, c in correct.items()} | {"recordings": len(y)}


def frontier_attacks(ds: Dataset, cfg: AttackConfig = AttackConfig(), log=print,
                     neutral: dict[str, str] | None = None, keeps: tuple[str, ...] = ("activity", "step_timing"),
                     context: tuple[int, int] = (128, 128)) -> dict:
    """identity / gender_known / gender_unseen of ``run_attacks``, for attackers that see only the kept features.

    ``ds`` holds raw mag2 windows at the data config's stride; ``neutral`` maps a sensitive activity to the
    one it is shown as (e.g. ``{"jog": "std"}``).
    """
    kept = kept_dataset(ds, neutral, keeps, context)
    families = attacker_families(kept, cfg, features=summary_features)
    same = lambda x: x  # noqa: E731  the views are the data
    results = attack_known(kept, same, cfg, families, log)
    results["gender_unseen"] = attack_unseen_gender(kept, same, cfg, families)
    log(f"  frontier gender_unseen: {results['gender_unseen']}")
    return results
