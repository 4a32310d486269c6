"""The frontier attackers (models/frontier.py) on synthetic walks whose cadence gives the gender away."""

from __future__ import annotations

import numpy as np
import pytest

from analysis.steps import count_steps
from models.data import ACTIVITIES, DataConfig, Dataset, Windows, cut_windows
from models.frontier import cadence_channels, count_channels, kept_views, step_channels, summary_features
from tests.test_steps import FS, synthetic_walk

pytest.importorskip("lightgbm")


def synthetic_dataset(subjects=6, seconds=24):
    """mag2 windows at stride 10: women step at ~125/min, men at ~95/min, each person a little apart."""
    rng = np.random.default_rng(0)
    parts = {k: [] for k in ("x", "activity", "subject", "gender", "trial", "recording")}
    rec = 0
    for s in range(subjects):
        gender = s % 2
        cadence = (95 if gender else 125) + 3 * (s // 2)
        for act in ("dws", "ups", "wlk", "jog"):
            for trial in (1, 2, 11):
                acc, _ = synthetic_walk((cadence + (40 if act == "jog" else 0),), (seconds,), (0.6,),
                                        seed=int(rng.integers(1 << 30)))
                series = np.stack([np.abs(acc - 1), acc], axis=1).astype(np.float32)
                w = cut_windows(series, 128, 10)
                for k, v in (("x", w), ("activity", ACTIVITIES.index(act)), ("subject", s), ("gender", gender),
                             ("trial", trial), ("recording", rec)):
                    parts[k].append(v if k == "x" else np.full(len(w), v))
                rec += 1
    allw = Windows(**{k: np.concatenate(v) for k, v in parts.items()})
    test = allw.trial == 11
    train = allw.select(~test)
    return Dataset(DataConfig(), None, train, allw.select(test), train.x.mean((0, 1)), train.x.std((0, 1)),
                   "synthetic", subjects={})


@pytest.fixture(scope="module")
def ds():
    return synthetic_dataset()


def test_views_carry_the_raw_step_events_and_the_shown_activity(ds):
    views = kept_views(ds.test, ACTIVITIES, 10, FS, neutral={"jog": "std"})
    assert views.shape == (len(ds.test), 128, 3 + len(ACTIVITIES))
    first = ds.test.recording == ds.test.recording[0]
    series = np.concatenate([ds.test.x[first][0], ds.test.x[first][1:, -10:].reshape(-1, 2)])
    steps = count_steps(series[:, 1], FS)
    j = 7  # a window in the middle of the first recording: its impulses are the recording's steps in it
    inside = steps[(steps >= 10 * j) & (steps < 10 * j + 128)] - 10 * j
    np.testing.assert_array_equal(np.flatnonzero(views[first][j, :, 0]), inside)
    norm = views[..., 1] ** 2 + views[..., 2] ** 2
    assert np.allclose(norm[norm > 0], 1.0, atol=1e-5)
    shown = views[:, 0, 3:].argmax(1)
    names = np.array(ACTIVITIES)[ds.test.activity]
    assert (shown[names == "jog"] == ACTIVITIES.index("std")).all()
    assert (shown[names == "wlk"] == ACTIVITIES.index("wlk")).all()


def test_cadence_views_space_each_windows_steps_evenly_between_the_steps_either_side():
    steps = np.array([100, 122, 152, 174, 204, 226, 256, 278, 308])  # short/long alternating (22, 30)
    v = cadence_channels(steps, 400, 128, 64, (128, 128), FS)
    assert v.shape == (5, 128, 3)
    # window 2 is [128, 256): 4 steps inside, between 122 and 256, so 5 intervals of 26.8 samples from 122
    np.testing.assert_array_equal(np.flatnonzero(v[2, :, 0]) + 128, [149, 176, 203, 230])
    f = summary_features(np.concatenate([v, np.zeros((5, 128, 5), np.float32)], axis=2))
    assert np.nanmax(f[1:4, 3]) < 1.0  # the wearer's spread (4 samples) is gone, but for rounding
    np.testing.assert_array_equal(f[1:5, 1], [4, 4, 5, 3])  # each window keeps its own step count
    # window 3 [192, 320) has no step after it within max_gap (the recording ends at 400): that side is one
    # mean period (26) past its last step, 308, so its 5 steps are spaced evenly from 174 to 334
    np.testing.assert_array_equal(np.flatnonzero(v[3, :, 0]) + 192, [201, 228, 254, 281, 308])
    # window 4 [256, 384) likewise, and it stops stepping half a period after its last step (321)
    assert np.flatnonzero(v[4, :, 1])[-1] + 256 == 321
    one = cadence_channels(np.array([200]), 400, 128, 64, (128, 128), FS)  # a lone step is sent as one step
    np.testing.assert_array_equal(one[:, :, 0].sum(1), [0, 0, 1, 1, 0])  # in each window that holds it
    assert (one[:, :, 1] != 0).sum(1).max() <= 26  # stepping only half a period (0.5 s) either side


def test_count_views_keep_each_windows_step_count_and_nothing_of_its_timing():
    steps = np.array([100, 122, 152, 174, 204, 226, 256, 278, 308])  # short/long alternating (22, 30)
    v = count_channels(steps, 400, 128, 64)
    f = summary_features(np.concatenate([v, np.zeros((5, 128, 5), np.float32)], axis=2))
    np.testing.assert_array_equal(f[:, 1], [2, 4, 4, 5, 3])  # each window's own count
    np.testing.assert_array_equal(np.flatnonzero(v[2, :, 0]), [16, 48, 80, 112])  # (2 j + 1) 128 / 8
    np.testing.assert_array_equal(np.flatnonzero(v[3, :, 0]), [13, 39, 64, 90, 116])  # ceil((2 j + 1) 12.8)
    shifted = count_channels(steps + 7, 400, 128, 64)  # the same counts, the steps elsewhere in the windows
    same = f[:, 1] == summary_features(np.concatenate([shifted, np.zeros((5, 128, 5), np.float32)], axis=2))[:, 1]
    np.testing.assert_array_equal(v[same], shifted[same])
    assert (v[:, :, 1] ** 2 + v[:, :, 2] ** 2 > 0.5).all()  # stepping throughout a window with a step
    assert not count_channels(np.array([], np.int64), 400, 128, 64).any()  # none: nothing


def test_summary_features_read_intervals_across_the_window_edges():
    steps = np.array([0, 20, 50, 80, 110, 150, 180])  # intervals 20, 30, 30, 30, 40, 30
    timing = step_channels(steps, 200, FS)
    view = np.concatenate([timing[30:158], np.zeros((128, 5), np.float32)], axis=1)  # window [30, 158)
    view[:, 3 + 2] = 1.0
    f = summary_features(view[None])[0]
    assert f[0] == 2 and f[1] == 4  # wlk, steps at 50, 80, 110, 150
    iv = [30, 30, 30, 40, 30]  # 20-50 cut by the start, three inside, 150-180 cut by the end
    np.testing.assert_allclose(f[2:6], [np.mean(iv), np.std(iv), 30, 40], rtol=1e-4)
    assert f[6] == 20
    empty = summary_features(np.zeros((1, 128, 8), np.float32))[0]
    assert empty[1] == 0 and np.isnan(empty[2:]).all()


@pytest.mark.timeout(600)
def test_frontier_attackers_read_gender_from_cadence(ds):
    pytest.importorskip("tensorflow")
    from models.attackers import AttackConfig
    from models.classifiers import ClassifierConfig
    from models.frontier import frontier_attacks

    tiny = ClassifierConfig(filters=(8,), dense=8, epochs=1)
    cfg = AttackConfig(subsample=3, folds=2, nn=tiny, nn_identity=tiny, nn_unseen=tiny, gbt_rounds=20)
    res = frontier_attacks(ds, cfg, log=lambda *_: None)
    assert set(res) == {"identity", "gender_known", "gender_unseen"}
    for name in res:
        assert all(0.0 <= res[name][fam] <= 1.0 for fam in ("nn", "gbt"))
    # cadence separates the genders by 30 steps/min: the trees on step intervals must see it, known or not
    assert res["gender_known"]["gbt"] > 0.9 and res["gender_unseen"]["gbt"] > 0.9
    assert len(res["gender_unseen"]["majority_per_fold"]) == 2
    assert res["identity"]["gbt"] > 2 / 6  # cadence also tells these 6 people apart, in part


def test_a_recordings_step_rate_tells_gender_when_cadence_does(ds):
    """What the steps-per-recording row hands a server that adds a recording's steps up: on the synthetic
    people (women ~125, men ~95 steps/min) their gender, per recording, for people it never saw."""
    from models.frontier import recording_rate_attack

    res = recording_rate_attack(ds)
    assert res["recordings"] == 6 * 3 * 3  # people x required activities x trials
    assert res["logreg"] >= 0.9 and res["gbt"] >= 0.5, res


def test_the_recording_rate_attack_needs_both_genders_and_answers_a_one_gender_fold_with_it(ds):
    """With one gender only there is nothing to tell (None). With one woman and one man in two folds, each
    train fold holds the other gender only, so each answer is that gender: every recording is missed."""
    from dataclasses import replace

    from models.attackers import AttackConfig
    from models.frontier import recording_rate_attack

    def people(keep):
        return replace(ds, train=ds.train.select(np.isin(ds.train.subject, keep)),
                       test=ds.test.select(np.isin(ds.test.subject, keep)))

    assert recording_rate_attack(people([0, 2, 4])) is None  # the synthetic people 0, 2, 4 are all women
    res = recording_rate_attack(people([0, 1]), AttackConfig(folds=2))
    assert res == {"logreg": 0.0, "gbt": 0.0, "recordings": 18}


def test_a_lone_step_takes_its_class_period_from_the_train_recordings(ds):
    """A cadence lay gives a lone step its class's default period (the graph's, learned on train data),
    never the wearer's context: ``class_step_periods`` is that default, the median step interval the
    evaluation's counter finds per activity (synthetic walks at 95-137 steps/min, jog 40 faster)."""
    from models.frontier import class_step_periods

    periods = class_step_periods(ds.train, len(ACTIVITIES), 10, FS)
    spm = 60 * FS / periods[[ACTIVITIES.index(a) for a in ("dws", "ups", "wlk", "jog")]]
    assert (95 <= spm[:3]).all() and (spm[:3] <= 140).all() and 130 <= spm[3] <= 180
    assert periods[ACTIVITIES.index("std")] == round(0.5 * FS)  # no std recordings here: 0.5 s
    # a lone step steps half its class's period either side of it ([128, 256) holds the step at 200 alone)
    for period in (30, 40):
        one = cadence_channels(np.array([200]), 400, 128, 64, (128, 128), FS, lone_period=period)
        assert one[2, :, 0].sum() == 1 and (one[2, :, 1] != 0).sum() == period + 1
