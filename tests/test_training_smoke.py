"""Smoke training on the committed fixture: judges, attackers, both recipes and the report, end to end."""

import json
from dataclasses import replace

import numpy as np
import pytest

pytest.importorskip("tensorflow")

from models.attackers import AttackConfig, run_attacks, subject_folds  # noqa: E402
from models.classifiers import ClassifierConfig  # noqa: E402
from models.data import DataConfig, load_dataset  # noqa: E402
from models.evaluation import evaluate  # noqa: E402
from models.frozen_judges import Judges  # noqa: E402
from models.recipes import RECIPES, tiny, train_recipe  # noqa: E402
from models.report import write  # noqa: E402
from models.transforms import Identity, KerasRun, Noise, Resample  # noqa: E402

TINY_ATTACK = AttackConfig(subsample=1, folds=2, nn=ClassifierConfig(epochs=1), nn_identity=ClassifierConfig(epochs=1),
                           gbt_rounds=10)


@pytest.fixture(scope="module")
def mini_ds(tmp_path_factory):
    from pathlib import Path

    return load_dataset(Path(__file__).parent / "fixtures" / "motionsense_mini", DataConfig(), progress=False)


def test_subject_folds_keep_both_genders_and_cover_everyone():
    subjects = np.arange(24)
    genders = {s: int(s % 3 == 0) for s in range(24)}
    folds = subject_folds(subjects, genders, 4)
    assert sorted(np.concatenate(folds).tolist()) == list(range(24))
    for f in folds:
        assert {genders[int(s)] for s in f} == {0, 1}


def test_judges_attackers_and_report_run_end_to_end(mini_ds, tmp_path):
    judges = Judges(mini_ds, tmp_path / "judges")
    meta = judges.train_missing(log=lambda *_: None)
    assert set(meta) == {"activity5", "activity4", "identity", "gender"}
    report = evaluate(mini_ds, judges, Identity(), attack_config=TINY_ATTACK, log=lambda *_: None)
    cm = np.array(report["judges"]["activity5"]["confusion"])
    assert cm.sum() == len(mini_ds.test)
    for k in ("identity", "gender_known", "gender_unseen"):
        assert 0.0 <= report["attackers"][k]["nn"] <= 1.0 and 0.0 <= report["attackers"][k]["gbt"] <= 1.0
    assert 0.0 <= report["attackers"]["activity_retrained"]["nn"] <= 1.0
    assert report["judges"]["fidelity"]["mse_standardized"] == 0.0  # raw vs raw
    noisy = evaluate(mini_ds, judges, Noise(1.0, std=mini_ds.std), attackers=False)
    assert noisy["judges"]["fidelity"]["mse_standardized"] > 0.5
    out = write([report, noisy], tmp_path / "report", mini_ds, [Identity(), Resample(4)])
    assert json.loads((out / "report.json").read_text())[0]["transform"] == "raw"
    md = (out / "report.md").read_text()
    assert "| raw |" in md and "noise/1std" in md
    assert (out / "confusion.png").stat().st_size > 1000 and (out / "signals.png").stat().st_size > 1000


@pytest.mark.parametrize("recipe", sorted(RECIPES))
def test_recipe_trains_and_writes_a_convertible_run(recipe, mini_ds, tmp_path):
    from pathlib import Path

    cfg = tiny(RECIPES[recipe])
    if hasattr(cfg, "train_subsample"):
        cfg = replace(cfg, train_subsample=1)
    run_dir = train_recipe(cfg, Path(__file__).parent / "fixtures" / "motionsense_mini", tmp_path, log=lambda *_: None)
    info = json.loads((run_dir / "run.json").read_text())
    assert info["recipe"] == recipe and info["window"] == 128 and info["feature_set"] == "mag2"
    assert len(info["norm"]["mean"]) == 2 and info["macs_per_window"] > 0
    t = KerasRun(run_dir)
    y = t(mini_ds.test.x[:5])
    assert y.shape == (5, 128, 2) and np.isfinite(y).all()


def test_baselines_keep_shape():
    x = np.random.default_rng(0).normal(size=(3, 128, 2)).astype(np.float32)
    assert Resample(5)(x).shape == x.shape
    np.testing.assert_allclose(Resample(5)(x)[:, ::5], x[:, ::5], atol=1e-6)
    assert Noise(0.1)(x).shape == x.shape


def test_template_transform_emits_only_the_recognised_class_template(mini_ds, tmp_path):
    """Whatever the window, the output is one of the class templates: a sensitive class's is its
    neutral class's, and windows recognised alike come out byte-identical."""
    from pathlib import Path

    import keras

    cfg = replace(tiny(RECIPES["motionsense-gender-label"]), train_subsample=1)
    run_dir = train_recipe(cfg, Path(__file__).parent / "fixtures" / "motionsense_mini", tmp_path, log=lambda *_: None)
    t = KerasRun(run_dir)
    x = mini_ds.test.x[::7]
    y = t(x)
    model = t.model
    classifier = model.get_layer("activity_on_device")
    templates = np.asarray(model.get_layer("templates").templates)
    names = list(mini_ds.activities)
    assert np.array_equal(templates[names.index("jog")], templates[names.index("std")])
    recognised = np.asarray(classifier(mini_ds.standardize(x))).argmax(1)
    expected = templates[recognised] * mini_ds.std + mini_ds.mean
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-5)
    assert len(np.unique(y.reshape(len(y), -1), axis=0)) <= len(set(recognised))
    keras.backend.clear_session()


def test_gender_balanced_templates_make_a_gender_classifier_right_half_the_time():
    """Three classes, 60% gender 1 in each: the assignment closest to 50% wins, and each class's
    template is a window its gender classifier reads as the gender assigned to that class."""
    from models.templates import balance_gender

    rng = np.random.default_rng(0)
    n = 600
    activity = np.repeat([0, 1, 2], n // 3)
    gender = (rng.random(n) < 0.6).astype(int)
    z = rng.normal(size=(n, 16, 2)).astype(np.float32)
    probs = np.eye(3)[activity] * 0.9 + 0.05
    gender_probs = np.stack([1 - gender * 0.95 - 0.02, gender * 0.95 + 0.02], axis=1)  # reads the truth
    weights = np.array([1 / 3] * 3)
    share1 = np.array([gender[activity == a].mean() for a in range(3)])
    out, genders, acc = balance_gender(z, activity, gender, probs, gender_probs, [0, 1, 2], 100, 0.9, z[:3])
    every = [float(np.sum(weights * np.where(np.array(g) == 1, share1, 1 - share1)))
             for g in np.ndindex(2, 2, 2)]
    assert abs(acc - 0.5) == min(abs(a - 0.5) for a in every) and abs(acc - 0.5) < 0.1
    assert set(genders.values()) == {0, 1}  # all one gender would be right 40% or 60% of the time
    for a, g in genders.items():
        row = next(i for i in np.flatnonzero(activity == a) if np.array_equal(z[i], out[a]))
        assert gender[row] == g
