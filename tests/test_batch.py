"""Batched invoke: bundles whose model takes many windows per invoke give bit-identical records.

The rewrite (converters/batch.py) runs on real TFLite models: the shipped bundles and the engine
fixture models, including ones that fail on particular windows, so "one bad window in a batch is
dropped alone" is checked against real interpreter failures.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from converters.batch import rebatch, rebatch_bundle
from edge_runtime.bundle import load_bundle
from edge_runtime.testing import sign_for_tests
from edge_runtime.engine import Engine, stack_values, transform_windows
from edge_runtime.errors import BundleError, UserError
from edge_runtime.interpreter import TFLiteInterpreter
from edge_runtime.testing import make_bundle, model_bytes
from edge_runtime.synthetic import synthetic_raw

MAGIC_LIMIT = 100.0  # acc magnitude above which the gather_oob / dynamic fixture models fail (fixtures/engine)


@pytest.fixture(scope="module")
def bundles(tmp_path_factory):
    """The shipped gender bundle (the step-timing graph, dynamic batch); a real int8 conv fixture,
    one-window, fixed batch 16 and dynamic."""
    base = tmp_path_factory.mktemp("batched")
    conv = make_bundle(base / "conv1", "conv_mag2_w128_int8", quantization="int8")
    return {"shipped": load_bundle("motionsense-gender"), "conv": conv,
            "conv16": rebatch_bundle(str(conv.path), 16, str(base / "conv16"), log=lambda m: None),
            "convdyn": rebatch_bundle(str(conv.path), "dynamic", str(base / "convdyn"), log=lambda m: None)}


def one_window(bundle):
    """The same model bytes, invoked one window at a time (the baseline)."""
    return TFLiteInterpreter.from_bundle(bundle, batched=False)


def _records(bundle, t, raw, chunk, stride=None, interpreter=None):
    engine = Engine(bundle, stride=stride, interpreter=interpreter)
    out = []
    for i in range(0, len(t), chunk):
        out += engine.push("d", t[i:i + chunk], raw[i:i + chunk])
    return out, engine.totals()


CASES = [("conv", "conv16"), ("conv", "convdyn")]  # (one-window, batched)


@pytest.mark.parametrize("ref,kind", CASES)
@pytest.mark.parametrize("stride", [None, 10])
def test_batched_engine_records_are_bit_identical_to_one_window(bundles, ref, kind, stride):
    t, raw = synthetic_raw(128 * 40 + 55, seed=4)
    raw[3000:3004] = np.nan  # invalid samples on the way, as a device sends them
    want, want_totals = _records(bundles[ref], t, raw, 4096, stride, interpreter=one_window(bundles[ref]))
    engine_check = Engine(bundles[kind])
    assert engine_check.interpreter_batches
    got, totals = _records(bundles[kind], t, raw, 4096, stride)
    assert len(want) > 30
    assert stack_values(got).tobytes() == stack_values(want).tobytes()
    assert [(r.seq, r.start_time) for r in got] == [(r.seq, r.start_time) for r in want]
    assert totals == want_totals


@pytest.mark.parametrize("ref,kind", CASES)
def test_batched_bulk_is_bit_identical_and_drops_a_bad_window_alone(bundles, ref, kind):
    t, raw = synthetic_raw(128 * 75, seed=5)
    x = bundles[ref].feature_set.from_raw(raw).reshape(75, 128, 2).astype(np.float32)
    x[9, 4, 1] = np.nan
    y1, ok1 = transform_windows(bundles[ref], x, interpreter=one_window(bundles[ref]))
    yb, okb = transform_windows(bundles[kind], x, batch_size=50)
    assert okb.tolist() == ok1.tolist() and okb.sum() == 74 and not okb[9]
    assert yb.tobytes() == y1.tobytes()


def test_the_shipped_step_bundle_is_batched_window_by_window(bundles):
    """Its graph is row-wise (each window's steps are searched in that window's context only), so it
    was converted with a dynamic batch and the engine batches it: a stream gives the one-window
    records bit for bit, and in bulk a window the guard fails is dropped alone."""
    from edge_runtime.context import context_windows

    shipped = bundles["shipped"]
    assert shipped.batch == "dynamic" and Engine(shipped).interpreter_batches
    t, raw = synthetic_raw(128 * 30 + 55, seed=4)
    raw[2000:2004] = np.nan  # invalid samples on the way, as a device sends them
    want, want_totals = _records(shipped, t, raw, 4096, interpreter=one_window(shipped))
    got, totals = _records(shipped, t, raw, 4096)
    assert len(want) > 20 and stack_values(got).tobytes() == stack_values(want).tobytes()
    assert [(r.seq, r.start_time) for r in got] == [(r.seq, r.start_time) for r in want] and totals == want_totals
    series = shipped.feature_set.from_raw(raw[:128 * 30]).astype(np.float32)
    series[2000:2004] = series[1990]  # valid samples here; one bad window is made below
    x = context_windows(series, np.arange(0, len(series) - 128 + 1, 40), 128, 128, 128).astype(np.float32)
    x[9, 200, 1] = np.nan
    y1, ok1 = transform_windows(shipped, x, interpreter=one_window(shipped))
    yb, okb = transform_windows(shipped, x, batch_size=50)
    assert okb.tolist() == ok1.tolist() and not okb[9] and okb.sum() == len(x) - 1
    assert yb.tobytes() == y1.tobytes()


def test_manifest_declares_the_batch_and_the_model_must_agree(bundles, tmp_path):
    dyn = bundles["convdyn"]
    assert dyn.batch == "dynamic" and bundles["conv16"].batch == 16 and bundles["conv"].batch == 1
    assert bundles["conv16"].manifest["conversion"]["batch"]["from_version"] == bundles["conv"].version
    # a manifest claiming a dynamic batch for a one-window model is refused
    copy = tmp_path / "liar"
    copy.mkdir()
    for name in ("model.tflite", "manifest.json"):
        (copy / name).write_bytes((bundles["conv"].path / name).read_bytes())
    m = json.loads((copy / "manifest.json").read_text())
    m["model"]["batch"] = "dynamic"
    (copy / "manifest.json").write_text(json.dumps(m))
    sign_for_tests(copy)  # signed by a trusted key: the model check behind the signature still refuses it
    with pytest.raises(BundleError, match="batch dimension is fixed, the manifest's model.batch says 'dynamic'"):
        load_bundle(copy)
    m["model"]["batch"] = 0
    (copy / "manifest.json").write_text(json.dumps(m))
    sign_for_tests(copy)
    with pytest.raises(BundleError, match="model.batch must be 'dynamic' or a positive number"):
        load_bundle(copy)


def test_rebatching_twice_or_a_bad_size_is_a_clear_error(bundles, tmp_path):
    sign_for_tests(bundles["convdyn"].path)
    with pytest.raises(UserError, match="already takes batch 'dynamic'"):
        rebatch_bundle(str(bundles["convdyn"].path), "dynamic", str(tmp_path / "x"))
    with pytest.raises(UserError, match="batch must be 'dynamic' or a positive number"):
        rebatch_bundle(str(bundles["conv"].path), "lots", str(tmp_path / "x"))


def _fixture_bundle(tmp_path, model, batch):
    """A test bundle around fixture ``model``, rewritten to take ``batch`` windows per invoke."""
    one = make_bundle(tmp_path / f"{model}-1", model)
    return one, rebatch_bundle(str(one.path), batch, str(tmp_path / f"{model}-b"), log=lambda m: None)


@pytest.mark.parametrize("model", ["rowwise_oob_mag2_w128", "rowwise_nan_mag2_w128"])
def test_a_window_the_model_fails_on_is_dropped_alone_in_a_batch(tmp_path, model):
    """rowwise_oob raises at invoke (failing the whole batch), rowwise_nan returns NaN for that row,
    whenever an acc magnitude > 100 g: only that window may be dropped, with the one-window reason."""
    one, batched = _fixture_bundle(tmp_path, model, "dynamic")
    t, raw = synthetic_raw(128 * 12, seed=6)
    raw[128 * 5 + 17, 0] = 2 * MAGIC_LIMIT  # inside the 6th window
    ref, ref_totals = _records(one, t, raw, len(t))
    got, totals = _records(batched, t, raw, len(t))
    assert [r.seq for r in got] == list(range(11)) and len(ref) == 11
    assert stack_values(got).tobytes() == stack_values(ref).tobytes()
    assert totals["windows_dropped"] == ref_totals["windows_dropped"] == 1
    reason = "drops_interpreter" if "oob" in model else "drops_nan_output"
    assert totals[reason] == 1


@pytest.mark.parametrize("model,reason", [("nan_mag2_w128", "drops_nan_output"),
                                          ("identity_mag2_w128", "drops_passthrough")])
def test_batched_guard_drops_what_the_one_window_guard_drops(tmp_path, model, reason):
    one, batched = _fixture_bundle(tmp_path, model, "dynamic")
    t, raw = synthetic_raw(128 * 9, seed=7)
    got, totals = _records(batched, t, raw, len(t))
    ref, ref_totals = _records(one, t, raw, len(t))
    assert got == ref == [] and totals == ref_totals and totals[reason] == 9


@pytest.mark.parametrize("model", ["conv_mag2_w128_int8io", "affine_xyz6_w32"])
def test_rebatch_handles_integer_io_and_other_shapes(tmp_path, model):
    kw = {"feature_set_name": "xyz6"} if "xyz6" in model else {}
    one = make_bundle(tmp_path / "one", model, **kw)
    batched = rebatch_bundle(str(one.path), "dynamic", str(tmp_path / "b"), log=lambda m: None)
    n = one.window
    t, raw = synthetic_raw(n * 70 + 3, seed=8)
    ref, _ = _records(one, t, raw, len(t))
    got, _ = _records(batched, t, raw, len(t))
    assert len(got) == 70 and stack_values(got).tobytes() == stack_values(ref).tobytes()


@pytest.mark.parametrize("model,why", [("gather_oob_mag2_w128", "STRIDED_SLICE slices the batch axis"),
                                       ("dynamic_mag2_w128", "STRIDED_SLICE slices the batch axis"),
                                       ("affine_ctx_mag2_w32", "MEAN reduces across the batch axis")])
def test_rebatch_refuses_a_graph_that_looks_across_the_batch(model, why):
    """These judge the window by x[0], or by a mean over the whole tensor: batched, one window would
    decide for others (and a check on ordinary windows would not notice), so the rewrite must refuse
    them by their ops."""
    with pytest.raises(UserError, match=why):
        rebatch(model_bytes(model), "dynamic")


def test_a_model_with_context_is_batched_window_by_window(tmp_path):
    """centre_ctx takes 16 + 32 + 16 samples and slices the centre (x[:, 16:48, :], every window kept);
    it hands the centre back, so the batched guard must drop every window as passthrough, as alone."""
    one = make_bundle(tmp_path / "c1", "centre_ctx_mag2_w32", context=(16, 16))
    batched = rebatch_bundle(str(one.path), "dynamic", str(tmp_path / "cb"), log=lambda m: None)
    t, raw = synthetic_raw(32 * 20, seed=9)
    engine = Engine(batched)
    got = engine.push("d", t, raw) + engine.flush("d")
    ref_engine = Engine(one)
    ref = ref_engine.push("d", t, raw) + ref_engine.flush("d")
    assert got == ref == [] and engine.totals() == ref_engine.totals()
    assert engine.totals()["drops_passthrough"] == 20


def test_rebatch_sizes():
    data = model_bytes("affine_mag2_w128")
    assert rebatch(data, 1) == data
    with pytest.raises(UserError, match="batch must be"):
        rebatch(data, -3)
