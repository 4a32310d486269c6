"""Legacy import: Keras 2 models saved by tf_keras (JSON + HDF5 weights, or a full HDF5) with the
published [n, channels, window, 1] input become normal [1, window, channels] bundles."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("tf_keras")
pytest.importorskip("ai_edge_litert")

from converters.legacy import infer_window_and_layout, load_keras2  # noqa: E402
from converters.parity import LiteRTTransform  # noqa: E402
from converters.testing import MAG2_MEAN, MAG2_STD, keras2_model, standardised_reference  # noqa: E402
from edge_runtime.bundle import load_bundle  # noqa: E402
from edge_runtime.testing import throwaway_key_file  # noqa: E402
from edge_runtime.cli import main  # noqa: E402
from edge_runtime.errors import UserError  # noqa: E402

MINI = Path(__file__).parent / "fixtures" / "motionsense_mini"


@pytest.mark.filterwarnings("ignore:You are saving your model as an HDF5 file:UserWarning")  # the legacy file on purpose
@pytest.mark.parametrize("form, quantize, tol", [("json+h5", "float32", 1e-5), ("hdf5", "dynamic", 2e-2)])
def test_keras2_model_becomes_a_normal_bundle(form, quantize, tol, tmp_path, capsys):
    source = keras2_model(tmp_path / "legacy", form=form)
    out = tmp_path / "bundle"
    rc = main(["convert", "--keras2", source, "--norm-mean", *map(str, MAG2_MEAN), "--norm-std", *map(str, MAG2_STD),
               "--feature-set", "mag2", "--id", "legacy-aae", "--quantize", quantize, "--out", str(out),
               "--data", str(MINI), "--no-judges", "--parity-windows", "40",
               "--sign", str(throwaway_key_file(tmp_path))])
    printed = capsys.readouterr()
    assert rc == 0, printed.err
    b = load_bundle(out)
    assert b.id == "legacy-aae" and b.window == 128 and b.input.shape == (1, 128, 2)
    conv = b.manifest["conversion"]
    assert conv["layout"] == "ncw1" and "Keras 2" in conv["source"]
    assert b.manifest["norm"] == {"mean": MAG2_MEAN, "std": MAG2_STD}
    assert b.manifest["training"]["recipe"] == "keras2-import"

    # the bundle, fed [1, window, channels], computes what the Keras 2 model computes on [1, channels, window, 1]
    model = load_keras2(source)
    x = np.abs(np.asarray(MAG2_MEAN) + np.asarray(MAG2_STD)
               * np.random.default_rng(1).normal(size=(6, 128, 2))).astype(np.float32)
    y = LiteRTTransform(b.read_model())(x)
    ref = standardised_reference(model, x, MAG2_MEAN, MAG2_STD, layout="ncw1")
    assert np.max(np.abs(y - ref) / np.asarray(MAG2_STD)) <= tol


def test_keras2_model_converts_to_int8_through_the_layout_wrapper(tmp_path, capsys):
    source = keras2_model(tmp_path / "legacy", form="json+h5")
    out = tmp_path / "bundle"
    # a conv-only model this small cannot reach 0.3x the float32 size: the override records the miss
    rc = main(["convert", "--keras2", source, "--norm-mean", *map(str, MAG2_MEAN), "--norm-std", *map(str, MAG2_STD),
               "--quantize", "int8", "--out", str(out), "--data", str(MINI), "--no-judges",
               "--calibration-windows", "100", "--parity-windows", "40", "--allow-parity-miss",
               "--sign", str(throwaway_key_file(tmp_path))])
    assert rc == 0, capsys.readouterr().err
    b = load_bundle(out)
    assert b.quantization == "int8" and b.manifest["conversion"]["layout"] == "ncw1"
    from models.data import DataConfig, load_dataset

    x = load_dataset(MINI, DataConfig(), progress=False).test.x
    y = LiteRTTransform(b.read_model())(x)
    ref = standardised_reference(load_keras2(source), x, MAG2_MEAN, MAG2_STD, layout="ncw1")
    err = np.abs(y - ref) / np.asarray(MAG2_STD)
    assert err.mean() <= 0.1 and np.percentile(err, 99) <= 0.35, (err.mean(), np.percentile(err, 99))


def test_keras2_import_needs_the_statistics(tmp_path, capsys):
    source = keras2_model(tmp_path / "legacy")
    rc = main(["convert", "--keras2", source, "--out", str(tmp_path / "b"), "--data", str(MINI)])
    assert rc == 2 and "--norm-mean and --norm-std" in capsys.readouterr().err
    rc = main(["convert", "--keras2", source, "--norm-mean", "1", "--norm-std", "1", "--out", str(tmp_path / "b"),
               "--data", str(MINI), "--no-judges"])
    assert rc == 2 and "norm mean has 1 values, feature set mag2 has 2 channels" in capsys.readouterr().err
    rc = main(["convert", "--keras2", str(tmp_path / "nope.hdf5"), "--norm-mean", "1", "1", "--norm-std", "1", "1",
               "--out", str(tmp_path / "b")])
    assert rc == 2 and "no such file" in capsys.readouterr().err


def test_layouts_are_recognised():
    assert infer_window_and_layout((None, 2, 128, 1), 2) == (128, "ncw1")
    assert infer_window_and_layout((None, 128, 2), 2) == (128, "nwc")
    assert infer_window_and_layout((None, 64, 6, 1), 6) == (64, "nwc1")
    with pytest.raises(UserError, match="cannot tell the window"):
        infer_window_and_layout((None, 3, 128, 1), 2)
    with pytest.raises(UserError, match="fits none of"):
        infer_window_and_layout((None, 2, 128, 1), 2, window=64)
