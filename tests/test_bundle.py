"""Bundle verification: a good bundle loads; a flipped byte, a missing file, an unknown schema or a
shape/unit mismatch is refused with a clear BundleError; verification needs no TensorFlow."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from edge_runtime.bundle import (
    MANIFEST_NAME,
    SHIPPED_DIR,
    TensorSpec,
    load_bundle,
    read_tflite_io,
    sha256_file,
    shipped_bundles,
)
from edge_runtime.cli import main
from edge_runtime.errors import BundleError
from edge_runtime.testing import sign_for_tests, throwaway_key


@pytest.fixture(scope="module")
def good_bundle(tmp_path_factory) -> Path:
    """A real float32 bundle converted from a tiny untrained run (TensorFlow needed only to make it)."""
    pytest.importorskip("tensorflow")
    import keras

    from converters.convert import convert
    from converters.run_dir import read_run_dir
    from converters.testing import tiny_run_dir

    run = tiny_run_dir(tmp_path_factory.mktemp("run") / "r", dense=0)
    spec = read_run_dir(run).spec
    model = keras.models.load_model(run / "transform.keras", compile=False)
    windows = spec.norm_mean + spec.norm_std * np.random.default_rng(0).normal(size=(8, 128, 2)).astype(np.float32)
    out = tmp_path_factory.mktemp("bundle") / "good"
    convert(model, spec, quantize="float32", out=out, bundle_id="good", holdout=np.abs(windows), log=lambda s: None,
            sign_key=throwaway_key())
    return out


@pytest.fixture
def bundle_copy(good_bundle, tmp_path) -> Path:
    dst = tmp_path / "copy"
    shutil.copytree(good_bundle, dst)
    return dst


def _edit_manifest(path: Path, edit) -> None:
    """Edit the manifest and re-sign it with a trusted key: the content checks behind the signature still apply."""
    m = json.loads((path / MANIFEST_NAME).read_text())
    edit(m)
    (path / MANIFEST_NAME).write_text(json.dumps(m))
    sign_for_tests(path)


def test_a_good_bundle_loads_by_folder_or_manifest(good_bundle):
    b = load_bundle(good_bundle)
    assert b.id == "good" and b.version and b.path == good_bundle
    assert b.feature_set.name == "mag2" and b.channels == b.feature_set.channels and b.units == ("rad/s", "g")
    assert (b.sample_rate, b.window, b.stride) == (50.0, 128, 10)
    assert b.model_path == good_bundle / "model.tflite" and b.signature == "transform"
    assert b.manifest["files"]["model.tflite"] == sha256_file(b.model_path)
    assert load_bundle(good_bundle / MANIFEST_NAME).manifest == b.manifest
    assert read_tflite_io(b.read_model())["transform"][0][0].shape == (1, 128, 2)


def test_flipped_byte_in_the_model_is_refused(bundle_copy):
    model = bundle_copy / "model.tflite"
    data = bytearray(model.read_bytes())
    data[len(data) // 2] ^= 0x01
    model.write_bytes(bytes(data))
    with pytest.raises(BundleError, match="SHA-256 mismatch.*corrupt or was modified"):
        load_bundle(bundle_copy)


def test_model_changed_after_loading_is_refused_on_read(bundle_copy):
    b = load_bundle(bundle_copy)
    b.model_path.write_bytes(b.model_path.read_bytes() + b"\0")
    with pytest.raises(BundleError, match="checksum changed since the bundle was verified"):
        b.read_model()


def test_missing_model_file_is_refused(bundle_copy):
    (bundle_copy / "model.tflite").unlink()
    with pytest.raises(BundleError, match="file model.tflite listed in the manifest is missing"):
        load_bundle(bundle_copy)


def test_missing_manifest_is_refused(bundle_copy):
    (bundle_copy / MANIFEST_NAME).unlink()
    with pytest.raises(BundleError, match="not a bundle, manifest.json is missing"):
        load_bundle(bundle_copy)


def test_unknown_schema_version_is_refused(bundle_copy):
    _edit_manifest(bundle_copy, lambda m: m.update(schema_version=2))
    with pytest.raises(BundleError, match="unknown schema_version 2"):
        load_bundle(bundle_copy)


def _context(m) -> int:
    """Samples of context a manifest declares around its window (0 for window-only bundles)."""
    return sum(m.get("context", {}).values())


def test_window_that_disagrees_with_the_model_is_refused(bundle_copy):
    def edit(m):
        m["window"] = 64
        m["model"]["input"]["shape"] = [1, _context(m) + 64, 2]
        m["model"]["output"]["shape"] = [1, 64, 2]

    _edit_manifest(bundle_copy, edit)
    with pytest.raises(BundleError, match=r"model input shape \[1, \d+, 2\] does not match the manifest's \[1, \d+, 2\]"):
        load_bundle(bundle_copy)


def test_declared_shape_that_disagrees_with_the_window_is_refused(bundle_copy):
    _edit_manifest(bundle_copy, lambda m: m.update(window=100))
    with pytest.raises(BundleError, match=r"model.input.shape \[1, \d+, 2\] does not match \[1, (before \+ )?window"):
        load_bundle(bundle_copy)


def test_units_or_channels_that_disagree_with_the_feature_set_are_refused(bundle_copy):
    _edit_manifest(bundle_copy, lambda m: m.update(units=["deg/s", "g"]))
    with pytest.raises(BundleError, match=r"units \['deg/s', 'g'\] do not match feature set mag2"):
        load_bundle(bundle_copy)
    _edit_manifest(bundle_copy, lambda m: m.update(units=["rad/s", "g"], channels=["acc_magnitude", "gyro_magnitude"]))
    with pytest.raises(BundleError, match="channels .* do not match feature set mag2"):
        load_bundle(bundle_copy)


def test_feature_set_of_another_width_is_refused(bundle_copy):
    def edit(m):
        m.update(feature_set="xyz6", channels=["acc_x", "acc_y", "acc_z", "gyro_x", "gyro_y", "gyro_z"],
                 units=["g", "g", "g", "rad/s", "rad/s", "rad/s"])
        m["norm"] = {"mean": [0.0] * 6, "std": [1.0] * 6}
        m["model"]["input"]["shape"] = [1, _context(m) + 128, 6]
        m["model"]["output"]["shape"] = [1, 128, 6]

    _edit_manifest(bundle_copy, edit)
    with pytest.raises(BundleError, match=r"model input shape \[1, \d+, 2\] does not match the manifest's \[1, \d+, 6\]"):
        load_bundle(bundle_copy)


def test_malformed_manifests_are_refused(bundle_copy):
    cases = [
        (lambda m: m["norm"].update(std=[1.0, 0.0]), "norm.std must be positive"),
        (lambda m: m["norm"].update(mean=[1.0]), "norm.mean has 1 values for 2 channels"),
        (lambda m: m.update(quantization="int4"), "unknown quantization 'int4'"),
        (lambda m: m.update(feature_set="mag3"), "unknown feature set 'mag3'"),
        (lambda m: m.update(stride=0), "must be positive"),
        (lambda m: m.pop("sample_rate"), "missing field 'sample_rate'"),
        (lambda m: m["model"].update(signature="serving_default"), "no signature 'serving_default'"),
        (lambda m: m["model"].update(file="../model.tflite"), "must be a plain file name"),
        (lambda m: m["files"].update({"model.tflite": "xyz"}), "is not a lowercase hex SHA-256"),
        (lambda m: m["model"]["input"].update(dtype="int8"), "is int8 but has no valid scale/zero_point"),
        (lambda m: m["model"]["output"].update(name="y"), "model output is named 'transformed' in signature 'transform'"),
    ]
    original = (bundle_copy / MANIFEST_NAME).read_text()
    for edit, message in cases:
        (bundle_copy / MANIFEST_NAME).write_text(original)
        _edit_manifest(bundle_copy, edit)
        with pytest.raises(BundleError, match=message):
            load_bundle(bundle_copy)
    (bundle_copy / MANIFEST_NAME).write_text("{not json")
    sign_for_tests(bundle_copy)
    with pytest.raises(BundleError, match="not valid JSON"):
        load_bundle(bundle_copy)


ENGINE_FIXTURES = Path(__file__).parent / "fixtures" / "engine"


@pytest.mark.parametrize("fixture, message", [
    ("affine_xyz6_w32.tflite", r"model input shape \[1, 32, 6\] does not match the manifest's \[1, 128, 2\]"),
    ("wrong_shape_mag2_w128.tflite", r"model output shape \[1, 128, 3\] does not match the manifest's \[1, 128, 2\]"),
    ("conv_mag2_w128_int8io.tflite", "model input dtype int8 does not match the manifest's float32"),
])
def test_a_swapped_in_model_with_a_re_signed_manifest_is_still_checked(bundle_copy, fixture, message):
    """Re-signing the manifest for a model of another shape does not get past the tensor check."""
    if not (ENGINE_FIXTURES / fixture).is_file():
        pytest.skip(f"engine fixture {fixture} absent")
    shutil.copy(ENGINE_FIXTURES / fixture, bundle_copy / "model.tflite")

    def resign(m):
        m["files"]["model.tflite"] = sha256_file(bundle_copy / "model.tflite")
        m["model"]["input"]["name"], m["model"]["output"]["name"] = "x", "y"

    _edit_manifest(bundle_copy, resign)
    with pytest.raises(BundleError, match=message):
        load_bundle(bundle_copy)


def test_a_re_signed_file_that_is_not_tflite_is_refused(bundle_copy):
    (bundle_copy / "model.tflite").write_bytes(b"\0\0\0\0XXXX" + bytes(64))
    _edit_manifest(bundle_copy, lambda m: m["files"].update({"model.tflite": sha256_file(bundle_copy / "model.tflite")}))
    with pytest.raises(BundleError, match="not a readable TFLite model"):
        load_bundle(bundle_copy)


def test_a_bundle_converted_into_the_package_folder_resolves_by_name(good_bundle, tmp_path, monkeypatch):
    import edge_runtime.bundle as bundle_module

    monkeypatch.setattr(bundle_module, "SHIPPED_DIR", tmp_path / "bundles")
    shutil.copytree(good_bundle, tmp_path / "bundles" / "my-bundle")
    shutil.copytree(good_bundle, tmp_path / "bundles" / ".my-bundle.tmp123")  # an interrupted write
    assert bundle_module.shipped_bundles() == ["my-bundle"]
    assert load_bundle("my-bundle").path == tmp_path / "bundles" / "my-bundle"
    monkeypatch.chdir(tmp_path)
    (tmp_path / "my-bundle").mkdir()  # e.g. a training run dir of the same name: not a bundle
    assert load_bundle("my-bundle").path == tmp_path / "bundles" / "my-bundle"
    assert load_bundle("./bundles/my-bundle").manifest["id"] == "good"
    assert load_bundle(Path("bundles") / "my-bundle").manifest["id"] == "good"
    with pytest.raises(BundleError, match="shipped bundles: my-bundle"):
        load_bundle("other-bundle")


def test_unknown_names_are_refused_with_the_shipped_list():
    with pytest.raises(BundleError, match="no-such-bundle: no bundle of that name in shipped bundles"):
        load_bundle("no-such-bundle")


def test_inspect_prints_and_refuses(good_bundle, bundle_copy, capsys):
    assert main(["inspect", str(good_bundle), "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed.pop("_signer")["key_id"] == load_bundle(good_bundle).signer.key_id
    assert printed == load_bundle(good_bundle).manifest
    assert main(["inspect", str(good_bundle)]) == 0
    text = capsys.readouterr().out
    assert "good" in text and "50 Hz, window 128 samples, release stride 10" in text and "verified" in text
    assert f"signed by   ed25519 key {load_bundle(good_bundle).signer.key_id}" in text
    (bundle_copy / "model.tflite").write_bytes(b"TFL3")
    assert main(["inspect", str(bundle_copy)]) == 2
    assert "SHA-256 mismatch" in capsys.readouterr().err


def test_integer_io_specs_round_trip():
    spec = TensorSpec("window", (1, 4, 1), "int8", scale=0.05, zero_point=-10)
    x = np.array([[[0.0], [0.5], [-0.3], [100.0]]], np.float32)
    q = spec.quantize(x)
    assert q.dtype == np.int8 and q[0, 3, 0] == 127  # saturates
    assert np.allclose(spec.dequantize(q)[0, :3], x[0, :3], atol=0.025)
    f = TensorSpec("window", (1, 4, 1), "float32")
    assert f.quantize(x) is not None and np.array_equal(f.dequantize(x), x)


def test_bundle_verification_imports_no_tensorflow():
    code = ("import sys, edge_runtime.bundle, edge_runtime.commands.inspect; "
            "bad = [m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras', 'tf_keras')]; "
            "assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True)


SHIPPED = shipped_bundles() or [pytest.param("none", marks=pytest.mark.skip("no bundle shipped yet"))]


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_bundles_verify_and_carry_their_conversion_metrics(name):
    b = load_bundle(name)
    assert b.path == SHIPPED_DIR / name and b.quantization == "int8"
    assert b.model_path.stat().st_size < 1_000_000
    conv = b.manifest["conversion"]
    assert conv["metrics"], "shipped bundles carry the judge table measured at conversion"
    assert "targets_met" in conv


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_bundles_meet_their_conversion_targets(name):
    """Every judge parity target is met. The one recorded miss is the int8 size ratio (0.47-0.50x):
    the step detector runs in float32 inside the int8 graph (its 255-tap polyphase FIR alone is 8.4 KB),
    and the integer lay and table lookup are a fixed cost int8 cannot shrink (constants 0.35-0.37x the
    float32 graph's: int32 position tables stay int32 in both). The detector's narrow pools added ~3.5 KB
    of op entries to both graphs (0.45 -> 0.47x, 0.49 -> 0.50x) for a fifth to two fifths off their invoke time."""
    conv = load_bundle(name).manifest["conversion"]
    missed = {k for k, ok in conv["targets"].items() if not ok}
    assert missed <= {"int8 size <= 0.3x float32"} and len(conv["targets"]) >= 4
    assert conv["size_ratio_vs_float32"] <= 0.51 and conv["constant_bytes"] <= 0.37 * conv["float32_constant_bytes"]
