"""Publishing data sets: recordings in, recordings out, the same bytes in one process, on a real Dask
cluster (2 worker processes), after a killed worker and after a killed run.

Data sets are small and synthetic (walking-like IMU signals as Parquet or CSV recordings) or the
committed MotionSense excerpt; the bundle is the shipped gender bundle (dynamic batch).
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from edge_runtime.bundle import load_bundle
from edge_runtime.cli import main
from edge_runtime.engine import Engine, stack_values
from edge_runtime.recording import write_recording
from edge_runtime.synthetic import synthetic_raw

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")

from edge_runtime.publish.formats import recording_parquet  # noqa: E402  (needs pyarrow)
from edge_runtime.publish.pipeline import LEDGER_FILE, STATE_DIR, publish, read_ledger  # noqa: E402
from edge_runtime.publish.task import Options, write_atomic  # noqa: E402

BUNDLE = "motionsense-gender"
MINI = Path(__file__).parent / "fixtures" / "motionsense_mini"


def parquet_dataset(root: Path, subjects: int = 3, trials: int = 2, n: int = 1500, seed: int = 0) -> Path:
    """``root/sub_<s>/wlk_<k>.parquet``: synthetic recordings of slightly different lengths."""
    for s in range(1, subjects + 1):
        for k in range(trials):
            t, raw = synthetic_raw(n + 37 * s + 11 * k, seed=seed + 10 * s + k)
            write_atomic(root / f"sub_{s}" / f"wlk_{k}.parquet", recording_parquet(t + 100.0 * k, raw))
    return root


def tree(root: Path) -> dict[str, bytes]:
    """Every published file (the run's resume state excluded) -> its bytes."""
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and STATE_DIR not in p.relative_to(root).parts}


def transform(src, out, *extra) -> int:
    return main(["transform", "--bundle", BUNDLE, "--input", str(src), "--output", str(out), "--quiet", *extra])


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    """A Parquet data set and its single-process transform (the reference every other run must match)."""
    base = tmp_path_factory.mktemp("publish")
    src = parquet_dataset(base / "src")
    out = base / "single"
    assert transform(src, out) == 0
    return src, out, tree(out)


# --------------------------------------------------------------------------------------------
# One process


def test_each_recording_is_its_stream_through_the_engine(dataset):
    src, out, files = dataset
    inputs = sorted(p.relative_to(src).as_posix() for p in src.rglob("*.parquet"))
    assert set(files) == set(inputs) | {"DATASET.json", "DATASET.md"}
    bundle = load_bundle(BUNDLE)
    for rel in inputs:
        raw_table = pq.read_table(src / rel)
        t = raw_table.column("t").to_numpy()
        raw = np.stack([raw_table.column(c).to_numpy() for c in ("acc_x", "acc_y", "acc_z", "gyro_x", "gyro_y", "gyro_z")], 1)
        engine = Engine(bundle)  # the device's engine, the whole recording as one stream, flushed at its end
        want = engine.push("r", t, raw) + engine.flush("r")
        got = pq.read_table(out / rel)
        assert got.column_names == ["window", "t", "gyro_magnitude", "acc_magnitude"]
        assert [got.schema.field(c).metadata[b"unit"].decode() for c in bundle.channels] == list(bundle.units)
        values = np.stack([got.column(c).to_numpy() for c in bundle.channels], 1)
        assert len(want) == len(t) // 128 and values.shape == (len(want) * 128, 2)
        assert values.tobytes() == stack_values(want).reshape(-1, 2).tobytes()
        assert got.column("window").to_numpy().tolist() == [r.seq for r in want for _ in range(128)]
        np.testing.assert_array_equal(got.column("t").to_numpy()[::128], [r.start_time for r in want])
        meta = pq.ParquetFile(out / rel).metadata.row_group(0)  # sensor floats: no dictionary (smaller, faster)
        assert not any(meta.column(i).has_dictionary_page for i in range(meta.num_columns))


def test_datasheet_says_what_was_published_with_what(dataset):
    src, out, files = dataset
    sheet = json.loads(files["DATASET.json"])
    bundle = load_bundle(BUNDLE)
    assert sheet["transform"]["bundle"] == BUNDLE and sheet["transform"]["version"] == bundle.version
    assert sheet["transform"]["hides"]["attributes"] == ["gender"]
    assert sheet["transform"]["keeps"]["activities recognisable"] == ["dws", "ups", "wlk"]
    measured = sheet["transform"]["measured"]["gender_judge"]
    assert measured == bundle.manifest["conversion"]["metrics"]["gender_judge"]
    assert sheet["data"]["recordings"] == 6 and sheet["data"]["recordings_failed"] == []
    for rec in sheet["recordings"]:
        assert rec["input_sha256"] == hashlib.sha256((src / rec["key"]).read_bytes()).hexdigest()
        assert rec["output_sha256"] == hashlib.sha256(files[rec["key"]]).hexdigest()
    md = files["DATASET.md"].decode()
    assert f"{BUNDLE} {bundle.version}" in md and "hides: gender" in md and "| gender_judge |" in md


def test_a_rerun_skips_finished_recordings_and_redoes_a_changed_one(tmp_path, capsys):
    src = parquet_dataset(tmp_path / "src", subjects=2)
    out = tmp_path / "out"
    assert transform(src, out) == 0
    first = tree(out)
    capsys.readouterr()
    assert transform(src, out) == 0
    assert "(0 transformed, 4 already done)" in capsys.readouterr().err
    assert tree(out) == first
    t, raw = synthetic_raw(900, seed=99)  # one recording replaced by another session
    write_atomic(src / "sub_2" / "wlk_1.parquet", recording_parquet(t, raw))
    assert transform(src, out) == 0
    assert "(1 transformed, 3 already done)" in capsys.readouterr().err
    again = tree(out)
    assert again["sub_2/wlk_1.parquet"] != first["sub_2/wlk_1.parquet"]
    assert {k: v for k, v in again.items() if "sub_1" in k} == {k: v for k, v in first.items() if "sub_1" in k}
    # other settings than the finished run's: refused, nothing touched
    assert transform(src, out, "--stride", "10") == 2
    assert "other settings" in capsys.readouterr().err and tree(out) == again


def test_a_bad_recording_is_reported_and_the_others_are_published(tmp_path, capsys):
    src = parquet_dataset(tmp_path / "src", subjects=1)
    (src / "broken.csv").write_text("t,acc_x\n0,1\n")
    pq.write_table(pa.table({"t": [0.0, 0.02], "acc_x": [1.0, 1.0]}), src / "sub_1" / "short.parquet")
    columns = {c: [0.5, 0.5] for c in ("acc_x", "acc_y", "acc_z", "gyro_x", "gyro_y", "gyro_z")}
    pq.write_table(pa.table({"t": [0.0, 0.02], **columns, "gyro_y": ["a", "b"]}), src / "sub_1" / "text.parquet")
    out = tmp_path / "out"
    assert transform(src, out) == 1
    err = capsys.readouterr().err
    assert "broken.csv: FAILED:" in err and "wrong header" in err
    assert "short.parquet: FAILED:" in err and "missing column(s) acc_y" in err
    assert "text.parquet: FAILED:" in err and "a recording column is not numeric" in err
    assert "2 of 5 recordings published" in err and "3 recording(s) FAILED" in err
    assert {"sub_1/wlk_0.parquet", "sub_1/wlk_1.parquet"} <= set(tree(out))
    sheet = json.loads((out / "DATASET.json").read_text())
    assert [f["key"] for f in sheet["data"]["recordings_failed"]] == ["broken.csv", "sub_1/short.parquet",
                                                                       "sub_1/text.parquet"]
    assert "not published" in (out / "DATASET.md").read_text()


def test_columns_beside_the_recordings_change_nothing(tmp_path):
    src = parquet_dataset(tmp_path / "src", subjects=1, trials=1)
    other = tmp_path / "other" / "sub_1"
    table = pq.read_table(src / "sub_1" / "wlk_0.parquet")
    table = table.append_column("label", pa.array(["walking"] * table.num_rows))
    other.mkdir(parents=True)
    pq.write_table(table, other / "wlk_0.parquet")
    assert transform(src, tmp_path / "a") == 0 and transform(tmp_path / "other", tmp_path / "b") == 0
    assert tree(tmp_path / "a")["sub_1/wlk_0.parquet"] == tree(tmp_path / "b")["sub_1/wlk_0.parquet"]


def test_a_recording_shorter_than_one_window_is_reported_not_published_and_not_a_failure(tmp_path, capsys):
    src = parquet_dataset(tmp_path / "src", subjects=1)
    t, raw = synthetic_raw(100)  # 2 s at 50 Hz; the bundle's window is 128 samples
    write_recording(src / "sub_1" / "short.csv", t, raw)
    out = tmp_path / "out.zip"
    assert transform(src, out) == 0  # nothing to publish for it, so nothing failed: the zip is packed
    err = capsys.readouterr().err
    assert "sub_1/short.csv: not published: sub_1/short.csv: 100 samples (1.98 s) give no whole window" in err
    assert "needs 128 samples at 50 Hz" in err and "FAILED" not in err
    assert "2 of 3 recordings published" in err and "1 recording(s) shorter than one window (not published)" in err
    import zipfile

    with zipfile.ZipFile(out) as zf:
        names = set(zf.namelist())
        sheet = json.loads(zf.read("DATASET.json"))
        md = zf.read("DATASET.md").decode()
    assert "sub_1/short.csv" not in names and {"sub_1/wlk_0.parquet", "sub_1/wlk_1.parquet"} <= names
    assert [r["key"] for r in sheet["data"]["recordings_too_short"]] == ["sub_1/short.csv"]
    assert sheet["data"]["recordings_failed"] == [] and "shorter than one window (nothing to publish)" in md
    # a data set of nothing but short recordings: exit 1, so a wrong --max-gap or rate cannot pass unnoticed
    only = tmp_path / "only"
    only.mkdir()
    write_recording(only / "a.csv", t, raw)
    assert transform(only, tmp_path / "out2") == 1
    assert "0 of 1 recordings published" in capsys.readouterr().err


def test_skipped_samples_are_counted_in_the_summary_and_the_datasheet(tmp_path, capsys):
    """Out-of-order and non-finite samples and a gap, in Parquet recordings (the CSV reader refuses the first
    two outright): the counts in the summary are the engine's own, summed over recordings, also when resumed."""
    src = tmp_path / "src"
    bundle = load_bundle(BUNDLE)
    want = {"samples_in": 0, "samples_invalid": 0, "samples_out_of_order": 0, "restarts": 0}
    for k in range(2):
        t, raw = synthetic_raw(1500, seed=k)
        raw[200 + k, 1], raw[400, 4] = np.nan, np.nan
        t[700:703] = t[699]  # three samples at the time of the one before (the reader refuses time going back)
        t[1000:] += 3.0  # a gap longer than --max-gap
        write_atomic(src / f"rec_{k}.parquet", recording_parquet(t, raw))
        engine = Engine(bundle)
        for i in range(0, len(t), 4096):
            engine.push("r", t[i:i + 4096], raw[i:i + 4096])
        engine.flush("r")
        totals = engine.totals()
        want = {key: n + int(totals.get(key, 0)) for key, n in want.items()}
    assert want["samples_invalid"] >= 4 and want["samples_out_of_order"] >= 6 and want["restarts"] >= 2
    out = tmp_path / "out"
    for run in ("first", "resumed"):
        assert transform(src, out) == 0, run
        err = capsys.readouterr().err
        assert (f"{want['samples_in']} input samples; skipped {want['samples_invalid']} non-finite or too large, "
                f"{want['samples_out_of_order']} out of order, {want['restarts']} gaps longer than --max-gap "
                "(partial window discarded)") in err, (run, err)
    sheet = json.loads((out / "DATASET.json").read_text())
    assert sheet["data"]["samples_skipped"] == {k: v for k, v in want.items() if k != "samples_in"}
    assert f"{want['samples_out_of_order']} out of order" in (out / "DATASET.md").read_text()


def test_csv_recordings_and_a_glob(tmp_path):
    src = tmp_path / "lab"
    for k in range(2):
        t, raw = synthetic_raw(700 + 50 * k, seed=k)
        (src / f"day{k}").mkdir(parents=True)
        write_recording(src / f"day{k}" / "session.csv", t, raw)
    parquet_dataset(src / "pq", subjects=1, trials=1)
    out = tmp_path / "out"
    assert transform(src, out) == 0
    assert set(tree(out)) == {"day0/session.csv", "day1/session.csv", "pq/sub_1/wlk_0.parquet",
                              "DATASET.json", "DATASET.md"}
    assert (out / "day1" / "session.csv").read_text().startswith("window,t,gyro_magnitude,acc_magnitude\n")
    out2 = tmp_path / "globbed"
    assert transform(f"{src}/**/*.csv", out2) == 0
    assert set(tree(out2)) == {"day0/session.csv", "day1/session.csv", "DATASET.json", "DATASET.md"}
    assert tree(out2)["day0/session.csv"] == tree(out)["day0/session.csv"]


def test_motionsense_as_parquet_then_transformed(tmp_path):
    from edge_runtime.motionsense import MotionSense
    from edge_runtime.publish.motionsense_parquet import main as to_parquet

    assert to_parquet(["--input", str(MINI), "--output", str(tmp_path / "ms"), "--quiet"]) == 0
    data = MotionSense(MINI)
    files = sorted(p.relative_to(tmp_path / "ms").as_posix() for p in (tmp_path / "ms").rglob("*.parquet"))
    assert files == sorted(f"sub_{k.subject}/{k.activity}_{k.trial}.parquet" for k in data.keys)
    key = data.keys[3]
    table = pq.read_table(tmp_path / "ms" / f"sub_{key.subject}" / f"{key.activity}_{key.trial}.parquet")
    raw = np.stack([table.column(c).to_numpy() for c in ("acc_x", "acc_y", "acc_z", "gyro_x", "gyro_y", "gyro_z")], 1)
    assert raw.tobytes() == data.read(key).tobytes()
    assert not any("gender" in c for c in table.column_names)
    assert transform(tmp_path / "ms", tmp_path / "out") == 0
    assert len(json.loads((tmp_path / "out" / "DATASET.json").read_text())["recordings"]) == len(data.keys)


def test_without_dask_or_pyarrow_the_errors_say_what_to_install(tmp_path, dataset):
    src = dataset[0]
    for blocked, args in (("distributed", ["--workers", "2"]), ("pyarrow", [])):
        code = (f"import sys; sys.modules[{blocked!r}] = None\n"
                "from edge_runtime.cli import main\n"
                f"sys.exit(main(['transform', '--bundle', {BUNDLE!r}, '--input', {str(src)!r}, '--output', "
                f"{str(tmp_path / blocked)!r}, '--quiet'] + {args!r}))\n")
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
        assert proc.returncode == 2, proc.stderr
        assert "pip install 'edge-privacy-runtime[publish]'" in proc.stderr and "Traceback" not in proc.stderr


def test_csv_rows_hold_t_to_the_microsecond_and_values_to_7_digits():
    from types import SimpleNamespace

    from edge_runtime.publish.formats import windows_csv

    values = np.array([[0.0, -0.0], [1e-40, 123456789.0], [np.pi, -2.5e-7]], np.float32)
    text = windows_csv([SimpleNamespace(seq=7, start_time=1000.123, sample_rate=50.0, values=values)], ["a", "b"])
    expected = ["window,t,a,b"] + [f"7,{1000.123 + i / 50.0:.6f},{float(a):.7g},{float(b):.7g}"
                                   for i, (a, b) in enumerate(values)]
    assert text.splitlines() == expected
    assert text.splitlines()[2] == "7,1000.143000,9.999946e-41,1.234568e+08"


def test_a_replaced_motionsense_zip_is_read_anew(tmp_path):
    """The zip stays open between recordings of a run; one replaced under the same name is not read stale."""
    import shutil
    import zipfile

    from edge_runtime.publish.sources import discover, read

    shutil.copy(MINI / "A_DeviceMotion_data.zip", tmp_path / "A_DeviceMotion_data.zip")
    _, sources = discover(tmp_path)
    first = read(sources[0]).raw
    with zipfile.ZipFile(MINI / "A_DeviceMotion_data.zip") as old, \
            zipfile.ZipFile(tmp_path / "new.zip", "w") as new:
        for name in old.namelist():
            data = old.read(name)
            if name.endswith(sources[0].member):  # that recording loses its last 100 samples
                data = b"\n".join(data.rstrip(b"\n").split(b"\n")[:-100]) + b"\n"
            new.writestr(name, data)
    os.replace(tmp_path / "new.zip", tmp_path / "A_DeviceMotion_data.zip")
    assert read(sources[0]).raw.shape[0] == first.shape[0] - 100


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT], ids=["killed", "ctrl-c"])
def test_a_stopped_run_resumes_with_the_same_bytes(tmp_path, sig):
    src = parquet_dataset(tmp_path / "src", subjects=4, trials=3, n=4000)
    ref = tmp_path / "ref"
    assert transform(src, ref, "--stride", "10") == 0
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "edge_runtime.cli", "transform", "--bundle", BUNDLE, "--input", str(src),
           "--output", str(out), "--quiet", "--stride", "10"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    ledger = out / STATE_DIR / LEDGER_FILE
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if ledger.is_file() and len(read_ledger(out)) >= 2:
            break
        time.sleep(0.005)
    proc.send_signal(sig)
    err = proc.communicate(timeout=60)[1]
    finished = len(read_ledger(out))
    assert 2 <= finished < 12, f"the run was not stopped mid-way ({finished} of 12 done): {err}"
    if sig == signal.SIGINT:  # Ctrl-C: exit 130 and one line saying what is kept, no traceback
        assert proc.returncode == 130 and "Traceback" not in err
        assert f"interrupted; {finished} of 12 recordings published" in err
    summary = publish(src, out, load_bundle(BUNDLE), Options(stride=10), quiet=True)
    assert (summary.skipped, summary.done, summary.failed) == (finished, 12 - finished, [])
    assert tree(out) == tree(ref)
    assert not list(out.rglob("*.partial-*"))


# --------------------------------------------------------------------------------------------
# A real Dask cluster: 2 worker processes


@pytest.fixture(scope="module")
def cluster():
    dd = pytest.importorskip("distributed")
    import logging

    with dd.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                         silence_logs=logging.ERROR) as c, dd.Client(c) as client:
        yield c, client


def test_local_cluster_workers_give_the_single_process_bytes(dataset, tmp_path):
    pytest.importorskip("distributed")
    src, _, want = dataset
    assert transform(src, tmp_path / "w2", "--workers", "2") == 0
    assert tree(tmp_path / "w2") == want
    assert transform(src, tmp_path / "w2", "--workers", "2") == 0  # a rerun on the cluster skips everything
    assert tree(tmp_path / "w2") == want


@pytest.mark.parametrize("form", ["motionsense-zip", "csv-folder"])
def test_every_input_form_runs_on_an_existing_cluster(cluster, tmp_path, form):
    c, _ = cluster
    if form == "motionsense-zip":
        src = MINI
    else:
        src = tmp_path / "csv"
        for k in range(3):
            t, raw = synthetic_raw(600 + 40 * k, seed=k)
            (src / f"p{k}").mkdir(parents=True)
            write_recording(src / f"p{k}" / "s.csv", t, raw)
    from edge_runtime.publish.sources import discover, sizes

    assert all(sizes(discover(src)[1]))  # every form tells its recordings' sizes (longest go first)
    assert transform(src, tmp_path / "one") == 0
    assert transform(src, tmp_path / "many", "--scheduler", c.scheduler_address) == 0
    assert tree(tmp_path / "many") == tree(tmp_path / "one")
    # every worker holds the bundle it loaded and verified itself, from the files the plugin carried
    from edge_runtime.publish.cluster import BundlePlugin

    name = BundlePlugin(load_bundle(BUNDLE)).name
    _, client = cluster
    held = client.run(lambda dask_worker: (dask_worker.plugins[name].bundle.version,
                                           str(dask_worker.plugins[name].bundle.path)))
    assert len(held) == 2
    assert all(v == load_bundle(BUNDLE).version and "bundle-" in p for v, p in held.values())


def test_workers_take_the_longest_recordings_first(tmp_path):
    """A run that ends with one worker still busy on a long recording while the rest sit idle is
    slower than it needs to be: the cluster gets the recordings longest first."""
    dd = pytest.importorskip("distributed")
    import logging

    src = tmp_path / "src"
    lengths = [700, 2600, 900, 3100, 1300, 2000]
    for k, n in enumerate(lengths):
        t, raw = synthetic_raw(n, seed=k)
        write_atomic(src / f"r{k}.parquet", recording_parquet(t, raw))
    with dd.LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None,
                         silence_logs=logging.ERROR) as c:
        summary = publish(src, tmp_path / "out", load_bundle(BUNDLE), scheduler=c.scheduler_address, quiet=True)
    assert summary.done == len(lengths)
    lines = (tmp_path / "out" / STATE_DIR / LEDGER_FILE).read_text().splitlines()
    done = [json.loads(line)["key"] for line in lines]
    assert done == [f"r{k}.parquet" for k in np.argsort(lengths)[::-1]]


def test_a_killed_worker_loses_and_duplicates_nothing(cluster, tmp_path):
    c, client = cluster
    src = parquet_dataset(tmp_path / "src", subjects=4, trials=4, n=4000, seed=50)
    ref = tmp_path / "ref"
    assert transform(src, ref, "--stride", "10") == 0
    out = tmp_path / "out"
    result: dict = {}

    def run():
        result["summary"] = publish(src, out, load_bundle(BUNDLE), Options(stride=10), scheduler=c.scheduler_address,
                                    quiet=True)

    thread = threading.Thread(target=run)
    thread.start()
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and thread.is_alive():
        if (out / STATE_DIR / LEDGER_FILE).is_file() and len(read_ledger(out)) >= 2:
            break
        time.sleep(0.005)
    pids = client.run(os.getpid)
    victim = sorted(pids.values())[0]
    os.kill(victim, signal.SIGKILL)
    done_at_kill = len(read_ledger(out))
    thread.join(timeout=300)
    assert not thread.is_alive()
    assert done_at_kill < 16, "the run finished before the worker was killed"
    summary = result["summary"]
    assert summary.done == 16 and summary.failed == [] and summary.skipped == 0
    lines = (out / STATE_DIR / LEDGER_FILE).read_text().splitlines()
    keys = [json.loads(line)["key"] for line in lines]
    assert len(keys) == len(set(keys)) == 16  # nothing lost, nothing twice
    assert tree(out) == tree(ref)
    assert not list(out.rglob("*.partial-*"))
    client.wait_for_workers(2, timeout=60)  # the nanny replaced the killed worker
    assert victim not in client.run(os.getpid).values()
