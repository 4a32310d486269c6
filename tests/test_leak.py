"""Nothing raw leaves the engine: every emitted byte is inspected for the recognisable input.

The raw stream carries a signature: magnitudes cycling through well-known constants (pi, e, the
golden ratio, sqrt 2 for acceleration; Euler-Mascheroni, Apery, Catalan for angular rate), written
into one axis each so the raw components carry them too. Healthy models emit only their outputs;
models that fail in every way we can build (the invoke errors, NaN, a wrong shape at run time, a
graph that hands its input back, a wrong static shape, a model changed after verification) emit
nothing at all, and every lost window is counted.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from edge_runtime.testing import make_bundle, model_bytes

from edge_runtime.engine import Engine
from edge_runtime.errors import BundleError
from edge_runtime.interpreter import TFLiteInterpreter
from edge_runtime.transformed_window import _fixed

ACC_SIGNATURE = (3.14159265, 2.71828183, 1.61803399, 1.41421356)
GYRO_SIGNATURE = (0.57721566, 1.20205690, 0.91596559)
N = 128 * 8 + 50  # eight windows and a partial one


def signature_stream(offset: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Raw samples whose magnitudes (and one component each) spell the signature."""
    i = np.arange(N)
    acc = np.array(ACC_SIGNATURE)[i % 4] + offset
    gyro = np.array(GYRO_SIGNATURE)[i % 3]
    raw = np.zeros((N, 6), np.float32)
    raw[:, 2] = -acc  # gravity-like, on z
    raw[:, 3] = gyro
    return i / 50.0, raw


def needles(raw: np.ndarray) -> list[bytes]:
    """Byte strings that would betray raw data: every way a signature value may be printed."""
    vals = set(np.abs(raw[raw != 0]).astype(np.float32).tolist())
    out = []
    for v in vals:
        out += [_fixed(v).encode(), _fixed(-v).encode(), f"{v:.6f}".encode(), repr(float(np.float32(v)))[:8].encode()]
    return out


def emitted_bytes(engine: Engine, t: np.ndarray, raw: np.ndarray) -> list[bytes]:
    payloads = []
    for i in range(0, len(t), 13):
        payloads += [r.to_json() for r in engine.push("wearer-1", t[i:i + 13], raw[i:i + 13])]
    return payloads


def test_healthy_model_emits_only_transformed_values(tmp_path):
    bundle = make_bundle(tmp_path / "b", "affine_mag2_w128")
    t, raw = signature_stream()
    engine = Engine(bundle)
    payloads = emitted_bytes(engine, t, raw)
    assert len(payloads) == 8
    for p in payloads:
        for needle in needles(raw):
            assert needle not in p, f"raw value {needle!r} found in an emitted record"
    # and what was emitted is the transform: y = [0.5, 2] * x + [0.25, -1]
    assert _fixed(np.float32(2 * 3.14159265 - 1)).encode() in payloads[0]
    assert engine.stats()["wearer-1"]["windows_dropped"] == 0


def test_all_records_of_a_stream_have_the_same_size_and_fields(tmp_path):
    bundle = make_bundle(tmp_path / "b", "affine_mag2_w128")
    rng = np.random.default_rng(0)
    t = np.arange(128 * 6) / 50.0
    raw = rng.normal(0, 1, (len(t), 6)).astype(np.float32)
    raw[128:256] *= 1e-4  # a near-still window
    raw[256:384] *= 30.0  # a violent one
    payloads = emitted_bytes(Engine(bundle), t + 99999.0, raw)
    assert len(payloads) == 6
    assert len({len(p) for p in payloads}) == 1
    assert len({tuple(json.loads(p)) for p in payloads}) == 1


@pytest.mark.parametrize(
    "model, reason",
    [("gather_oob_mag2_w128", "interpreter"), ("nan_mag2_w128", "nan_output"), ("identity_mag2_w128", "passthrough")],
)
def test_failing_models_emit_nothing_and_count_every_window(tmp_path, model, reason):
    bundle = make_bundle(tmp_path / "b", model)
    t, raw = signature_stream(offset=120.0)  # acc magnitudes above 100 g: the gather model's invoke fails
    engine = Engine(bundle)
    assert emitted_bytes(engine, t, raw) == []
    s = engine.stats()["wearer-1"]
    assert s["windows_emitted"] == 0
    assert s["windows_dropped"] == 8 and s["drops"][reason] == 8
    counters = json.dumps(engine.stats()).encode()  # counters only, nothing of the data
    assert not any(needle in counters for needle in needles(raw))
    assert all(isinstance(v, int) for k, v in s.items() if k != "drops")


def test_wrong_shape_at_run_time_drops(tmp_path):
    bundle = make_bundle(tmp_path / "b", "affine_mag2_w128")
    dynamic = TFLiteInterpreter(model_bytes("dynamic_mag2_w128"))
    engine = Engine(bundle, interpreter=dynamic)
    t, raw = signature_stream(offset=120.0)  # the model returns 127 samples for these
    assert emitted_bytes(engine, t, raw) == []
    assert engine.stats()["wearer-1"]["drops"]["shape"] == 8


def test_model_failing_on_some_windows_drops_exactly_those(tmp_path):
    bundle = make_bundle(tmp_path / "b", "gather_oob_mag2_w128")
    t, raw = signature_stream()
    raw[128 * 2 + 5, 2] = -500.0  # window 2 and window 5 make the invoke fail
    raw[128 * 5 + 99, 2] = -500.0
    engine = Engine(bundle)
    payloads = emitted_bytes(engine, t, raw)
    assert len(payloads) == 6
    recs = [json.loads(p) for p in payloads]
    assert [int(r["seq"]) for r in recs] == list(range(6))
    starts = [round(float(r["start_time"]) * 50) for r in recs]
    assert starts == [0, 128, 384, 512, 768, 896]
    for p in payloads:
        for needle in needles(raw[:, :]) + [b"5.000000e+02"]:
            assert needle not in p
    s = engine.stats()["wearer-1"]
    assert (s["windows_emitted"], s["windows_dropped"], s["drops"]["interpreter"]) == (6, 2, 2)


def test_models_refused_before_any_window(tmp_path):
    # a static wrong output shape never gets into a bundle, nor past the engine
    with pytest.raises(BundleError):
        make_bundle(tmp_path / "w", "wrong_shape_mag2_w128")
    bundle = make_bundle(tmp_path / "b", "affine_mag2_w128")
    with pytest.raises(BundleError):
        Engine(bundle, interpreter=TFLiteInterpreter(model_bytes("wrong_shape_mag2_w128")))
    # a model swapped after verification: refused when the engine loads it
    (bundle.path / "model.tflite").write_bytes(model_bytes("identity_mag2_w128"))
    with pytest.raises(BundleError):
        Engine(bundle)
    # garbage that is not a model at all
    with pytest.raises(BundleError):
        TFLiteInterpreter(b"TFL3" * 64)


@pytest.mark.parametrize("model", ["identity_mag2_w128", "nan_mag2_w128", "gather_oob_mag2_w128"])
def test_offline_path_never_writes_its_input(tmp_path, model):
    """transform_windows (the offline transform and the deployed-path evaluation) fails closed too."""
    from edge_runtime.engine import transform_windows

    bundle = make_bundle(tmp_path / "b", model)
    t, raw = signature_stream(offset=120.0)
    windows = bundle.feature_set.from_raw(raw)[: 128 * 8].reshape(8, 128, 2)
    values, ok = transform_windows(bundle, windows)
    assert not ok.any() and np.isnan(values).all()
    assert not np.isin(windows, values).any()
