"""The streaming engine on real (tiny) bundles: windows, strides, units, devices, gaps, async, bulk."""

from __future__ import annotations

import json
import math
import platform
import subprocess
import sys

import numpy as np
import pytest
from edge_runtime.testing import make_bundle
from edge_runtime.synthetic import synthetic_raw

from edge_runtime.engine import Engine, GuardedTransform, RawUnits, stack_values, transform_windows
from edge_runtime.errors import BundleError, UserError
from edge_runtime.interpreter import WindowInterpreter
from edge_runtime.transformed_window import TransformedWindow


@pytest.fixture(scope="module")
def affine(tmp_path_factory):
    return make_bundle(tmp_path_factory.mktemp("b") / "affine", "affine_mag2_w128", bundle_id="affine", version="7.1")


@pytest.fixture(scope="module")
def xyz6(tmp_path_factory):
    return make_bundle(tmp_path_factory.mktemp("b") / "xyz6", "affine_xyz6_w32", feature_set_name="xyz6", bundle_id="xyz")


def push_in_batches(engine, device, t, raw, size):
    out = []
    for i in range(0, len(t), size):
        out += engine.push(device, t[i:i + size], raw[i:i + size])
    return out


def test_windows_are_the_transform_of_non_overlapping_tiles(affine_mag2, affine):
    t, raw = synthetic_raw(1000)
    t = t + 1000.0
    engine = Engine(affine)
    records = push_in_batches(engine, "left-wrist", t, raw, 7)
    assert engine.stride == engine.window == 128
    assert len(records) == 1000 // 128
    feats = affine.feature_set.from_raw(raw)
    for k, r in enumerate(records):
        assert isinstance(r, TransformedWindow)
        assert r.seq == k and r.device_id == "left-wrist"
        assert r.start_time == pytest.approx(1000.0 + k * 128 / 50.0)
        assert r.sample_rate == 50.0 and r.channels == ("gyro_magnitude", "acc_magnitude") and r.units == ("rad/s", "g")
        assert (r.bundle_id, r.bundle_version) == ("affine", "7.1")
        assert r.values.shape == (128, 2) and r.values.dtype == np.float32
        np.testing.assert_allclose(r.values, affine_mag2(feats[k * 128:(k + 1) * 128]), rtol=1e-6, atol=1e-6)
    s = engine.stats()["left-wrist"]
    assert s["samples_in"] == 1000 and s["windows_emitted"] == 7 and s["windows_dropped"] == 0


def test_record_has_exactly_the_published_fields(affine):
    t, raw = synthetic_raw(128)
    (r,) = Engine(affine).push("d", t, raw)
    assert set(json.loads(r.to_json())) == {
        "device_id", "seq", "start_time", "sample_rate", "channels", "units", "values", "bundle_id", "bundle_version"
    }


@pytest.mark.parametrize("stride", [1, 32, 100, 200])
def test_stride(affine_mag2, affine, stride):
    t, raw = synthetic_raw(700)
    records = push_in_batches(Engine(affine, stride=stride), "d", t, raw, 33)
    starts = [int(round(r.start_time * 50)) for r in records]
    assert starts == list(range(0, 700 - 128 + 1, stride))
    feats = affine.feature_set.from_raw(raw)
    for r, s in zip(records, starts):
        np.testing.assert_allclose(r.values, affine_mag2(feats[s:s + 128]), rtol=1e-6, atol=1e-6)


def test_bundle_stride_can_be_asked_for(affine):
    assert Engine(affine, stride=affine.stride).stride == 10
    with pytest.raises(UserError):
        Engine(affine, stride=0)


def test_units_are_converted_at_the_edge(xyz6):
    t, raw = synthetic_raw(96)
    ref = push_in_batches(Engine(xyz6), "d", t, raw, 10)
    si = raw.astype(np.float64) * np.array([9.80665] * 3 + [180 / math.pi] * 3)
    got = push_in_batches(Engine(xyz6, units=RawUnits("m/s^2", "deg/s")), "d", t, si, 10)
    got2 = push_in_batches(Engine(xyz6, units="m/s^2,deg/s"), "d", t, si, 10)
    assert len(ref) == len(got) == len(got2) == 3
    for a, b, c in zip(ref, got, got2):
        np.testing.assert_allclose(b.values, a.values, rtol=1e-5, atol=1e-5)
        np.testing.assert_array_equal(b.values, c.values)
    # xyz6 affine: y = x * [1..6] + 0.5, so the raw units are visible per channel
    np.testing.assert_allclose(ref[0].values, raw[:32] * np.arange(1, 7) + 0.5, rtol=1e-5, atol=1e-5)
    with pytest.raises(UserError):
        RawUnits("furlongs/s^2", "rad/s")


def test_devices_are_independent(affine_mag2, affine):
    engine = Engine(affine)
    ta, ra = synthetic_raw(600, seed=1)
    tb, rb = synthetic_raw(600, seed=2)
    tb = tb + 55.5
    out = {"a": [], "b": []}
    for i in range(0, 600, 20):  # interleaved, as from one BLE gateway
        out["a"] += engine.push("a", ta[i:i + 20], ra[i:i + 20])
        out["b"] += engine.push("b", tb[i:i + 20], rb[i:i + 20])
    for dev, raw, t0 in (("a", ra, 0.0), ("b", rb, 55.5)):
        recs = out[dev]
        assert [r.seq for r in recs] == [0, 1, 2, 3]
        assert all(r.device_id == dev for r in recs)
        assert recs[0].start_time == pytest.approx(t0)
        np.testing.assert_allclose(stack_values(recs)[1], affine_mag2(affine.feature_set.from_raw(raw)[128:256]), atol=1e-5)
    assert set(engine.stats()) == {"a", "b"}
    assert engine.totals()["windows_emitted"] == 8


def test_long_gap_discards_the_partial_window_and_restarts(affine):
    t, raw = synthetic_raw(600)
    t = np.concatenate([t[:200], t[200:] + 10.0])  # 10 s silence after sample 200
    engine = Engine(affine)
    records = push_in_batches(engine, "d", t, raw, 25)
    starts = [r.start_time for r in records]
    # 200 samples: one window (0..127); 72 left over are discarded; then 400 samples: 3 windows
    assert starts == pytest.approx([0.0, t[200], t[200] + 128 / 50, t[200] + 256 / 50])
    assert [r.seq for r in records] == [0, 1, 2, 3]
    assert engine.stats()["d"]["restarts"] == 1


def test_short_gap_is_bridged(affine):
    t, raw = synthetic_raw(400)
    keep = np.r_[0:150, 160:400]  # 0.2 s of lost frames
    records = push_in_batches(Engine(affine), "d", t[keep], raw[keep], 16)
    assert [round(r.start_time * 50) for r in records] == [0, 128, 256]


def test_jittery_timestamps_still_give_a_regular_cadence(affine):
    t, raw = synthetic_raw(1300)
    t = t + np.random.default_rng(3).uniform(-0.003, 0.003, t.shape)
    records = push_in_batches(Engine(affine), "d", t, raw, 10)
    assert len(records) == 10
    np.testing.assert_allclose(np.diff([r.start_time for r in records]), 128 / 50, atol=1e-9)


def test_malformed_batches_are_counted_not_raised(affine):
    engine = Engine(affine)
    assert engine.push("d", [0.0, 0.02], np.zeros((2, 5))) == []
    assert engine.push("d", [0.0], np.zeros((2, 6))) == []
    assert engine.push("d", [0.0], [["x"] * 6]) == []
    assert engine.stats()["d"]["batches_malformed"] == 3
    t, raw = synthetic_raw(128)
    assert len(engine.push("d", t, raw)) == 1


def test_int8_bundles_track_float(tmp_path):
    f32 = make_bundle(tmp_path / "f", "conv_mag2_w128")
    i8 = make_bundle(tmp_path / "i", "conv_mag2_w128_int8", quantization="int8")
    i8io = make_bundle(tmp_path / "io", "conv_mag2_w128_int8io", quantization="int8")
    assert i8io.input.dtype == "int8"
    t, raw = synthetic_raw(512)
    outs = [stack_values(Engine(b).push("d", t, raw)) for b in (f32, i8, i8io)]
    assert all(o.shape == (4, 128, 2) for o in outs)
    scale = np.abs(outs[0]).max()
    for o in outs[1:]:
        assert np.abs(o - outs[0]).max() < 0.1 * scale


def test_transform_windows_matches_streaming_and_masks_failures(affine, tmp_path):
    t, raw = synthetic_raw(128 * 6)
    feats = affine.feature_set.from_raw(raw).reshape(6, 128, 2)
    values, ok = transform_windows(affine, feats, batch_size=4)
    assert ok.all()
    np.testing.assert_array_equal(values, stack_values(Engine(affine).push("d", t, raw)))
    gather = make_bundle(tmp_path / "g", "gather_oob_mag2_w128")
    bad = feats.copy()
    bad[[1, 4], 7, 1] = 500.0  # makes this model's invoke fail on windows 1 and 4
    values, ok = transform_windows(gather, bad)
    assert ok.tolist() == [True, False, True, True, False, True]
    assert np.isnan(values[~ok]).all() and np.isfinite(values[ok]).all()
    np.testing.assert_allclose(values[0], bad[0] * 0.5 + 0.25, atol=1e-6)
    with pytest.raises(UserError):
        transform_windows(affine, feats[:, :100])


def test_replace_bundle_keeps_sequence(affine, tmp_path):
    other = make_bundle(tmp_path / "o", "conv_mag2_w128", bundle_id="other", version="2")
    engine = Engine(affine)
    t, raw = synthetic_raw(512)
    first = engine.push("d", t[:256], raw[:256])
    engine.replace_bundle(other)
    second = engine.push("d", t[256:], raw[256:])
    assert [r.seq for r in first + second] == [0, 1, 2, 3]
    assert [r.bundle_id for r in first + second] == ["affine", "affine", "other", "other"]


def test_bad_bundles_are_refused(tmp_path):
    b = make_bundle(tmp_path / "b", "affine_mag2_w128")
    (b.path / "model.tflite").write_bytes((b.path / "model.tflite").read_bytes()[:-8] + b"\0" * 8)
    with pytest.raises(BundleError):
        Engine(b)  # the model changed after verification
    with pytest.raises(BundleError):
        Engine(tmp_path / "b")
    with pytest.raises(BundleError):
        Engine(tmp_path / "nothing-here")


def test_engine_never_imports_tensorflow(affine):
    code = (
        "import sys, numpy as np\n"
        "from edge_runtime.engine import Engine\n"
        f"e = Engine({str(affine.path)!r})\n"
        "t = np.arange(256) / 50.0\n"
        "raw = np.tile([0.0, 0.0, 1.0, 0.1, 0.0, 0.0], (256, 1))\n"
        "assert len(e.push('d', t, raw)) == 2\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras', 'tf_keras')]\n"
        "print(e.interpreter.backend, bad)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split()[0] == ("tflite_runtime" if platform.machine() == "armv7l" else "ai_edge_litert")
    assert out.stdout.strip().endswith("[]")


def test_transform_window_for_own_windowing(affine_mag2, affine):
    engine = Engine(affine)
    feats = affine.feature_set.from_raw(synthetic_raw(256)[1])
    first = engine.transform_window("d", 10.0, feats[:128])
    np.testing.assert_allclose(first.values, affine_mag2(feats[:128]), atol=1e-6)
    bad = feats[128:].copy()
    bad[5, 0] = np.nan
    assert engine.transform_window("d", 12.56, bad) is None
    t, raw = synthetic_raw(128)
    (pushed,) = engine.push("d", t + 20.0, raw)
    assert (first.seq, pushed.seq) == (0, 1)  # one sequence per device, whichever way windows came
    s = engine.stats()["d"]
    assert (s["windows_emitted"], s["windows_dropped"], s["drops"]["nan_input"]) == (2, 1, 1)


from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


@settings(max_examples=25, deadline=None)
@given(st.lists(st.integers(min_value=1, max_value=200), min_size=1, max_size=20), st.sampled_from([None, 10, 50]))
def test_batching_never_changes_the_records(affine, sizes, stride):
    t, raw = synthetic_raw(900, seed=4)
    t = t + np.random.default_rng(5).uniform(-0.004, 0.004, t.shape)
    ref = Engine(affine, stride=stride).push("d", t, raw)
    engine, got, i = Engine(affine, stride=stride), [], 0
    while i < len(t):
        for s in sizes:
            got += engine.push("d", t[i:i + s], raw[i:i + s])
            i += s
    assert [r.to_json() for r in got] == [r.to_json() for r in ref]


def test_replace_bundle_with_another_shape_restarts_windows_keeps_counters(affine, tmp_path):
    six = make_bundle(tmp_path / "six", "affine_xyz6_w32", feature_set_name="xyz6", bundle_id="six")
    engine = Engine(affine)
    t, raw = synthetic_raw(200)
    assert len(engine.push("d", t, raw)) == 1  # 72 samples left pending
    engine.replace_bundle(six)
    t2, raw2 = synthetic_raw(64)
    recs = engine.push("d", t2 + 4.0, raw2)
    assert [(r.seq, r.bundle_id, r.values.shape) for r in recs] == [(1, "six", (32, 6)), (2, "six", (32, 6))]
    assert recs[0].start_time == pytest.approx(4.0)  # the old partial window was not mixed in
    assert engine.stats()["d"]["samples_in"] == 264


def test_resume_sequence(affine):
    engine = Engine(affine)
    engine.resume_sequence("d", 41)
    t, raw = synthetic_raw(256)
    assert [r.seq for r in engine.push("d", t, raw)] == [41, 42]


class _Fixed(WindowInterpreter):
    """An interpreter returning a given output: the guard's checks in isolation."""

    backend = "fixed"
    input_shape = output_shape = (1, 128, 2)

    def __init__(self, y):
        self.y = y

    def run(self, x):
        return self.y


@pytest.mark.filterwarnings("ignore:invalid value encountered in dot")  # pytest resets the engine's filter
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_guard_drops_any_non_finite_output_value(bad):
    y = np.full((1, 128, 2), 0.5, np.float32)
    y[0, 77, 1] = bad
    x = np.ones((128, 2), np.float32)
    assert GuardedTransform(_Fixed(y), 128, 2)(x) == (None, "nan_output")
    x[3, 0] = bad
    assert GuardedTransform(_Fixed(y), 128, 2)(x) == (None, "nan_input")


def test_guard_keeps_extreme_finite_outputs():
    y = np.full((1, 128, 2), np.finfo(np.float32).max, np.float32)
    y[0, ::2] = -np.finfo(np.float32).max
    y[0, 1, 1] = np.finfo(np.float32).tiny
    out, reason = GuardedTransform(_Fixed(y), 128, 2)(np.zeros((128, 2), np.float32))
    assert reason is None and np.array_equal(out, y[0])


def test_transform_window_of_the_wrong_shape_is_dropped_and_counted(affine):
    engine = Engine(affine)
    assert engine.transform_window("d", 0.0, np.ones((64, 2), np.float32)) is None
    assert engine.transform_window("d", 0.0, [[1.0, 1.0]] * 128) is not None  # any array-like of the right shape
    s = engine.stats()["d"]
    assert (s["windows_dropped"], s["drops"]["shape"], s["windows_emitted"]) == (1, 1, 1)
