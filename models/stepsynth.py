"""The step-timing transform: keep the activity and the wearer's steps, replace everything else.

Each window leaves the device as population data laid on the wearer's own step timing: an on-device
classifier reads the activity from the window *and its context* (``before`` + ``after`` samples, so
its verdict is steadier than one window's), a fixed step detector finds the wearer's step events,
and every output sample is the matching phase of a *real* train step cycle of the recognised
activity, picked by the step's duration (a cadence bucket). A sensitive activity is emitted as its
neutral one; where there are no steps, a real still window. The steps survive, and with them each
window's step count (``timing="count"``), also its mean period (``"cadence"``) or each step's own time
(``"steps"``): what step counters and activity apps use; intensity, gait shape and every other trait
of the wearer do not, since the output is a function of (activity, step events) only.

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
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from edge_runtime.context import context_windows
from models.classifiers import ClassifierConfig, fit_classifier, predict
from models.data import DataConfig, Dataset, load_dataset, recording_series


@dataclass(frozen=True)
class DetectorConfig:
    """The in-graph step detector (fixed DSP, no learned weights): band-pass, then prominent local maxima.

    Chosen on train recordings to find the steps a standard band-pass + peak-picking counter finds
    (per window, the same count in 97.8% of train windows; the earlier 63-tap windowed-sinc FIR with an
    absolute and a context-relative threshold: 95.5%). The evaluation's counters are separate code.
    """

    band_hz: tuple[float, float] = (0.5, 3.5)
    order: int = 4  # the FIR is a zero-phase (forward-backward) Butterworth band-pass of this order...
    taps: int = 255  # ...truncated to 255 taps (5.1 s; the tails cut off are under 1% of its peak)
    peak_radius: int = 9  # a step is the largest value within +-9 samples (steps >= 0.2 s apart)
    threshold: float = 0.0  # band-passed standardised |acc| above this...
    relative: float = 0.0  # ...and above this share of the context's largest value
    prominence: float = 0.5  # and out of the troughs either side by max(0.1 g, 0.5 x the local RMS)
    prominence_floor_g: float = 0.1
    prominence_base: int = 17  # troughs: the minima over 17 samples before and after the step
    rms_window: int = 100  # local RMS over 2 s
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
    raw_activity: ClassifierConfig = ClassifierConfig(epochs=6, seed=13)  # the recipe's own, picks cycles...
    activity_ensemble: int = 3  # ...seeded seed, seed + 1, ...: a pick must not rest on one model's quirks
    train_subsample: int = 2  # of the raw train windows its own raw classifiers see
    gender: ClassifierConfig = ClassifierConfig(epochs=6, seed=11)  # the recipe's own, for balancing gender...
    identity: ClassifierConfig = ClassifierConfig(epochs=6, seed=11)  # ...or for picking strides of no cadence peer
    timing: str = "steps"  # "steps": each step's own duration; "cadence": each window's steps evenly spaced
    # between its neighbours (count and mean period); "count": only each window's step count
    seed: int = 0


def kept_features(cfg: StepSynthConfig) -> list[str]:
    """What the output is a function of (the manifest's ``keeps``; the frontier is computed for it)."""
    return ["activity", {"steps": "step_timing", "cadence": "cadence", "count": "step_count"}[cfg.timing]]


def steps_per_cell(timing: str) -> int:
    """Steps in one table cell (the layer decides: a stride on the cadence grid, else one step)."""
    from models.layers import steps_per_cell as of_layer

    return of_layer(timing)


def fir_bandpass(cfg: DetectorConfig, rate: float) -> np.ndarray:
    """The impulse response of a zero-phase Butterworth band-pass (filtered forward and backward), cut to
    ``taps``: symmetric, so no delay with 'same' padding."""
    from scipy.signal import butter, sosfiltfilt

    half = cfg.taps // 2
    impulse = np.zeros(4 * cfg.taps + 1)
    impulse[len(impulse) // 2] = 1.0
    sos = butter(cfg.order, cfg.band_hz, btype="band", fs=rate, output="sos")
    h = sosfiltfilt(sos, impulse)[len(impulse) // 2 - half:len(impulse) // 2 + half + 1]
    return h.astype(np.float32)


def detector_kwargs(d: DetectorConfig, acc_std: float) -> dict:
    """The detector's arguments of ``StepResynthesis`` (thresholds in standardised units: ``acc_std`` g each)."""
    return dict(peak_radius=d.peak_radius, fir_taps=d.taps, threshold=d.threshold, relative=d.relative,
                min_period=d.min_period, max_period=d.max_period, max_gap=d.max_gap, prominence=d.prominence,
                prominence_floor=d.prominence_floor_g / acc_std, prominence_base=d.prominence_base,
                rms_window=d.rms_window)


def build_layer(cfg: StepSynthConfig, ds: Dataset, rows: int):
    from models.layers import StepResynthesis

    acc = ds.features.channels.index("acc_magnitude")
    layer = StepResynthesis(
        cfg.before, ds.config.window, cfg.after, ds.features.n_channels, len(ds.activities), rows,
        cfg.cycle_len, cfg.buckets, cfg.bucket_min, cfg.bucket_width, acc_channel=acc, timing=cfg.timing,
        **detector_kwargs(cfg.detector, float(ds.std[acc])), name="step_resynthesis")
    layer.build(None)
    layer.fir.assign(fir_bandpass(cfg.detector, ds.sample_rate).reshape(-1, 1, 1))
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
    ds = load_dataset(data_dir, cfg.data)
    w, c, n_act = ds.config.window, ds.features.n_channels, len(ds.activities)
    recs = recording_series(ds.train, ds.config.stride)
    series = [ds.standardize(r.x) for r in recs]
    log(f"[{cfg.name}] {len(recs)} train recordings, {n_act} activities; step resynthesis ({cfg.timing} timing), "
        f"context {cfg.before}+{w}+{cfg.after}")

    # 1. the on-device activity classifier, on standardised contexts (edge samples held past a recording's ends)
    x, which, _ = contexts(series, cfg, w, cfg.context_stride)
    y = np.array([recs[i].activity for i in which])
    unit = np.zeros(c, np.float32), np.ones(c, np.float32)
    classifier = fit_classifier(x, y, n_act, *unit, cfg.activity, name="activity_on_device")
    log(f"  classifier trained on {len(x)} contexts: {float((predict(classifier, x).argmax(1) == y).mean()):.3f} "
        f"on them, {time.time() - t0:.0f} s")

    # 2. the wearer-side detector; real step cycles cut between its events on train recordings
    emitted = utility_labels(ds, cfg, np.arange(n_act))
    moving = [a for a in range(n_act) if ds.activities[a] not in ("std", "sit") and emitted[a] == a]
    n = steps_per_cell(cfg.timing)
    rows = len(moving) * cfg.buckets * cfg.cycle_len * n + w
    layer = build_layer(cfg, ds, rows)
    events = step_events(layer, series, cfg, w)
    cycles = cut_cycles(series, events, recs, cfg)
    log(f"  {len(cycles['activity'])} train step cycles, {time.time() - t0:.0f} s")

    # 3. the table: a real cycle per (moving activity, cadence bucket), one that the recipe's own raw
    #    activity classifiers all read surely as its activity when repeated at any of the cell's periods
    #    (as the cadence grid repeats it); a real still window
    own_activity = [own_raw_classifier(ds, cfg, "activity", replace(cfg.raw_activity, seed=cfg.raw_activity.seed + k),
                                       unit) for k in range(cfg.activity_ensemble)]
    tiled = np.stack([tile_cycle(cy, dur, w, n) for cy, dur in zip(cycles["cycle"], cycles["duration"])])
    if cfg.secret == "gender":  # p(gender 1) of each cycle
        secret_probs = predict(own_raw_classifier(ds, cfg, "gender", cfg.gender, unit), tiled)[:, 1]
    else:  # p(each person) of each cycle
        secret_probs = predict(own_raw_classifier(ds, cfg, "subject", cfg.identity, unit), tiled)
    consistent = detector_consistent(layer, cycles, cfg)
    reads_as = surely_read_as(own_activity, cycles["cycle"], w, n)
    table, base, period, picks = fill_table(ds, cfg, cycles, moving, emitted, reads_as, secret_probs, consistent)
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
    extra = {"context": {"before": cfg.before, "after": cfg.after}, "keeps": kept_features(cfg),
             "table_cycles": picks}
    return save_run(cfg, ds, transform, [classifier], seconds, out_dir, extra=extra, extra_macs=dsp)


def cut_cycles(series, events, recs, cfg: StepSynthConfig) -> dict:
    """The table's candidates: every run of ``steps_per_cell`` consecutive steps between the detector's
    events (each step resampled to ``cycle_len`` points), with its mean step duration."""
    d, n = cfg.detector, steps_per_cell(cfg.timing)
    out: dict[str, list] = {k: [] for k in ("cycle", "duration", "activity", "subject", "gender", "recording", "at")}
    for s, ev, r in zip(series, events, recs):
        for i in range(len(ev) - n):
            run = ev[i:i + n + 1]
            if ((d.min_period <= np.diff(run)) & (np.diff(run) <= d.max_period)).all():
                out["cycle"].append(np.concatenate([resample_cycle(s[a:b], cfg.cycle_len)
                                                    for a, b in zip(run[:-1], run[1:])]))
                for k, v in (("duration", int(round((run[-1] - run[0]) / n))), ("activity", r.activity),
                             ("subject", r.subject), ("gender", r.gender), ("recording", r.recording),
                             ("at", run[0])):
                    out[k].append(v)
    return {k: np.asarray(v) for k, v in out.items()}


def own_raw_classifier(ds: Dataset, cfg: StepSynthConfig, label: str, ccfg: ClassifierConfig, unit):
    """The recipe's own classifier of ``label`` on raw (standardised) train windows (of the required
    activities for gender): a stand-in for what an ordinary server would run, never the judges."""
    keep = np.arange(len(ds.train)) % cfg.train_subsample == 0
    if label == "gender":
        keep &= np.isin(np.array(ds.activities)[ds.train.activity], cfg.required)
    y = getattr(ds.train, label)[keep]
    return fit_classifier(ds.standardize(ds.train.x[keep]), y, int(y.max()) + 1, *unit, ccfg, name=f"{label}_on_raw")


def cycle_at(cycle: np.ndarray, duration: int, steps: int = 1) -> np.ndarray:
    """A table entry of ``steps`` steps, each resampled to ``duration`` samples, as the graph plays it."""
    return np.concatenate([resample_cycle(part, int(duration)) for part in np.split(cycle, steps)])


def tile_cycle(cycle: np.ndarray, duration: int, w: int, steps: int = 1, phase: int = 0) -> np.ndarray:
    """``w`` samples of a table entry repeated at ``duration`` samples a step, from ``phase``."""
    one = cycle_at(cycle, duration, steps)
    return np.tile(one, (int(np.ceil((w + phase) / len(one))) + 1, 1))[phase:phase + w].astype(np.float32)


def cell_periods(cfg: StepSynthConfig, b: int) -> list[int]:
    """The step durations the graph draws bucket ``b``'s cycle at (the end buckets also take the
    durations beyond them, up to a bucket width further)."""
    lo = cfg.bucket_min + b * cfg.bucket_width
    periods = list(range(lo, lo + cfg.bucket_width))
    if b == 0:
        periods.insert(0, lo - cfg.bucket_width)
    if b == cfg.buckets - 1:
        periods.append(lo + 2 * cfg.bucket_width - 1)
    return periods


def surely_read_as(models, cycles: np.ndarray, w: int, steps: int = 1):
    """``reads_as(rows, activity, periods)``: for each cycle in ``rows``, the least probability of
    ``activity`` (averaged over ``models``) over its windows repeated at each of ``periods``, starting
    at phase 0 and at half a step: how surely it reads as its activity wherever the grid puts it."""

    def reads_as(rows: np.ndarray, activity: int, periods) -> np.ndarray:
        x = np.stack([tile_cycle(cycles[i], p, w, steps, ph) for i in rows for p in periods for ph in (0, p // 2)])
        probs = np.mean([predict(m, x)[:, activity] for m in models], axis=0)
        return probs.reshape(len(rows), -1).min(axis=1)

    return reads_as


def detector_consistent(layer, cycles: dict, cfg: StepSynthConfig) -> np.ndarray:
    """Cycles whose repetition the graph's own detector reads as exactly one step per cycle, at its
    start (so the output's steps are where the wearer's were, and no more of them)."""
    n, steps = cfg.before + cfg.after + 128, steps_per_cell(cfg.timing)
    ok = np.zeros(len(cycles["cycle"]), bool)
    for lo in range(0, len(ok), 2048):
        cyc, dur = cycles["cycle"][lo:lo + 2048], cycles["duration"][lo:lo + 2048]
        x = np.stack([tile_cycle(c, d, n, steps) for c, d in zip(cyc, dur)])
        peaks = np.asarray(layer.detect(x))
        for i, (p, d) in enumerate(zip(peaks, dur)):
            want = np.arange(0, n, d)
            want = want[(want >= 32) & (want < n - 32)]
            got = np.flatnonzero(p[32:n - 32]) + 32
            ok[lo + i] = len(got) == len(want) and np.abs(got - want).max(initial=0) <= 1
    return ok


def fill_table(ds, cfg: StepSynthConfig, cycles: dict, moving, emitted, reads_as, secret_probs, consistent):
    """Per (moving activity, bucket), among its cycles the graph's detector reads as one step each
    (``consistent``) and the recipe's raw classifiers read surely as the activity at the cell's
    periods (top quarter by ``reads_as``), then the half the recipe's own secret classifier reads
    as the gender the cell is assigned (cells alternating; ``secret_probs`` [n]: p(gender 1)), or
    the half whose person it guesses (``secret_probs`` [n, people]) is least often one who walks at
    the cell's cadence (the cell's people in train data: the output of a cadence is then no clue to
    who has it): the one nearest the cell's median shape, a typical real step."""
    w, cl = ds.config.window, cfg.cycle_len * steps_per_cell(cfg.timing)  # rows per cell
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
            pool = own & consistent if (own & consistent).sum() >= 20 else own
            cell = np.flatnonzero(pool & (bucket == b))
            if len(cell) < 20:  # too few: the nearest bucket's cycles
                near = np.abs(bucket[pool] - b)
                cell = np.flatnonzero(pool)[near <= np.sort(near)[min(40, len(near) - 1)]]
            shape_pool = cell
            surely = reads_as(cell, a, cell_periods(cfg, b))
            top = surely >= np.quantile(surely, 0.75)
            cell, surely = cell[top], surely[top]
            if secret_probs.ndim == 1:
                want = (k + b) % 2
                p = secret_probs[cell] if want == 1 else 1 - secret_probs[cell]
            else:  # minus how often its guessed person is one of the cell's own people
                peers = np.bincount(cycles["subject"][own & (bucket == b)], minlength=secret_probs.shape[1])
                p = -(secret_probs[cell] @ (peers / max(peers.sum(), 1)))
            keep = p >= np.median(p)
            cell, surely, p = cell[keep], surely[keep], p[keep]
            median = np.median(cycles["cycle"][shape_pool], 0)
            j = int(np.argmin(((cycles["cycle"][cell] - median) ** 2).sum(axis=(1, 2))))
            i = int(cell[j])
            table[base[a] + b * cl: base[a] + (b + 1) * cl] = cycles["cycle"][i]
            picks.append({"activity": ds.activities[a], "bucket": b, "subject": int(cycles["subject"][i]),
                          "recording": int(cycles["recording"][i]), "at": int(cycles["at"][i]),
                          "duration": int(cycles["duration"][i]),
                          "read_as_activity": round(float(surely[j]), 4),
                          **({"read_as_gender1": round(float(secret_probs[i]), 4)} if secret_probs.ndim == 1 else
                             {"guessed_as_a_peer": round(float(-p[j]), 4)})})
    for a in range(n_act):  # a sensitive activity is emitted as its neutral one
        base[a], period[a] = base[emitted[a]], period[emitted[a]]
    return table, base, period, picks


def still_window(ds: Dataset, data_dir) -> np.ndarray:
    """A real standing window (standardised with ``ds``'s statistics): the median-energy one."""
    full = ds if "std" in ds.activities else load_dataset(data_dir, DataConfig(), progress=False)
    x = full.train.x[np.array(full.activities)[full.train.activity] == "std"]
    energy = x[:, :, 0].std(1) + x[:, :, 1].std(1)
    return ds.standardize(x[np.argsort(energy)[len(x) // 2]])
