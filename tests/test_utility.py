"""Utility metrics on continuous recordings (models/utility.py), on synthetic walks with known truth."""

from __future__ import annotations

import numpy as np
import pytest

from models.data import Windows, cut_windows, recording_series
from models.transforms import forwarded
from models.utility import label_only, plot_steps, utility_metrics
from tests.test_steps import FS, synthetic_walk

W = 128


def recordings(seed: int, n_per_activity: int = 4):
    """mag2 series [n, 2] (|gyro|, |acc|) of walks whose cadence and intensity differ per recording."""
    rng = np.random.default_rng(seed)
    out, acts = [], []
    for act, base in (("wlk", 112), ("dws", 118), ("ups", 100)):
        for k in range(n_per_activity):
            cad = base + rng.uniform(-12, 12, 3)
            amp = rng.uniform(0.3, 1.0, 3)
            acc, _ = synthetic_walk(cadences=cad, seconds=(12, 12, 12), amplitudes=amp, seed=int(rng.integers(1 << 30)))
            gyro = np.abs(0.8 * (acc - 1) + rng.normal(0, 0.05, len(acc)))
            out.append(np.stack([gyro, acc], axis=1).astype(np.float32))
            acts.append(act)
    return out, acts


@pytest.fixture(scope="module")
def data():
    return recordings(0), recordings(1)


def test_identity_forwarding_loses_nothing(data):
    (raw, acts), _ = data
    m = utility_metrics(raw, [r.copy() for r in raw], acts, FS)
    assert m["steps_rel_error"] == {"median": 0.0, "p90": 0.0}
    for q in ("step_rate", "cadence", "enmo", "gyro"):
        assert m[f"{q}_r"]["within"] == pytest.approx(1.0)
        assert all(v == pytest.approx(1.0) for v in m[f"{q}_r"]["per_activity"].values())
        assert set(m[f"{q}_r"]["per_activity"]) == {"wlk", "dws", "ups"}
    assert m["cadence_mae_spm"] == 0.0 and m["shape_r_median"] == pytest.approx(1.0)
    assert m["dropped_windows"] == 0 and m["notes"] == []


def test_one_stored_window_per_activity_keeps_nothing_within_activities(data):
    """The label-only transform dressed as a window: every window of an activity replaced by one stored window."""
    (raw, acts), _ = data
    stored = {a: raw[acts.index(a)][W:2 * W] for a in set(acts)}
    fwd = [forwarded(lambda w, a=a: np.broadcast_to(stored[a], w.shape), r, W) for r, a in zip(raw, acts)]
    m = utility_metrics(raw, fwd, acts, FS)
    for q in ("enmo", "gyro"):  # exactly constant within an activity
        assert m[f"{q}_r"]["within"] == 0.0
    assert any(n.startswith("enmo r within activity: forwarded constant") for n in m["notes"])
    for q in ("step_rate", "cadence"):  # constant but for the edges of each recording
        assert abs(m[f"{q}_r"]["within"]) < 0.25
    assert m["cadence_mae_spm"] > 3
    assert abs(m["shape_r_median"]) < 0.4


def test_label_only_column(data):
    (raw, acts), (train_raw, train_acts) = data
    m = label_only(train_raw, train_acts, raw, acts, FS)
    for q in ("step_rate", "cadence", "enmo", "gyro"):
        assert m[f"{q}_r"]["within"] == 0.0
        assert set(m[f"{q}_r"]["per_activity"].values()) == {0.0}
    assert m["shape_r_median"] == 0.0
    assert m["notes"] == [m["notes"][0]] and "undefined, reported 0.0" in m["notes"][0]
    # steps from median cadence x duration: close for this population (cadences within +-12 of the activity's)
    assert 0 < m["steps_rel_error"]["median"] < 0.15
    assert m["cadence_mae_spm"] > 2
    with pytest.raises(ValueError, match="no train recordings of ups"):
        label_only(train_raw[:8], train_acts[:8], raw, acts, FS)


def test_dropped_windows_are_nan_rows_and_cost_their_steps(data):
    (raw, acts), _ = data

    def drop_every_third(w):
        out = np.array(w, dtype=np.float32)
        out[::3] = np.nan
        return out

    fwd = [forwarded(drop_every_third, r, W) for r in raw]
    assert all(f.shape == r.shape for f, r in zip(fwd, raw))
    assert all(np.isnan(f[len(f) // W * W:]).all() for f in fwd)  # the tail is never sent
    m = utility_metrics(raw, fwd, acts, FS)
    n_windows = sum(len(r) // W for r in raw)
    assert m["dropped_windows"] == sum(len(range(0, len(r) // W, 3)) for r in raw)
    assert m["windows"] + m["dropped_windows"] == n_windows
    assert 0.2 < m["steps_rel_error"]["median"] < 0.45  # a third of the windows, their steps gone
    for q in ("enmo", "gyro"):  # kept windows are the raw ones
        assert m[f"{q}_r"]["within"] == pytest.approx(1.0)
    assert np.isfinite(m["cadence_mae_spm"]) and np.isfinite(m["shape_r_median"])


def test_scaled_forwarding_keeps_steps_and_shape():
    (raw, acts) = recordings(2, n_per_activity=2)
    fwd = [np.stack([0.5 * r[:, 0], 1 + 0.8 * (r[:, 1] - 1)], axis=1) for r in raw]
    m = utility_metrics(raw, fwd, acts, FS)
    assert m["steps_rel_error"]["p90"] <= 0.02
    assert m["enmo_r"]["within"] > 0.99 and m["gyro_r"]["within"] == pytest.approx(1.0)
    assert m["shape_r_median"] == pytest.approx(1.0)


def test_mismatched_lengths_are_refused(data):
    (raw, acts), _ = data
    with pytest.raises(ValueError, match="recording 0: forwarded shape"):
        utility_metrics(raw, [r[:-1] for r in raw], acts, FS)


def test_recording_series_rebuilds_the_continuous_recordings():
    rng = np.random.default_rng(0)
    series = [rng.normal(size=(n, 2)).astype(np.float32) for n in (300, 128, 455)]
    parts = [cut_windows(s, W, 10) for s in series]
    n = [len(p) for p in parts]
    w = Windows(x=np.concatenate(parts), activity=np.repeat([2, 0, 1], n), subject=np.repeat([5, 6, 7], n),
                gender=np.repeat([1, 0, 1], n), trial=np.repeat([11, 12, 13], n), recording=np.repeat([3, 4, 9], n))
    rebuilt = recording_series(w, stride=10)
    assert [r.recording for r in rebuilt] == [3, 4, 9] and [r.activity for r in rebuilt] == [2, 0, 1]
    assert [r.subject for r in rebuilt] == [5, 6, 7] and [r.trial for r in rebuilt] == [11, 12, 13]
    assert [r.first for r in rebuilt] == [0, n[0], n[0] + n[1]] and [r.windows for r in rebuilt] == n
    for s, r in zip(series, rebuilt):
        k = (len(s) - W) // 10 * 10 + W  # up to the end of the last window
        np.testing.assert_array_equal(r.x, s[:k])


def test_plot_steps_writes_a_png(data, tmp_path):
    (raw, acts), _ = data
    fwd = [forwarded(lambda w: w, r, W) for r in raw]
    path = tmp_path / "steps.png"
    plot_steps(raw, fwd, FS, path, activity=acts, recordings=3)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 20_000


def test_kept_cadence_steps_keep_the_step_rows_but_no_waveform(data):
    """The kept-features column: the raw steps laid as a cadence transform lays them keep every step
    of each recording and most of the per-window step rate (the counts are kept), not the step-to-step
    rhythm; the rows that need a waveform are left out (None), not guessed. Laid by step count alone
    they keep the steps and the per-window rate, and less of the cadence."""
    from analysis.steps import count_steps
    from models.frontier import laid_steps
    from models.utility import ACC, steps_only_metrics

    (raw, acts), _ = data
    steps = [count_steps(r[:, ACC], FS) for r in raw]
    exact = steps_only_metrics(raw, steps, acts, FS)
    assert exact["steps_rel_error"] == {"median": 0.0, "p90": 0.0} and exact["cadence_mae_spm"] == 0.0
    assert exact["enmo_r"] is None and exact["gyro_r"] is None and exact["shape_r_median"] is None
    full = [s[s < len(r) // W * W] for s, r in zip(steps, raw)]
    mae = {}
    for kept in ("cadence", "step_count"):
        sent = [laid_steps(s, len(r), W, ("activity", kept), (128, 128), FS) for s, r in zip(steps, raw)]
        assert all(abs(len(a) - len(b)) <= 1 for a, b in zip(sent, full)), kept
        m = steps_only_metrics(raw, sent, acts, FS)
        assert m["steps_rel_error"]["p90"] <= 0.02 and m["step_rate_r"]["within"] > 0.9, kept
        mae[kept] = m["cadence_mae_spm"]
    assert 0 < mae["cadence"] < 5 and mae["step_count"] > mae["cadence"], mae


def test_the_utility_table_shows_the_kept_features_column_without_waveform_rows(data):
    from analysis.steps import count_steps
    from models.report import utility_table
    from models.utility import ACC, steps_only_metrics

    (raw, acts), (train_raw, train_acts) = data
    fwd = {"transform": "t", "utility": utility_metrics(raw, [r.copy() for r in raw], acts, FS)}
    label = {"transform": "label", "kind": "label_only", "utility": label_only(train_raw, train_acts, raw, acts, FS)}
    kept = {"transform": "kept", "kind": "kept_utility",
            "utility": steps_only_metrics(raw, [count_steps(r[:, ACC], FS) for r in raw], acts, FS)}
    lines = utility_table([fwd, label, kept])
    assert lines[4] == "| utility (required activities, continuous test recordings) | t | label | kept |"
    rows = {line.split(" | ")[0].lstrip("| "): line.rstrip(" |").split(" | ")[1:] for line in lines[6:-1]}
    assert rows["step rate per window, r within activity"] == ["1.000", "0.000", "1.000"]
    assert rows["shape of abs(acc) vs raw, median r"] == ["1.000", "0.000", "-"]
    assert rows["ENMO per window, r within activity"][2] == "-"
    assert "The kept-features column" in lines[2]
