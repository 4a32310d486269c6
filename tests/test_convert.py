"""Conversion: a tiny real run dir -> bundles in every quantization, parity checked with LiteRT, targets enforced."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("tensorflow")
pytest.importorskip("ai_edge_litert")

from converters.convert import ParityMiss, convert  # noqa: E402
from converters.parity import LiteRTTransform, compare_metrics, metric_limit  # noqa: E402
from converters.run_dir import read_run_dir  # noqa: E402
from converters.testing import standardised_reference, tiny_run_dir  # noqa: E402
from edge_runtime.bundle import load_bundle  # noqa: E402
from edge_runtime.testing import throwaway_key, throwaway_key_file  # noqa: E402
from edge_runtime.cli import main  # noqa: E402
from edge_runtime.errors import UserError  # noqa: E402


@pytest.fixture(scope="module")
def mini_windows(tmp_path_factory):
    """Real MotionSense windows (the committed mini fixture): train/test split of the published protocol."""
    from models.data import DataConfig, load_dataset

    mini = Path(__file__).parent / "fixtures" / "motionsense_mini"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("EDGE_RUNTIME_CACHE", str(tmp_path_factory.mktemp("cache")))
        ds = load_dataset(mini, DataConfig(), progress=False)
    return ds


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    return tiny_run_dir(tmp_path_factory.mktemp("run") / "tiny-test")


@pytest.fixture(scope="module")
def keras_model(run_dir):
    import keras

    return keras.models.load_model(run_dir / "transform.keras", compile=False)


# max |TFLite - Keras| allowed, in units of each channel's std
TOLERANCE = {"float32": 1e-5, "float16": 1e-2, "dynamic": 2e-2}


def assert_close(y: np.ndarray, ref: np.ndarray, std: np.ndarray, quantize: str) -> None:
    err = np.abs(y - ref) / std
    if quantize == "int8":
        # one int8 step of the acc channel is ~0.08 std (0-8 g range, std 0.4 g); rare peaks beyond the
        # calibrated range clip, so bound the typical and the 99th-percentile error, not the single worst
        assert err.mean() <= 0.1 and np.percentile(err, 99) <= 0.35, (err.mean(), np.percentile(err, 99))
    else:
        assert err.max() <= TOLERANCE[quantize], (quantize, err.max())


@pytest.mark.parametrize("quantize", ["float32", "float16", "dynamic", "int8"])
def test_each_quantization_gives_a_verified_bundle_with_litert_parity(quantize, run_dir, keras_model, mini_windows, tmp_path):
    spec = read_run_dir(run_dir).spec
    result = convert(keras_model, spec, quantize=quantize, out=tmp_path / "b", bundle_id="tiny",
                     holdout=mini_windows.test.x, calibration=mini_windows.train.x, log=lambda s: None,
                     sign_key=throwaway_key())
    bundle = load_bundle(tmp_path / "b")
    assert bundle.quantization == quantize and bundle.id == "tiny"
    assert (bundle.window, bundle.stride, bundle.sample_rate) == (128, 10, 50.0)
    assert bundle.channels == ("gyro_magnitude", "acc_magnitude") and bundle.units == ("rad/s", "g")
    assert bundle.input.shape == (1, 128, 2) and bundle.input.dtype == "float32"

    # independent check: the bundle's model, run with the plain LiteRT interpreter, vs a hand-made reference
    x = mini_windows.test.x
    y = LiteRTTransform(bundle.read_model())(x)
    ref = standardised_reference(keras_model, x, spec.norm_mean, spec.norm_std)
    assert_close(y, ref, spec.norm_std, quantize)

    conv = bundle.manifest["conversion"]
    assert conv["parity"]["windows"] == len(x)
    assert conv["parity"]["max_abs_diff"] == pytest.approx(float(np.abs(y - ref).max()), rel=1e-3, abs=1e-6)
    assert conv["calibration"]["windows"] == (len(mini_windows.train.x) if quantize == "int8" else 0)
    assert conv["targets_met"] is True
    if quantize == "int8":
        assert conv["int8_weights"] == "per-tensor"
        assert conv["size_ratio_vs_float32"] <= 0.3
        assert bundle.model_path.stat().st_size == conv["size_bytes"] < 0.3 * conv["float32_size_bytes"]
        assert 0.2 < conv["constant_bytes"] / conv["float32_constant_bytes"] < 0.3  # int8 weights, int32 biases
    assert result.report.targets_met


def test_int8_io_bundle_documents_scales_and_round_trips(run_dir, keras_model, mini_windows, tmp_path):
    spec = read_run_dir(run_dir).spec
    convert(keras_model, spec, quantize="int8", int8_io=True, per_channel=True, out=tmp_path / "b", bundle_id="tiny-int8io",
            holdout=mini_windows.test.x[:40], calibration=mini_windows.train.x, log=lambda s: None,
            sign_key=throwaway_key())
    bundle = load_bundle(tmp_path / "b")
    assert bundle.input.dtype == "int8" and bundle.input.scale > 0
    assert bundle.manifest["model"]["output"]["dtype"] == "int8"
    assert bundle.manifest["conversion"]["int8_weights"] == "per-channel"
    x = mini_windows.test.x[:40]
    y = LiteRTTransform(bundle.read_model())(x)  # (de)quantized with the manifest-declared scales
    ref = standardised_reference(keras_model, x, spec.norm_mean, spec.norm_std)
    assert_close(y, ref, spec.norm_std, "int8")


def test_cli_convert_writes_a_bundle_that_inspect_shows(run_dir, tmp_path, capsys):
    out = tmp_path / "bundles" / "tiny-test"
    mini = Path(__file__).parent / "fixtures" / "motionsense_mini"
    rc = main(["convert", str(run_dir), "--quantize", "int8", "--out", str(out), "--data", str(mini), "--no-judges",
               "--calibration-windows", "100", "--parity-windows", "50", "--sign", str(throwaway_key_file(tmp_path))])
    printed = capsys.readouterr().out
    assert rc == 0, printed
    assert "parity vs float Keras on 50 held-out windows" in printed and "target met" in printed
    assert main(["inspect", str(out), "--json"]) == 0
    manifest = json.loads(capsys.readouterr().out)
    assert manifest["id"] == "tiny-test" and manifest["quantization"] == "int8"
    assert manifest["training"]["recipe"] == "tiny-test" and manifest["training"]["data_sha256"] == "0" * 64
    cal = manifest["conversion"]["calibration"]
    assert cal["extreme_windows"] > 0 and cal["windows"] == 100 + cal["extreme_windows"]
    assert manifest["conversion"]["metrics_note"] == "not recomputed (--no-judges)"
    assert main(["inspect", str(out)]) == 0
    human = capsys.readouterr().out
    assert "tiny-test" in human and "gyro_magnitude [rad/s]" in human and "parity" in human


def test_cli_fails_loudly_when_a_target_is_missed_unless_allowed(tmp_path, capsys):
    # a convolution-only model is too small for int8 to reach 0.3x the float32 size: a real miss
    run = tiny_run_dir(tmp_path / "conv-only", dense=0, recipe="conv-only")
    mini = Path(__file__).parent / "fixtures" / "motionsense_mini"
    args = ["convert", str(run), "--quantize", "int8", "--data", str(mini), "--no-judges",
            "--calibration-windows", "50", "--parity-windows", "20", "--sign", str(throwaway_key_file(tmp_path))]
    rc = main(args + ["--out", str(tmp_path / "refused")])
    cap = capsys.readouterr()
    assert rc == 2
    assert "target MISSED int8 size <= 0.3x float32" in cap.out  # the numbers are printed
    assert "parity target(s) missed" in cap.err and "--allow-parity-miss" in cap.err
    assert not (tmp_path / "refused").exists()

    assert main(args + ["--out", str(tmp_path / "allowed"), "--allow-parity-miss"]) == 0
    conv = load_bundle(tmp_path / "allowed").manifest["conversion"]
    assert conv["targets_met"] is False and conv["targets"]["int8 size <= 0.3x float32"] is False
    assert conv["size_ratio_vs_float32"] > 0.3


def _centroid_judge(x: np.ndarray, y: np.ndarray):
    """A real (if simple) judge: nearest centroid on per-channel mean and std of a window."""
    def feats(w):
        return np.concatenate([w.mean(axis=1), w.std(axis=1)], axis=1)

    f = feats(x)
    mu, sd = f.mean(0), f.std(0) + 1e-6
    classes = np.unique(y)
    cents = np.stack([((f[y == c] - mu) / sd).mean(0) for c in classes])
    def predict(w):
        d = ((((feats(w) - mu) / sd)[:, None, :] - cents[None]) ** 2).sum(-1)
        return classes[np.argmin(d, axis=1)]

    return predict


def test_judge_table_is_recomputed_on_keras_and_tflite_outputs(run_dir, keras_model, mini_windows, tmp_path):
    ds = mini_windows
    names = np.array(ds.activities)
    activity_judge = _centroid_judge(ds.train.x, ds.train.activity)
    gender_judge = _centroid_judge(ds.train.x, ds.train.gender)
    calls = []

    def metrics_fn(transform_fn):
        xt = transform_fn(ds.test.x)
        calls.append(xt.shape)
        pred = activity_judge(xt)
        req = np.isin(names[ds.test.activity], ["dws", "ups", "wlk"])
        sen = names[ds.test.activity] == "jog"
        return {
            "activity.required_accuracy": float((pred[req] == ds.test.activity[req]).mean()),
            "activity.sensitive_recognized": float((pred[sen] == ds.test.activity[sen]).mean()),
            "gender.accuracy": float((gender_judge(xt[req]) == ds.test.gender[req]).mean()),
            "fidelity.mse": float(np.mean((xt - ds.test.x) ** 2)),
        }

    spec = read_run_dir(run_dir).spec
    convert(keras_model, spec, quantize="int8", out=tmp_path / "b", bundle_id="judged", holdout=ds.test.x,
            calibration=ds.train.x, metrics_fn=metrics_fn, log=lambda s: None, sign_key=throwaway_key())
    assert calls == [ds.test.x.shape, ds.test.x.shape]  # once on Keras outputs, once on TFLite outputs
    table = load_bundle(tmp_path / "b").manifest["conversion"]["metrics"]
    assert set(table) == {"activity.required_accuracy", "activity.sensitive_recognized", "gender.accuracy", "fidelity.mse"}
    assert table["activity.required_accuracy"]["limit"] == 0.01
    assert table["gender.accuracy"]["limit"] == 0.02 and table["activity.sensitive_recognized"]["limit"] == 0.02
    assert table["fidelity.mse"]["limit"] is None
    for row in table.values():
        assert row["diff"] == pytest.approx(row["tflite"] - row["keras"])
        assert row["ok"] is (row["limit"] is None or abs(row["diff"]) <= row["limit"])


def test_a_judge_metric_outside_its_limit_refuses_the_bundle(run_dir, keras_model, mini_windows, tmp_path):
    """A judge that sees any quantization error (outputs compared bit-exactly) must make int8 miss."""
    spec = read_run_dir(run_dir).spec
    keras_out = standardised_reference(keras_model, mini_windows.test.x[:20], spec.norm_mean, spec.norm_std)

    def exactness_judge(transform_fn):
        same = np.abs(transform_fn(mini_windows.test.x[:20]) - keras_out).max(axis=(1, 2)) < 1e-6
        return {"activity.required_accuracy": float(same.mean())}

    with pytest.raises(ParityMiss, match="activity.required_accuracy within 0.01"):
        convert(keras_model, spec, quantize="int8", out=tmp_path / "b", bundle_id="x", holdout=mini_windows.test.x[:20],
                calibration=mini_windows.train.x, metrics_fn=exactness_judge, log=lambda s: None)
    assert not (tmp_path / "b").exists()


def test_calibration_extremes_cover_input_and_output_peaks():
    from converters.windows import extreme_windows

    rng = np.random.default_rng(0)
    pool = rng.normal(size=(50, 16, 2)).astype(np.float32)
    pool[7, 3, 1] = 40.0  # an input peak
    outputs = pool.copy()
    outputs[31, 0, 0] = -40.0  # an output trough only the model produces
    idx = extreme_windows(pool, outputs, k=2)
    assert 7 in idx and 31 in idx
    assert len(idx) <= 2 * 2 * 2 * 2  # k per (max, min) x channels x (inputs, outputs)


def test_metric_limits_follow_the_targets():
    assert metric_limit("activity5.required_accuracy", 0.9, 0.9) == 0.01
    assert metric_limit("activity5.sensitive_recognized", 0.1, 0.1) == 0.02
    assert metric_limit("gender.accuracy", 0.6, 0.6) == 0.02
    assert metric_limit("identity.accuracy", 0.1, 0.1) == 0.02
    assert metric_limit("required accuracy (%)", 91.0, 90.5) == 1.0  # percentages keep points
    assert metric_limit("fidelity.mse_standardized", 0.2, 0.3) is None
    rows = compare_metrics({"gender.accuracy": 0.60, "note": "text", "only_keras": 1.0},
                           {"gender.accuracy": 0.625, "note": "text"})
    assert list(rows) == ["gender.accuracy"] and rows["gender.accuracy"].ok is False
    inf = compare_metrics({"fidelity.dtw": float("inf")}, {"fidelity.dtw": float("inf")})["fidelity.dtw"]
    assert inf.to_dict() == {"keras": None, "tflite": None, "diff": None, "limit": None, "ok": True}


def test_limits_apply_to_the_lead_judge_summary_keys():
    """Keys of models.evaluation.summary: required_mean_accuracy, <s>_as_<s>, gender_judge, identity_judge."""
    keras = {"acc_dws": 0.9, "required_mean_accuracy": 0.9, "jog_as_jog": 0.05, "jog_as_std": 0.9,
             "activity4_accuracy": 0.9, "gender_judge": 0.6, "identity_judge": 0.1}
    rows = compare_metrics(keras, dict(keras), sensitive=("jog",))
    limits = {k: r.limit for k, r in rows.items()}
    assert limits == {"acc_dws": None, "required_mean_accuracy": 0.01, "jog_as_jog": 0.02, "jog_as_std": None,
                      "activity4_accuracy": None, "gender_judge": 0.02, "identity_judge": 0.02}


def test_run_dir_contract_is_checked(tmp_path):
    with pytest.raises(UserError, match="run.json missing"):
        read_run_dir(tmp_path)
    run = tiny_run_dir(tmp_path / "r", dense=0)
    info = json.loads((run / "run.json").read_text())
    info["units"] = ["deg/s", "g"]
    (run / "run.json").write_text(json.dumps(info))
    with pytest.raises(UserError, match="units .* do not match feature set mag2"):
        read_run_dir(run)
    info["units"] = ["rad/s", "g"]
    info["norm"]["std"] = [1.0]
    (run / "run.json").write_text(json.dumps(info))
    with pytest.raises(UserError, match="norm std has 1 values"):
        read_run_dir(run)
    assert main(["convert", "--out", str(tmp_path / "x")]) == 2  # neither RUN_DIR nor --keras2
