"""``edge-runtime benchmark`` in quick mode: it runs, reports every measurement, and says what it skipped.

Numbers from a quick run on a shared CI machine mean nothing; these tests check the measurement
plumbing (and that an edge install without TensorFlow gets a complete report with the skips named).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from edge_runtime.testing import make_bundle

from edge_runtime.cli import main


@pytest.fixture(scope="module")
def bundles(tmp_path_factory):
    root = tmp_path_factory.mktemp("b")
    return (
        make_bundle(root / "f32", "conv_mag2_w128", bundle_id="conv", quantization="float32"),
        make_bundle(root / "i8", "conv_mag2_w128_int8", bundle_id="conv", quantization="int8"),
    )


def test_quick_benchmark_without_tensorflow_baselines(bundles, tmp_path, capsys):
    f32, i8 = bundles
    rc = main(["benchmark", "--bundle", str(i8.path), "--bundle", str(f32.path), "--quick", "--no-tensorflow",
               "--json", str(tmp_path / "b.json"), "--markdown", str(tmp_path / "b.md")])
    assert rc == 0
    res = json.loads((tmp_path / "b.json").read_text())
    assert {"machine", "bundles", "throughput", "cold_start", "memory", "goals", "skipped"} <= set(res)
    assert res["machine"]["interpreter"].startswith(("ai_edge_litert", "tflite_runtime"))
    assert [b["quantization"] for b in res["bundles"]] == ["int8", "float32"]
    for b in res["bundles"]:
        assert b["bare_invoke_us"] > 0 and b["engine_window_us"] > 0 and b["bulk_windows_per_s"] > 0
    assert res["int8_vs_float32"]["size_ratio"] > 0
    assert res["throughput"][0]["windows"] > 0 and res["throughput"][0]["windows_dropped"] == 0
    assert res["throughput"][0]["streams_per_core"] > 0
    assert res["cold_start"]["exec_to_first_window_s"] > 0
    assert res["memory"]["engine_peak_rss_mb"] > 0
    assert res["memory"]["engine_process_imported_tensorflow"] is False
    assert any("--no-tensorflow" in s for s in res["skipped"])
    assert set(res["goals"]) == {"window_step_overhead", "engine_overhead", "streams_per_core", "uplink_reduction",
                                 "batched_bulk_speedup", "dask_2_workers_speedup"}
    i8_up, f32_up = res["uplink"]
    assert i8_up["chosen"] == "int8" and i8_up["binary"]["int8"]["max_abs_error"] < i8_up["output_step"]
    assert f32_up["chosen"] == "float16" and f32_up["output_step"] is None
    assert i8_up["binary_bytes_per_record"] < f32_up["binary_bytes_per_record"] < f32_up["json_bytes_per_record"]
    assert i8_up["binary_bytes_per_day"] == pytest.approx(i8_up["binary_bytes_per_record"] * 86400 / 2.56, rel=1e-3)
    bt = res["batching"]  # these one-window bundles: both sides invoke per window, and agree bit for bit
    assert bt["batch"] == 1 and bt["bit_identical"] and bt["bulk_one_window_per_s"] > 0
    d = res["dask"]
    assert [r["workers"] for r in d["runs"]] == [1, 2] and d["bit_identical"] and d["windows"] > 0
    assert len(d["round_speedups"]) == d["rounds"] == 1 and d["machine_ceiling"] > 0  # the graph alone, 2 vs 1
    assert all(r["worker_cpu_us_per_window"] > 0 and r["invokes_per_s_alone"] > 0 for r in d["runs"])
    md = (tmp_path / "b.md").read_text()
    assert "binary int8 **(chosen)**" in md
    assert "| goal | target | measured | met |" in md and "skipped" in md and "Machine:" in md
    cost = res["bundles"][0]["model_cost"]  # the machine-independent cost, printed on every machine
    assert cost["macs"] > 0 and 0 < cost["arena_bytes"] and cost["constant_bytes"] > 0
    assert "M MACs" in md and "activation arena" in md
    assert "emulated" not in res["machine"] and "Emulated" not in md


def test_model_cost_agrees_with_the_conversion_record_and_by_hand(bundles):
    """The constants counted from the graph are the bytes the converter recorded for the shipped bundle;
    the MACs of a conv model are its convolutions and dense layers spelled out from their tensor shapes."""
    from edge_runtime.bundle import load_bundle
    from edge_runtime.interpreter import load_backend
    from edge_runtime.model_cost import bundle_cost

    shipped = load_bundle("motionsense-gender")
    recorded = shipped.manifest["conversion"]["constant_bytes"]  # counted by the converter's own reader
    assert abs(bundle_cost(shipped)["constant_bytes"] - recorded) <= 0.001 * recorded
    bundle = bundles[0]
    cost = bundle_cost(bundle)
    _, cls = load_backend()
    it = cls(model_content=bundle.read_model(), num_threads=1)
    it.allocate_tensors()
    shapes = {t["index"]: tuple(t["shape"]) for t in it.get_tensor_details()}
    by_hand = 0
    for op in it._get_ops_details():
        out, w = shapes[op["outputs"][0]], shapes[op["inputs"][1]] if len(op["inputs"]) > 1 else ()
        if op["op_name"] == "CONV_2D":  # [1, 1, W, Cout] from kernel [Cout, 1, k, Cin]
            by_hand += out[2] * out[3] * w[2] * w[3]
        elif op["op_name"] == "FULLY_CONNECTED":  # [rows, units] from weights [units, in]
            by_hand += out[0] * w[0] * w[1]
    assert cost["macs"] == by_hand > 10_000


def test_emulated_machine_is_marked(bundles, tmp_path):
    env = dict(os.environ, EDGE_RUNTIME_EMULATED="qemu-user-static arm64 on x86_64")
    out = subprocess.run([sys.executable, "-m", "edge_runtime.cli", "benchmark", "--bundle", str(bundles[1].path),
                          "--quick", "--no-tensorflow", "--json", str(tmp_path / "b.json")],
                         capture_output=True, text=True, timeout=300, env=env)
    assert out.returncode == 0, out.stderr[-2000:]
    assert json.loads((tmp_path / "b.json").read_text())["machine"]["emulated"] == "qemu-user-static arm64 on x86_64"
    assert "**Emulated (qemu-user-static arm64 on x86_64): timings are not the board's.**" in out.stdout


def test_edge_install_without_tensorflow_says_what_it_skipped(bundles, tmp_path):
    """An ARM board has numpy + LiteRT only: shadow TensorFlow so it cannot import, then run."""
    shadow = tmp_path / "shadow"
    (shadow / "tensorflow").mkdir(parents=True)
    (shadow / "tensorflow" / "__init__.py").write_text("raise ImportError('No module named tensorflow (shadowed)')\n")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(shadow), os.environ.get("PYTHONPATH", "")]))
    out = subprocess.run(
        [sys.executable, "-m", "edge_runtime.cli", "benchmark", "--bundle", str(bundles[1].path), "--quick",
         "--no-dask", "--json", str(tmp_path / "b.json")],
        capture_output=True, text=True, timeout=300, env=env,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    res = json.loads((tmp_path / "b.json").read_text())
    assert any("TensorFlow is not installed" in s for s in res["skipped"])
    assert "keras" not in res and "ratio" not in res["memory"]
    assert any("--no-dask" in s for s in res["skipped"]) and "dask" not in res
    assert "skipped" in out.stdout and "TensorFlow is not installed" in out.stdout
