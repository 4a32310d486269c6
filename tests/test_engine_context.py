"""Bundles whose graph sees context around each window: release once the look-ahead is there,
the edge samples held past a stream's ends, every window emitted (first and last), flush on stream end."""

from __future__ import annotations

import numpy as np
import pytest

from edge_runtime.context import context_window, padded
from edge_runtime.engine import Engine, transform_windows
from edge_runtime.errors import BundleError
from edge_runtime.features import feature_set
from edge_runtime.testing import make_bundle
from edge_runtime.synthetic import synthetic_raw

W, B, A = 32, 16, 16
RATE = 50.0


def expected(feats: np.ndarray, start: int) -> np.ndarray:
    """What ``affine_ctx_mag2_w32`` returns for the window at ``start`` of a stream ``feats``."""
    x = context_window(feats, start, W, B, A)
    return x[B:B + W] * np.array([0.5, 2.0], np.float32) + np.array([0.25, -1.0], np.float32) + 0.01 * x[:, 1].mean()


@pytest.fixture
def ctx_bundle(tmp_path):
    return make_bundle(tmp_path / "ctx", "affine_ctx_mag2_w32", context=(B, A))


def test_every_window_of_a_stream_with_its_context(ctx_bundle):
    engine = Engine(ctx_bundle, stride=W)
    t, raw = synthetic_raw(10 * W + 5)
    records = []
    for i in range(0, len(t), 7):  # small pushes: windows leave as their look-ahead arrives
        records += engine.push("d", t[i:i + 7], raw[i:i + 7])
    assert len(records) == 10 - 1  # the last window still waits for its look-ahead...
    records += engine.flush("d")  # ...until the stream ends
    assert [r.seq for r in records] == list(range(10))
    feats = feature_set("mag2").from_raw(raw)
    for k, r in enumerate(records):
        np.testing.assert_allclose(r.values, expected(feats, k * W), rtol=1e-5, atol=1e-5)
        assert r.start_time == pytest.approx(t[k * W])


def test_a_window_leaves_when_its_look_ahead_has_arrived(ctx_bundle):
    engine = Engine(ctx_bundle, stride=W)
    t, raw = synthetic_raw(W + A)
    assert engine.push("d", t[:-1], raw[:-1]) == []
    (record,) = engine.push("d", t[-1:], raw[-1:])
    feats = feature_set("mag2").from_raw(raw)
    np.testing.assert_allclose(record.values, expected(feats, 0), rtol=1e-5, atol=1e-5)  # held history


def test_overlapping_windows_and_records_alike(ctx_bundle):
    engine = Engine(ctx_bundle, stride=10)
    t, raw = synthetic_raw(200)
    records = engine.push("d", t, raw) + engine.flush("d")
    assert len(records) == (200 - W) // 10 + 1
    assert {r.values.shape for r in records} == {(W, 2)}
    assert engine.flush("d") == []  # nothing left


def test_a_long_gap_flushes_the_old_timeline(ctx_bundle):
    engine = Engine(ctx_bundle, stride=W, max_gap=1.0)
    t, raw = synthetic_raw(3 * W)
    first = engine.push("d", t, raw)
    later = engine.push("d", t + 100.0, raw)  # a new timeline: the old one's last windows leave first
    assert len(first) + len(later) == 3 + 2
    assert [r.seq for r in first + later] == list(range(5))


def test_passthrough_of_the_centre_is_dropped(tmp_path):
    bundle = make_bundle(tmp_path / "c", "centre_ctx_mag2_w32", context=(B, A))
    engine = Engine(bundle, stride=W)
    t, raw = synthetic_raw(4 * W)
    assert engine.push("d", t, raw) + engine.flush("d") == []
    assert engine.stats()["d"]["drops"]["passthrough"] == 4


def test_bulk_windows_get_held_context(ctx_bundle):
    feats = feature_set("mag2").from_raw(synthetic_raw(3 * W)[1])
    windows = feats.reshape(3, W, 2)
    values, ok = transform_windows(ctx_bundle, windows)
    assert ok.all()
    for k in range(3):
        np.testing.assert_allclose(values[k], expected(windows[k], 0), rtol=1e-5, atol=1e-5)
    contexts = np.stack([context_window(feats, k * W, W, B, A) for k in range(3)])
    values2, _ = transform_windows(ctx_bundle, contexts)  # ready-made contexts are used as they are
    np.testing.assert_allclose(values2[1], expected(feats, W), rtol=1e-5, atol=1e-5)


def test_manifest_must_declare_the_context_the_model_takes(tmp_path):
    with pytest.raises(BundleError, match="before \\+ window \\+ after"):
        make_bundle(tmp_path / "bad", "affine_ctx_mag2_w32", context=(8, 8))


def test_context_window_holds_the_edge_samples_at_both_ends():
    s = np.arange(10, dtype=np.float32)[:, None]
    assert context_window(s, 0, 4, 3, 3).ravel().tolist() == [0, 0, 0, 0, 1, 2, 3, 4, 5, 6]
    assert context_window(s, 6, 4, 3, 3).ravel().tolist() == [3, 4, 5, 6, 7, 8, 9, 9, 9, 9]
    assert context_window(s[:1], 0, 1, 2, 2).ravel().tolist() == [0, 0, 0, 0, 0]  # a one-sample stream
    with pytest.raises(ValueError):
        context_window(s, 8, 4, 3, 3)


@pytest.mark.parametrize("before,after", [(3, 3), (0, 5), (4, 9), (9, 4)])
def test_padded_windows_match_each_window_padded_alone(before, after):
    windows = np.random.default_rng(3).normal(size=(6, 4, 2)).astype(np.float32)
    one_by_one = np.stack([context_window(x, 0, 4, before, after) for x in windows])
    assert np.array_equal(padded(windows, before, after), one_by_one)
    assert padded(windows, 3, 3)[0, :, 0].tolist() == windows[0, [0, 0, 0, 0, 1, 2, 3, 3, 3, 3], 0].tolist()
