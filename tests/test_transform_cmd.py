"""``edge-runtime transform``: .npy windows, recordings, the MotionSense layout; bad inputs; TF-free."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
import zipfile

import numpy as np
import pytest
from edge_runtime.testing import make_bundle
from edge_runtime.synthetic import synthetic_raw

from edge_runtime.cli import main
from edge_runtime.engine import Engine, stack_values
from edge_runtime.motionsense import HEADER
from edge_runtime.recording import write_recording


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    return make_bundle(tmp_path_factory.mktemp("b") / "affine", "affine_mag2_w128", bundle_id="affine")


def _npy_header(header: str) -> bytes:
    """A version 1.0 .npy header around ``header`` (any text: hostile files are the point)."""
    body = header.encode("latin1")
    body += b" " * (-(len(body) + 11) % 64) + b"\n"
    return b"\x93NUMPY\x01\x00" + len(body).to_bytes(2, "little") + body


def windows(n: int, seed: int = 0) -> np.ndarray:
    return np.abs(np.random.default_rng(seed).normal(1.0, 0.4, (n, 128, 2))).astype(np.float32)


def test_npy_windows(affine_mag2, bundle, tmp_path):
    x = windows(300)
    np.save(tmp_path / "in.npy", x)
    rc = main(["transform", "--bundle", str(bundle.path), "--input", str(tmp_path / "in.npy"),
               "--output", str(tmp_path / "out.npy"), "--batch-size", "64", "--quiet"])
    assert rc == 0
    y = np.load(tmp_path / "out.npy")
    assert y.shape == x.shape and y.dtype == np.float32
    np.testing.assert_allclose(y, affine_mag2(x), rtol=1e-6, atol=1e-6)
    assert not (tmp_path / "out.npy.partial.npy").exists()


def test_npy_failed_windows_are_nan_and_exit_1(tmp_path, capsys):
    gather = make_bundle(tmp_path / "g", "gather_oob_mag2_w128")
    x = windows(20)
    x[[3, 11], 0, 1] = 700.0  # this model's invoke fails on these two
    np.save(tmp_path / "in.npy", x)
    rc = main(["transform", "--bundle", str(gather.path), "--input", str(tmp_path / "in.npy"),
               "--output", str(tmp_path / "out.npy"), "--quiet"])
    assert rc == 1
    assert "2 dropped" in capsys.readouterr().err
    y = np.load(tmp_path / "out.npy")
    bad = np.isnan(y).all(axis=(1, 2))
    assert bad.tolist() == [i in (3, 11) for i in range(20)]
    assert not np.isnan(y[~bad]).any()


@pytest.mark.parametrize(
    "content, message",
    [
        (lambda p: np.save(p, windows(4)[:, :64]), "takes windows [n, 128, 2]"),
        (lambda p: np.save(p, np.zeros((4, 128))), "takes windows"),
        (lambda p: p.write_bytes(b"\x93NUMPY garbage"), "not a readable .npy"),
        (lambda p: np.save(p, np.array([["a"] * 2] * 128, dtype=object)[None], allow_pickle=True),
         "holds object values, not numbers"),
        # hostile headers: an absurd shape, a header that is not a dict, a truncated body
        (lambda p: p.write_bytes(_npy_header("{'descr': '<f4', 'fortran_order': False, 'shape': (1000000000000000000000000000000, 128, 2), }")),
         "truncated or not what its header says"),
        (lambda p: p.write_bytes(_npy_header("{'descr': '<f4', 'fortran_order': False, 'shape': (4611686018427387904, 4611686018427387904, 2), }")),
         "truncated or not what its header says"),
        (lambda p: p.write_bytes(_npy_header("__import__('os')")), "not a readable .npy file (bad header"),
        (lambda p: p.write_bytes(_npy_header("{'descr': '<f4', 'fortran_order': False, 'shape': (3, 128, 2), }")
                                 + bytes(100)), "truncated or not what its header says"),
        (lambda p: np.save(p, windows(0)), "holds no windows"),
    ],
)
def test_bad_npy_input_is_a_clear_error(bundle, tmp_path, capsys, content, message):
    content(tmp_path / "in.npy")
    rc = main(["transform", "--bundle", str(bundle.path), "--input", str(tmp_path / "in.npy"),
               "--output", str(tmp_path / "out.npy"), "--quiet"])
    err = capsys.readouterr().err
    assert rc == 2 and message in err and "Traceback" not in err
    assert not (tmp_path / "out.npy").exists()


def test_bad_bundle_missing_input_and_existing_output(bundle, tmp_path, capsys):
    np.save(tmp_path / "in.npy", windows(2))
    args = ["transform", "--input", str(tmp_path / "in.npy"), "--output", str(tmp_path / "out.npy"), "--quiet"]
    assert main(args + ["--bundle", str(tmp_path / "nope")]) == 2
    assert "no such bundle" in capsys.readouterr().err
    assert main(["transform", "--bundle", str(bundle.path), "--input", str(tmp_path / "missing.npy"),
                 "--output", str(tmp_path / "o.npy")]) == 2
    assert "no such file" in capsys.readouterr().err
    (tmp_path / "out.npy").write_bytes(b"keep me")
    assert main(args + ["--bundle", str(bundle.path)]) == 2
    assert "already exists" in capsys.readouterr().err
    assert (tmp_path / "out.npy").read_bytes() == b"keep me"
    assert main(args + ["--bundle", str(bundle.path), "--force"]) == 0
    assert main(["transform", "--bundle", str(bundle.path), "--input", str(tmp_path / "in.npy"),
                 "--output", str(tmp_path / "out.csv")]) == 2


def test_recording_csv(affine_mag2, bundle, tmp_path):
    t, raw = synthetic_raw(700)
    t = t + 17.0
    write_recording(tmp_path / "rec.csv", t, raw)
    rc = main(["transform", "--bundle", str(bundle.path), "--input", str(tmp_path / "rec.csv"),
               "--output", str(tmp_path / "out.csv"), "--quiet"])
    assert rc == 0
    rows = list(csv.reader(io.StringIO((tmp_path / "out.csv").read_text())))
    assert rows[0] == ["window", "t", "gyro_magnitude", "acc_magnitude"]
    table = np.array(rows[1:], dtype=np.float64)
    assert table.shape == (5 * 128, 4)
    assert table[:, 0].tolist() == [k for k in range(5) for _ in range(128)]
    np.testing.assert_allclose(table[:, 1], 17.0 + np.arange(640) / 50.0, atol=2e-6)
    feats = bundle.feature_set.from_raw(raw)[:640]  # the recording's own (rounded) values
    np.testing.assert_allclose(table[:, 2:], affine_mag2(feats), rtol=1e-5, atol=1e-5)
    # the same as the engine pushed directly
    ref = stack_values(Engine(bundle).push("r", t, raw)).reshape(-1, 2)
    np.testing.assert_allclose(table[:, 2:], ref, rtol=1e-5, atol=1e-5)


def motionsense_zip(path, recordings: dict[str, np.ndarray]) -> None:
    """A small archive in the published layout (synthetic values, published header)."""
    with zipfile.ZipFile(path, "w") as zf:
        for member, raw in recordings.items():
            buf = io.StringIO()
            buf.write("," + ",".join(HEADER) + "\n")
            for i, r in enumerate(raw):
                row = [0.1, 0.2, 0.3, 0.0, 0.0, -1.0, r[3], r[4], r[5], r[0], r[1], r[2] + 1.0]
                buf.write(f"{i}," + ",".join(f"{v:.6f}" for v in row) + "\n")
            zf.writestr(f"A_DeviceMotion_data/{member}", buf.getvalue())


@pytest.mark.parametrize("out_name", ["out", "out.zip"])
def test_motionsense_layout(affine_mag2, bundle, tmp_path, out_name):
    recs = {"jog_9/sub_1.csv": synthetic_raw(300, seed=1)[1], "wlk_7/sub_2.csv": synthetic_raw(420, seed=2)[1]}
    motionsense_zip(tmp_path / "A_DeviceMotion_data.zip", recs)
    out = tmp_path / out_name
    rc = main(["transform", "--bundle", str(bundle.path), "--input", str(tmp_path), "--output", str(out), "--quiet"])
    assert rc == 0
    if out_name.endswith(".zip"):
        with zipfile.ZipFile(out) as zf:
            files = {n: zf.read(n).decode() for n in zf.namelist()}
    else:
        files = {p.relative_to(out).as_posix(): p.read_text() for p in out.rglob("*") if p.is_file()
                 and not p.relative_to(out).as_posix().startswith(".edge-runtime/")}  # the run's resume state
    assert set(files) == {"DATASET.json", "DATASET.md", "A_DeviceMotion_data/jog_9/sub_1.csv",
                          "A_DeviceMotion_data/wlk_7/sub_2.csv"}
    meta = json.loads(files["DATASET.json"])
    assert meta["data"]["windows"] == 2 + 3 and meta["transform"]["bundle"] == "affine"
    assert meta["data"]["windows_dropped"] == 0 and meta["data"]["recordings"] == 2
    for member, raw in recs.items():
        rows = list(csv.reader(io.StringIO(files[f"A_DeviceMotion_data/{member}"])))
        table = np.array(rows[1:], dtype=np.float64)
        n = (len(raw) // 128) * 128
        assert table.shape == (n, 4)
        # acc = userAcceleration + gravity as published; the CSV rounding is 1e-6
        feats = bundle.feature_set.from_raw(raw)[:n]
        np.testing.assert_allclose(table[:, 2:], affine_mag2(feats), atol=2e-5)
    assert "data_subjects_info" not in " ".join(files)


def test_motionsense_bad_input(bundle, tmp_path, capsys):
    (tmp_path / "A_DeviceMotion_data.zip").write_bytes(b"PK\x03\x04 truncated")
    rc = main(["transform", "--bundle", str(bundle.path), "--input", str(tmp_path), "--output", str(tmp_path / "o")])
    assert rc == 2 and "not a readable zip" in capsys.readouterr().err
    rc = main(["transform", "--bundle", str(bundle.path), "--input", str(tmp_path / "x.parquet"),
               "--output", str(tmp_path / "o")])
    assert rc == 2


def test_transform_is_tensorflow_free(bundle, tmp_path):
    np.save(tmp_path / "in.npy", windows(5))
    code = (
        "import sys\n"
        "from edge_runtime.cli import main\n"
        f"rc = main(['transform', '--bundle', {str(bundle.path)!r}, '--input', {str(tmp_path / 'in.npy')!r},"
        f" '--output', {str(tmp_path / 'out.npy')!r}, '--quiet'])\n"
        "print(rc, [m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras')])\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "0 []"


def test_real_motionsense_fixture(affine_mag2, bundle, tmp_path, mini_data):
    """The committed excerpt of the real data set (published zip layout) -> the same layout, transformed."""
    from edge_runtime.motionsense import MotionSense

    out = tmp_path / "published"
    assert main(["transform", "--bundle", str(bundle.path), "--input", str(mini_data), "--output", str(out),
                 "--quiet"]) == 0
    data = MotionSense(mini_data)
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*.csv")) == sorted(k.member for k in data.keys)
    for key in data.keys[:6]:
        table = np.loadtxt(out / key.member, delimiter=",", skiprows=1, ndmin=2)
        n = (len(data.read(key)) // 128) * 128
        assert table.shape == (n, 4)
        np.testing.assert_allclose(table[:, 2:], affine_mag2(bundle.feature_set.from_raw(data.read(key))[:n]),
                                   rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("name", ["motionsense-gender", "motionsense-identity"])
def test_shipped_bundles_transform_tensorflow_free(tmp_path, name):
    from edge_runtime.bundle import shipped_bundles

    assert name in shipped_bundles(), f"the default bundle {name} is not shipped"
    np.save(tmp_path / "in.npy", windows(64))
    code = (
        "import sys\n"
        "from edge_runtime.cli import main\n"
        f"rc = main(['transform', '--bundle', {name!r}, '--input', {str(tmp_path / 'in.npy')!r},"
        f" '--output', {str(tmp_path / 'out.npy')!r}, '--quiet'])\n"
        "print(rc, [m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras')])\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "0 []"
    y = np.load(tmp_path / "out.npy")
    assert y.shape == (64, 128, 2) and np.isfinite(y).all()
    assert not np.array_equal(y, windows(64))


def test_input_shorter_than_one_window_says_so(bundle, tmp_path, capsys):
    t, raw = synthetic_raw(100)  # 2 s at 50 Hz; the bundle's window is 128 samples
    write_recording(tmp_path / "short.csv", t, raw)
    rc = main(["transform", "--bundle", str(bundle.path), "--input", str(tmp_path / "short.csv"),
               "--output", str(tmp_path / "out.csv"), "--quiet"])
    err = capsys.readouterr().err
    assert rc == 2 and "100 samples (1.98 s) give no whole window" in err and "needs 128 samples at 50 Hz" in err
    assert not (tmp_path / "out.csv").exists()


def test_nan_input_window_is_reported_as_bad_input_not_a_model_failure(bundle, tmp_path, capsys):
    x = windows(10)
    x[4, 7, 0] = np.nan
    np.save(tmp_path / "in.npy", x)
    rc = main(["transform", "--bundle", str(bundle.path), "--input", str(tmp_path / "in.npy"),
               "--output", str(tmp_path / "out.npy"), "--quiet"])
    err = capsys.readouterr().err
    assert rc == 1
    assert "9 windows transformed" in err and "1 dropped: 1 bad input (NaN/inf in the input window: nan_input)" in err
    assert "model failed" not in err and "dropped windows are NaN rows in the output .npy" in err
    assert np.isnan(np.load(tmp_path / "out.npy")[4]).all()


def test_skipped_samples_are_counted_in_the_summary(bundle, tmp_path, capsys):
    t, raw = synthetic_raw(1000)
    t[300:] += 2.0  # a 2 s gap: the partial window before it cannot be completed
    # (NaN cells and time going backwards are refused when the CSV is read, with the line number)
    write_recording(tmp_path / "rec.csv", t, raw)
    rc = main(["transform", "--bundle", str(bundle.path), "--input", str(tmp_path / "rec.csv"),
               "--output", str(tmp_path / "out.csv"), "--quiet"])
    err = capsys.readouterr().err
    assert rc == 0, err
    assert "1000 input samples; skipped" in err and "1 gaps longer than --max-gap (partial window discarded)" in err, err
