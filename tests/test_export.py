"""Mobile export: the .tflite carries the manifest as TFLite metadata, runs on the plain LiteRT
interpreter with the bundle's outputs, and comes with a contract, check vectors and a guide."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("tensorflow")
from ai_edge_litert import schema_py_generated as tflite_schema  # noqa: E402  (LiteRT's flatbuffer schema)
from ai_edge_litert.interpreter import Interpreter  # noqa: E402

from edge_runtime.bundle import embedded_manifest, load_bundle  # noqa: E402
from edge_runtime.cli import main  # noqa: E402
from edge_runtime.errors import BundleError  # noqa: E402


@pytest.fixture(scope="module")
def int8_bundle(tmp_path_factory) -> Path:
    import keras

    from converters.convert import convert
    from converters.run_dir import read_run_dir
    from converters.testing import tiny_run_dir
    from edge_runtime.testing import throwaway_key

    run = tiny_run_dir(tmp_path_factory.mktemp("run") / "r", dense=64, recipe="exportable")
    spec = read_run_dir(run).spec
    rng = np.random.default_rng(0)
    windows = np.abs(spec.norm_mean + spec.norm_std * rng.normal(size=(64, 128, 2))).astype(np.float32)
    out = tmp_path_factory.mktemp("bundle") / "exportable"
    convert(keras.models.load_model(run / "transform.keras", compile=False), spec, quantize="int8", out=out,
            bundle_id="exportable", holdout=windows[:16], calibration=windows, log=lambda s: None,
            allow_parity_miss=True, sign_key=throwaway_key())
    return out


def _metadata_with_standard_tooling(model: bytes) -> dict[str, bytes]:
    """Read metadata with the flatbuffer classes generated from TFLite's schema.fbs (not our reader)."""
    m = tflite_schema.Model.GetRootAs(model, 0)
    out = {}
    for i in range(m.MetadataLength()):
        md = m.Metadata(i)
        out[md.Name().decode()] = m.Buffers(md.Buffer()).DataAsNumpy().tobytes()
    return out


def _misaligned_buffers(model: bytes) -> int:
    """Constant buffers whose data does not start on a 16-byte boundary (the converter's alignment)."""
    m = tflite_schema.Model.GetRootAs(model, 0)
    bad = 0
    for i in range(m.BuffersLength()):
        tab = m.Buffers(i)._tab
        o = tab.Offset(4)
        if o and tab.VectorLen(o):
            bad += tab.Vector(o) % 16 != 0
    return bad


@pytest.mark.parametrize("target", ["android", "ios"])
def test_export_round_trip(int8_bundle, target, tmp_path, capsys):
    out = tmp_path / target
    assert main(["export", str(int8_bundle), "--target", target, "--out", str(out)]) == 0
    assert "exportable" in capsys.readouterr().out
    bundle = load_bundle(int8_bundle)
    model_file = out / "exportable.tflite"
    data = model_file.read_bytes()

    # the manifest is embedded, readable with standard flatbuffer tooling and with the runtime's reader
    raw = _metadata_with_standard_tooling(data)["edge_runtime_manifest"]
    assert json.loads(raw) == bundle.manifest == embedded_manifest(data)
    assert _misaligned_buffers(data) == 0 and _misaligned_buffers(bundle.read_model()) == 0

    # the plain LiteRT interpreter runs the exported file, with the bundle model's outputs
    contract = json.loads((out / "input_contract.json").read_text())
    check = json.loads((out / "parity_check.json").read_text())
    exported = Interpreter(model_path=str(model_file)).get_signature_runner(contract["signature"])
    original = Interpreter(model_content=bundle.read_model()).get_signature_runner("transform")
    x = np.asarray(check["inputs"], np.float32)
    assert x.shape == (3, 128, 2)
    tol = np.asarray(check["tolerance_abs_per_channel"])
    for i in range(len(x)):
        y = exported(**{contract["input"]["name"]: x[i:i + 1]})[contract["output"]["name"]]
        y0 = original(window=x[i:i + 1])["transformed"]
        assert np.array_equal(y, y0)
        assert np.all(np.abs(y[0] - np.asarray(check["expected_outputs"][i])) <= tol)

    # the contract says exactly what the bundle says
    assert contract["model_sha256"] == hashlib.sha256(data).hexdigest()
    assert (contract["sample_rate_hz"], contract["window_samples"], contract["release_stride_samples"]) == (50.0, 128, 10)
    assert [c["name"] for c in contract["input"]["channels"]] == ["gyro_magnitude", "acc_magnitude"]
    assert [c["unit"] for c in contract["input"]["channels"]] == ["rad/s", "g"]
    assert contract["input"]["shape"] == [1, 128, 2] and contract["input"]["dtype"] == "float32"
    guide = (out / "INTEGRATION.md").read_text()
    for needle in ("`transform`", "50 Hz", "128 samples", "rad/s", "parity_check.json", "edge_runtime_manifest"):
        assert needle in guide
    assert ("runSignature" in guide) if target == "android" else ("TensorFlowLite" in guide)


@pytest.mark.parametrize("target", ["android", "ios"])
def test_export_of_a_shipped_bundle_takes_the_window_with_its_context(target, tmp_path):
    """The shipped bundles' graph takes each window with 128 samples on either side and returns the window:
    the contract, the check inputs and the guide say so, and the plain interpreter runs the exported file
    on those inputs with the expected outputs (the privacy of the whole graph travels with it)."""
    out = tmp_path / target
    assert main(["export", "motionsense-gender", "--target", target, "--out", str(out)]) == 0
    b = load_bundle("motionsense-gender")
    contract = json.loads((out / "input_contract.json").read_text())
    assert contract["input"]["shape"] == [1, b.input_length, 2] == [1, 384, 2]
    assert contract["output"]["shape"] == [1, 128, 2] and contract["window_samples"] == 128
    assert (contract["context_before_samples"], contract["context_after_samples"]) == (128, 128)
    assert contract["release_delay_seconds"] == 2.56
    check = json.loads((out / "parity_check.json").read_text())
    x = np.asarray(check["inputs"], np.float32)
    assert x.shape == (3, 384, 2)
    exported = Interpreter(model_path=str(out / "motionsense-gender.tflite")).get_signature_runner(contract["signature"])
    tol = np.asarray(check["tolerance_abs_per_channel"])
    for i in range(len(x)):
        y = exported(**{contract["input"]["name"]: x[i:i + 1]})[contract["output"]["name"]]
        assert y.shape == (1, 128, 2)
        assert np.all(np.abs(y[0] - np.asarray(check["expected_outputs"][i])) <= tol)
    guide = (out / "INTEGRATION.md").read_text()
    assert "[1, 384, 2]" in guide and "128 samples before it and 128 after it" in guide and "`edge`" in guide


def test_export_refuses_a_corrupt_bundle(int8_bundle, tmp_path, capsys):
    import shutil

    bad = tmp_path / "bad"
    shutil.copytree(int8_bundle, bad)
    data = bytearray((bad / "model.tflite").read_bytes())
    data[-5] ^= 0xFF
    (bad / "model.tflite").write_bytes(bytes(data))
    assert main(["export", str(bad), "--target", "android", "--out", str(tmp_path / "out")]) == 2
    assert "SHA-256 mismatch" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_embedded_manifest_is_required(int8_bundle):
    with pytest.raises(BundleError, match="no 'edge_runtime_manifest' metadata entry"):
        embedded_manifest(load_bundle(int8_bundle).read_model())
