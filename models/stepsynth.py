"""The step-timing transform: keep the activity and the wearer's steps, replace everything else.

Each window leaves the device as population data laid on the wearer's own step timing: an on-device
classifier reads the activity from the window *and its context* (``before`` + ``after`` samples, so
its verdict is steadier than one window's), a fixed step detector finds the wearer's step events,
and every output sample is the matching phase of a *real* train step cycle of the recognised
activity, picked by the step's duration (a cadence bucket). A sensitive activity is emitted as its
neutral one; where there are no steps, a real still window. Steps, cadence and their timing survive
(what step counters and activity apps use); intensity, gait shape and every other trait of the
wearer do not, since the output is a function of (activity, step events) only.

Why real cycles, one per (activity, cadence bucket): a population *mean* cycle is blurred, and
classifiers trained on ordinary data read it as another activity; consecutive steps of different
durations draw different real cycles, so the output keeps stride-to-stride texture. Cycles are cut
between consecutive events of the *same* detector the graph runs, so the output's peaks sit where
the wearer's steps were. Which cycle a cell gets is decided on train data only, by the recipe's own
classifiers (never the evaluation judges): a cycle whose windows the recipe's activity classifier
reads as its activity, and, when the secret is gender, cells alternate between cycles its own gender
classifier reads as one gender or the other, so no gender is the output's default.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edge_runtime.context import context_windows
from models.classifiers import ClassifierConfig, fit_classifier, predict
from models.data import DataConfig, Dataset, load_dataset, recording_series


@dataclass(frozen=True)
class DetectorConfig:
    """The in-graph step detector (fixed DSP, no learned weights): FIR band-pass + local maxima."""

    band_hz: tuple[float, float] = (0.6, 3.5)
    taps: int = 63
    peak_radius: int = 8  # a step is the largest value within +-8 samples (steps >= 0.18 s apart)
    threshold: float = 0.15  # band-passed standardised |acc| above this...
    relative: float = 0.15  # ...and above this share of the context's largest value
    min_period: int = 12  # samples: 250 steps/min
    max_period: int = 50  # 60 steps/min
    max_gap: int = 75  # no step for 1.5 s: not stepping


@dataclass(frozen=True)
class StepSynthConfig:
    name: str
    data: DataConfig
    required: tuple[str, ...]
    sensitive: tuple[str, ...]  # emitted as the first neutral activity
    neutral: tuple[str, ...]
    secret: str  # "gender" | "subject": what the recipe is evaluated for hiding
    before: int = 128  # context samples the graph sees before the window...
    after: int = 128  # ...and after it (the look-ahead: a window leaves after/rate seconds later)
    detector: DetectorConfig = field(default_factory=DetectorConfig)
    cycle_len: int = 64  # table points per step cycle
    buckets: int = 7  # cadence buckets of step duration: [min, min + width), ...
    bucket_min: int = 18
    bucket_width: int = 3
    activity: ClassifierConfig = ClassifierConfig(filters=(16, 32, 48), epochs=10, seed=7)
    context_stride: int = 32  # train contexts every 32 samples
    gender: ClassifierConfig = ClassifierConfig(epochs=6, seed=11)  # the recipe's own, for balancing
    seed: int = 0


def fir_bandpass(cfg: DetectorConfig, rate: float) -> np.ndarray:
    """A linear-phase windowed-sinc band-pass (no delay with 'same' padding)."""
    lo, hi = (f / rate for f in cfg.band_hz)
    n = np.arange(cfg.taps) - (cfg.taps - 1) / 2
    h = (2 * hi * np.sinc(2 * hi * n) - 2 * lo * np.sinc(2 * lo * n)) * np.hamming(cfg.taps)
    return h.astype(np.float32)


def build_layer(cfg: StepSynthConfig, ds: Dataset, rows: int):
    from models.layers import StepResynthesis

    d = cfg.detector
    layer = StepResynthesis(
        cfg.before, ds.config.window, cfg.after, ds.features.n_channels, len(ds.activities), rows,
        cfg.cycle_len, cfg.buckets, cfg.bucket_min, cfg.bucket_width, d.peak_radius, d.taps,
        ds.features.channels.index("acc_magnitude"), d.threshold, d.relative, d.min_period, d.max_period,
        d.max_gap, name="step_resynthesis")
    layer.build(None)
    layer.fir.assign(fir_bandpass(d, ds.sample_rate).reshape(-1, 1, 1))
    return layer


def contexts(series, cfg: StepSynthConfig, window: int, stride: int):
    """Context windows of each series every ``stride`` samples: ``(x [n, length, c], series index, start)``."""
    xs, which, starts = [], [], []
    for i, s in enumerate(series):
        st = np.arange(0, len(s) - window + 1, stride)
        xs.append(context_windows(s, st, window, cfg.before, cfg.after))
        which.append(np.full(len(st), i))
        starts.append(st)
    return np.concatenate(xs), np.concatenate(which), np.concatenate(starts)


def step_events(layer, series, cfg: StepSynthConfig, window: int) -> list[np.ndarray]:
    """The graph's own step events on each whole series (window by window, as deployed)."""
    x, which, starts = contexts(series, cfg, window, window)
    peaks = np.concatenate([np.asarray(layer.detect(x[i:i + 4096])) for i in range(0, len(x), 4096)])
    centre = peaks[:, cfg.before:cfg.before + window]
    out = []
    for i in range(len(series)):
        rows = np.flatnonzero(which == i)
        out.append(np.concatenate([starts[r] + np.flatnonzero(centre[r]) for r in rows]))
    return out


def resample_cycle(segment: np.ndarray, points: int) -> np.ndarray:
    t = np.linspace(0, len(segment), points, endpoint=False)
    return np.stack([np.interp(t, np.arange(len(segment)), segment[:, c]) for c in range(segment.shape[1])], -1)


def train_stepsynth(cfg: StepSynthConfig, data_dir=None, out_dir: str | Path = "runs", log=print) -> Path:
    import keras

    from models.architectures import macs
    from models.runs import save_run, utility_labels

    t0 = time.time()
    keras.utils.set_random_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    ds = load_dataset(data_dir, cfg.data)
    w, c, n_act = ds.config.window, ds.features.n_channels, len(ds.activities)
    recs = recording_series(ds.train, ds.config.stride)
    series = [ds.standardize(r.x) for r in recs]
    log(f"[{cfg.name}] {len(recs)} train recordings, {n_act} activities; step-timing transform, "
        f"context {cfg.before}+{w}+{cfg.after}")

    # 1. the on-device activity classifier, on standardised contexts (reflected at recording edges)
    x, which, _ = contexts(series, cfg, w, cfg.context_stride)
    y = np.array([recs[i].activity for i in which])
    unit = np.zeros(c, np.float32), np.ones(c, np.float32)
    classifier = fit_classifier(x, y, n_act, *unit, cfg.activity, name="activity_on_device")
    log(f"  classifier trained on {len(x)} contexts: {float((predict(classifier, x).argmax(1) == y).mean()):.3f} "
        f"on them, {time.time() - t0:.0f} s")

    # 2. the wearer-side detector; real step cycles cut between its events on train recordings
    emitted = utility_labels(ds, cfg, np.arange(n_act))
    moving = [a for a in range(n_act) if ds.activities[a] not in ("std", "sit") and emitted[a] == a]
    rows = len(moving) * cfg.buckets * cfg.cycle_len + w
    layer = build_layer(cfg, ds, rows)
    events = step_events(layer, series, cfg, w)
    cycles = cut_cycles(series, events, recs, cfg)
    log(f"  {len(cycles['activity'])} train step cycles, {time.time() - t0:.0f} s")

    # 3. the table: a real cycle per (moving activity, cadence bucket); a real still window
    secret_probs = None
    if cfg.secret == "gender":
        secret_probs = own_gender_reading(ds, cfg, cycles, unit)
    table, base, period, picks = fill_table(ds, cfg, cycles, moving, emitted, secret_probs, rng)
    table[-w:] = still_window(ds, data_dir)
    layer.table.assign(table)
    layer.base.assign(base)
    layer.default_period.assign(period)
    log(f"  table: {len(moving)} moving activities x {cfg.buckets} cadence buckets; cycles from "
        f"{len({p['subject'] for p in picks})} people, {time.time() - t0:.0f} s")

    # 4. the transform: standardised context -> (classifier, detector) -> standardised window
    inp = keras.Input((cfg.before + w + cfg.after, c), name="window")
    transform = keras.Model(inp, layer(inp, classifier(inp)), name=cfg.name.replace("-", "_"))
    seconds = time.time() - t0
    dsp = (cfg.before + w + cfg.after) * cfg.detector.taps
    log(f"[{cfg.name}] trained in {seconds:.0f} s ({macs(classifier)} + {dsp} MACs/window)")
    extra = {"context": {"before": cfg.before, "after": cfg.after}, "keeps": ["activity", "step_timing"],
             "table_cycles": picks}
    return save_run(cfg, ds, transform, [classifier], seconds, out_dir, extra=extra, extra_macs=dsp)


def cut_cycles(series, events, recs, cfg: StepSynthConfig) -> dict:
    d = cfg.detector
    out: dict[str, list] = {k: [] for k in ("cycle", "duration", "activity", "subject", "gender", "recording", "at")}
    for s, ev, r in zip(series, events, recs):
        for a, b in zip(ev[:-1], ev[1:]):
            if d.min_period <= b - a <= d.max_period:
                out["cycle"].append(resample_cycle(s[a:b], cfg.cycle_len))
                for k, v in (("duration", b - a), ("activity", r.activity), ("subject", r.subject),
                             ("gender", r.gender), ("recording", r.recording), ("at", a)):
                    out[k].append(v)
    return {k: np.asarray(v) for k, v in out.items()}


def own_gender_reading(ds: Dataset, cfg: StepSynthConfig, cycles: dict, unit) -> np.ndarray:
    """P(gender 1) of each cycle, read by the recipe's own raw gender classifier on a window of that
    cycle repeated (trained on raw train windows of the required activities, never the judges)."""
    req = np.isin(np.array(ds.activities)[ds.train.activity], cfg.required)
    z = ds.standardize(ds.train.x[req])
    model = fit_classifier(z, ds.train.gender[req], 2, *unit, cfg.gender, name="gender_on_raw")
    w = ds.config.window
    tiled = np.stack([tile_cycle(cy, dur, w) for cy, dur in zip(cycles["cycle"], cycles["duration"])])
    return predict(model, tiled)[:, 1]


def tile_cycle(cycle: np.ndarray, duration: int, w: int) -> np.ndarray:
    """A window of ``cycle`` (resampled to ``duration`` samples) repeated, as the graph would emit it."""
    one = resample_cycle(cycle, int(duration))
    return np.tile(one, (int(np.ceil(w / len(one))) + 1, 1))[:w].astype(np.float32)


def fill_table(ds, cfg: StepSynthConfig, cycles: dict, moving, emitted, secret_probs, rng):
    """Per (moving activity, bucket): the real cycle nearest its cell's median shape; with gender the
    secret, among the cycles read as the gender the cell is assigned (cells alternate)."""
    w, cl = ds.config.window, cfg.cycle_len
    n_act = len(ds.activities)
    table = np.zeros((len(moving) * cfg.buckets * cl + w, ds.features.n_channels), np.float32)
    base = np.full(n_act, -1, np.int32)
    period = np.full(n_act, 28, np.int32)
    bucket = np.clip((cycles["duration"] - cfg.bucket_min) // cfg.bucket_width, 0, cfg.buckets - 1)
    picks = []
    for k, a in enumerate(moving):
        base[a] = k * cfg.buckets * cl
        own = cycles["activity"] == a
        if not own.any():
            raise RuntimeError(f"no train step cycle of {ds.activities[a]}")
        period[a] = int(np.median(cycles["duration"][own]))
        for b in range(cfg.buckets):
            cell = np.flatnonzero(own & (bucket == b))
            if len(cell) < 5:  # too few: the nearest bucket's cycles
                near = np.abs(bucket[own] - b)
                cell = np.flatnonzero(own)[near <= np.sort(near)[min(20, len(near) - 1)]]
            if secret_probs is not None:
                want = (k + b) % 2
                p = secret_probs[cell] if want == 1 else 1 - secret_probs[cell]
                cell = cell[p >= np.quantile(p, 0.75)]
            shape = cycles["cycle"][cell]
            i = int(cell[np.argmin(((shape - np.median(shape, 0)) ** 2).sum(axis=(1, 2)))])
            table[base[a] + b * cl: base[a] + (b + 1) * cl] = cycles["cycle"][i]
            picks.append({"activity": ds.activities[a], "bucket": b, "subject": int(cycles["subject"][i]),
                          "recording": int(cycles["recording"][i]), "at": int(cycles["at"][i]),
                          "duration": int(cycles["duration"][i])})
    for a in range(n_act):  # a sensitive activity is emitted as its neutral one
        base[a], period[a] = base[emitted[a]], period[emitted[a]]
    return table, base, period, picks


def still_window(ds: Dataset, data_dir) -> np.ndarray:
    """A real standing window (standardised with ``ds``'s statistics): the median-energy one."""
    full = ds if "std" in ds.activities else load_dataset(data_dir, DataConfig(), progress=False)
    x = full.train.x[np.array(full.activities)[full.train.activity] == "std"]
    energy = x[:, :, 0].std(1) + x[:, :, 1].std(1)
    return ds.standardize(x[np.argsort(energy)[len(x) // 2]])
