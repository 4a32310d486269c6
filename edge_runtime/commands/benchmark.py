"""``edge-runtime benchmark``: what the engine costs on this machine, against its baselines, in one run.

Measured side by side (interleaved rounds, medians) so ratios are fair on a busy machine:

- per window: the engine (features, resampling, windowing, fail-closed checks, record) vs a bare
  interpreter ``set_tensor/invoke/get_tensor`` on the same bundle (overhead), for every
  bundle given (so int8 vs float32 is one more ``--bundle``);
- vs the same transform in Keras ``model(x)`` (speed-up), when TensorFlow and the
  trained model (``--keras RUN_DIR`` or ``.keras`` file) are here;
- peak RSS of a process running the engine vs one doing the same with TensorFlow;
- cold start: a fresh process, from exec to the first transformed window;
- throughput: windows/s, and concurrent 50 Hz streams one core sustains end to end (BLE-sized
  batches in, JSON records out);
- uplink: bytes per record and per wearable-day as JSON and as binary envelopes (each value
  encoding), and the decode error against the model's output quantization step. ``--uplink`` runs
  only this part.

Each goal's bound is written once, in ``GOALS``: the check and the printed table both read it. The
processes run ``edge_runtime.commands.cold_start`` and ``models.tensorflow_baseline`` (``python -m``).

Needs only numpy and LiteRT; the TensorFlow baselines run in subprocesses and are skipped, with
the reason, when TensorFlow (or the Keras model) is absent. Output: a Markdown table (stdout, or
``--markdown``) and JSON (``--json``), with the machine description.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edge_runtime.synthetic import synthetic_raw

@dataclass(frozen=True)
class Goal:
    """One goal: what is compared, and the bound the measured value must meet (``%``: a fraction)."""

    name: str
    op: str  # "<=" or ">="
    limit: float
    unit: str = ""  # "%", "x" or ""

    @property
    def target(self) -> str:
        limit = f"{100 * self.limit:g}%" if self.unit == "%" else f"{self.limit:g}{self.unit}"
        return f"{self.op} {limit}"

    def show(self, value: float) -> str:
        """A measured value as the goals table prints it."""
        return f"{100 * value:+.1f}%" if self.unit == "%" else f"{value}{self.unit}"

    def met(self, value: float | None) -> bool:
        return value is not None and (value <= self.limit if self.op == "<=" else value >= self.limit)


GOALS = {
    "window_step_overhead": Goal("engine window step vs bare invoke", "<=", 0.10, "%"),
    "engine_overhead": Goal("whole engine (1 window/push, incl. features + resampling) vs bare invoke", "<=", 0.10, "%"),
    "keras_speedup": Goal("speed-up vs Keras model(x)", ">=", 50, "x"),
    "rss_ratio": Goal("peak RSS vs TensorFlow", "<=", 0.1, "x"),
    "streams_per_core": Goal("50 Hz streams per core (end to end)", ">=", 200),
    "uplink_reduction": Goal("uplink bytes per window, JSON / binary (decode error < output step)", ">=", 8, "x"),
    "batched_bulk_speedup": Goal("bulk windows/s per core, batched vs one-window invoke (bit-identical)", ">=", 4, "x"),
    "dask_2_workers_speedup": Goal("publishing windows/s, 2 vs 1 Dask workers (bit-identical)", ">=", 1.6, "x"),
}


def _goal(key: str, value: float | None, also: bool = True) -> dict[str, Any]:
    """The measured value against ``GOALS[key]``; ``also``: a condition the goal names besides the bound."""
    return {"value": value, "met": GOALS[key].met(value) and bool(also)}


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--bundle", action="append", default=None,
                        help="bundle folder or shipped name; repeat to compare (e.g. int8 and float32). "
                             "Default: motionsense-gender")
    parser.add_argument("--keras", default=None,
                        help="the same transform as Keras: a training run folder (transform.keras) or a .keras file")
    parser.add_argument("--windows", type=int, default=400, help="windows per timing round (default 400)")
    parser.add_argument("--rounds", type=int, default=7, help="interleaved timing rounds (default 7)")
    parser.add_argument("--streams", type=int, default=200, help="concurrent 50 Hz streams to simulate (default 200)")
    parser.add_argument("--stream-seconds", type=float, default=20.0, help="seconds of data per stream (default 20)")
    parser.add_argument("--batch", type=int, default=10, help="samples per incoming batch, like one BLE frame (default 10)")
    parser.add_argument("--no-tensorflow", action="store_true", help="skip the TensorFlow baselines even if installed")
    parser.add_argument("--uplink", action="store_true", help="only the uplink size/decode-error part (seconds)")
    parser.add_argument("--no-dask", action="store_true", help="skip the Dask 1 vs 2 workers publishing run")
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke test, not numbers to publish")
    parser.add_argument("--json", type=Path, default=None, help="write the results as JSON here")
    parser.add_argument("--markdown", type=Path, default=None, help="write the Markdown table here (default: stdout)")
    from edge_runtime.signing import add_trust_arguments

    add_trust_arguments(parser)


def run(args: argparse.Namespace) -> int:
    from edge_runtime.bundle import load_bundle_from_args

    loaded = [load_bundle_from_args(b, args, "edge-runtime benchmark") for b in args.bundle or ["motionsense-gender"]]
    if args.uplink:
        entries = [uplink(b) for b in loaded]
        if args.json:
            args.json.parent.mkdir(parents=True, exist_ok=True)
            args.json.write_text(json.dumps({"uplink": entries}, indent=2) + "\n", encoding="utf-8")
        print("\n".join(uplink_markdown(entries)))
        return 0
    results = run_benchmark(
        bundles=loaded,
        keras=args.keras,
        windows=40 if args.quick else args.windows,
        rounds=3 if args.quick else args.rounds,
        streams=20 if args.quick else args.streams,
        stream_seconds=6.0 if args.quick else args.stream_seconds,
        batch=args.batch,
        tensorflow=not args.no_tensorflow,
        cold_runs=1 if args.quick else 3,
        dask_workers=not args.no_dask,
        log=lambda msg: print(msg, file=sys.stderr, flush=True),
    )
    md = to_markdown(results)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    if args.markdown:
        args.markdown.parent.mkdir(parents=True, exist_ok=True)
        args.markdown.write_text(md, encoding="utf-8")
    if not args.markdown or args.json is None:
        print(md)
    return 0


# --------------------------------------------------------------------------------------------
# The machine


def machine() -> dict[str, Any]:
    import numpy as np

    from edge_runtime import __version__
    from edge_runtime.interpreter import load_backend

    backend, cls = load_backend()
    cpu = platform.processor() or ""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.lower().startswith(("model name", "hardware", "cpu model")):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    info = {
        "system": f"{platform.system()} {platform.release()}",
        "machine": platform.machine(),
        "cpu": cpu,
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "edge_runtime": __version__,
        "interpreter": f"{backend} {_version_of(backend)}",
        "interpreter_threads": 1,
    }
    if hasattr(os, "getloadavg"):
        info["load_average_1min"] = round(os.getloadavg()[0], 2)
    emulated = emulation()
    if emulated:
        info["emulated"] = emulated
    return info


EMULATED_ENV = "EDGE_RUNTIME_EMULATED"  # set by deploy/arm/verify.sh: what emulates this machine


def emulation() -> str | None:
    """How this machine is emulated, or None: ``$EDGE_RUNTIME_EMULATED``, or an ARM Python on an x86
    CPU (qemu-user shows the host's /proc/cpuinfo)."""
    if os.environ.get(EMULATED_ENV):
        return os.environ[EMULATED_ENV]
    if platform.machine().lower().startswith(("arm", "aarch")):
        try:
            with open("/proc/cpuinfo", encoding="utf-8") as fh:
                text = fh.read(65536)
        except OSError:
            return None
        if "GenuineIntel" in text or "AuthenticAMD" in text:
            return f"{platform.machine()} on an x86 CPU (qemu-user)"
    return None


def _version_of(dist: str) -> str:
    try:
        from importlib.metadata import version

        return version({"ai_edge_litert": "ai-edge-litert", "tflite_runtime": "tflite-runtime"}.get(dist, dist))
    except Exception:
        return "?"


# --------------------------------------------------------------------------------------------
# Per-window cost: engine vs bare invoke (in this process, interleaved)


def per_window(bundle, windows: int, rounds: int) -> dict[str, Any]:
    import numpy as np

    from edge_runtime.context import context_windows
    from edge_runtime.engine import Engine
    from edge_runtime.interpreter import load_backend

    w, rate = bundle.window, bundle.sample_rate
    _, interpreter_class = load_backend()
    bare = interpreter_class(model_content=bundle.read_model(), num_threads=1)
    bare.allocate_tensors()
    i_idx = bare.get_input_details()[0]["index"]  # a bundle's model has one input and one output
    o_idx = bare.get_output_details()[0]["index"]
    engine = Engine(bundle, num_threads=1)

    t, raw = synthetic_raw(w * 64, rate)
    series = bundle.feature_set.from_raw(raw)
    # each window with the context the bundle's graph takes (none for window-only models)
    feats = context_windows(series, np.arange(64) * w, w, bundle.context_before, bundle.context_after)
    xs = [bundle.input.quantize(f[None]) for f in feats]  # the model's own input dtype
    batches = [(np.arange(w) / rate, raw[k * w:(k + 1) * w]) for k in range(64)]
    clock = [0.0]

    def run_bare() -> float:
        start = time.perf_counter()
        for i in range(windows):
            bare.set_tensor(i_idx, xs[i % 64])
            bare.invoke()
            bare.get_tensor(o_idx)
        return (time.perf_counter() - start) / windows

    def run_engine() -> float:
        emitted = 0
        start = time.perf_counter()
        for i in range(windows):
            tt, rr = batches[i % 64]
            emitted += len(engine.push("bench", tt + clock[0], rr))
            clock[0] += w / rate
        elapsed = time.perf_counter() - start
        if emitted < windows - 1:
            raise RuntimeError(f"engine emitted {emitted} of {windows} windows: {engine.stats()}")
        return elapsed / windows

    def run_engine_bulk() -> float:
        # the same samples, many windows per push: features and resampling amortised over the batch
        emitted = 0
        n_batch = 32
        tt = np.arange(w * n_batch) / rate
        start = time.perf_counter()
        for _ in range(max(1, windows // n_batch)):
            emitted += len(engine.push("bulk", tt + clock[0], raw[: w * n_batch]))
            clock[0] += w * n_batch / rate
        return (time.perf_counter() - start) / max(emitted, 1)

    def run_step() -> float:
        # the window-level work alone: fail-closed checks around the invoke, and the record
        start = time.perf_counter()
        for i in range(windows):
            engine.transform_window("step", i * w / rate, feats[i % 64])
        return (time.perf_counter() - start) / windows

    methods = {"bare": run_bare, "step": run_step, "engine": run_engine, "bulk": run_engine_bulk}
    for f in methods.values():  # warm up
        f()
    samples: dict[str, list[float]] = {k: [] for k in methods}
    for _ in range(rounds):  # interleaved, so a busy machine slows all of them alike
        for k, f in methods.items():
            samples[k].append(f())
    med = {k: statistics.median(v) for k, v in samples.items()}
    b = med["bare"]
    return {
        "id": bundle.id,
        "version": bundle.version,
        "quantization": bundle.quantization,
        "io_dtype": bundle.input.dtype,
        "model_bytes": bundle.model_path.stat().st_size,
        "bare_invoke_us": round(b * 1e6, 2),
        "engine_window_us": round(med["engine"] * 1e6, 2),
        "engine_overhead": round(med["engine"] / b - 1.0, 4),
        "engine_bulk_window_us": round(med["bulk"] * 1e6, 2),
        "engine_bulk_overhead": round(med["bulk"] / b - 1.0, 4),
        "window_step_us": round(med["step"] * 1e6, 2),
        "window_step_overhead": round(med["step"] / b - 1.0, 4),
    }


# --------------------------------------------------------------------------------------------
# Uplink: bytes per record and per wearable-day, JSON vs binary, and the binary decode error

RAW_BYTES_PER_S = 50 * 6 * 2  # what the forwarded windows replace: 50 Hz x 6 channels x int16


def uplink(bundle) -> dict[str, Any]:
    """Windows of the demo clips (real MotionSense, every activity) through the engine, encoded every way."""
    import numpy as np

    from edge_runtime.bundle import output_quantization
    from edge_runtime.engine import Engine
    from edge_runtime.recording import load_samples
    from edge_runtime.sinks import binary
    from edge_runtime.sinks.envelope import Envelope
    from edge_runtime.sinks.mqtt import DEFAULT_TOPIC, topic_for

    engine, windows = Engine(bundle), []
    for i, clip in enumerate(("subject_5.csv", "subject_9.csv")):
        rec = load_samples(Path(__file__).resolve().parent.parent / "clips" / clip)
        windows += engine.push(f"wearable-{i + 1}", rec.t, rec.raw) + engine.flush(f"wearable-{i + 1}")
    values = np.stack([w.values for w in windows])
    spec = output_quantization(bundle)
    step = spec.scale if spec is not None else None
    chosen = binary.codec_for(bundle)
    candidates = {"float16": binary.FLOAT16}
    if spec is not None:
        candidates["int16"] = binary.ValueCodec("int16", spec.scale, chosen.zero_point)
        candidates[chosen.encoding] = chosen
    per_day = 86400 * engine.sample_rate / engine.stride
    w0, env0 = windows[0], Envelope.wrap(windows[0])
    topic = len(topic_for(DEFAULT_TOPIC, w0.device_id))

    def on_wire(payload: int) -> int:  # an MQTT 3.1.1 QoS 1 PUBLISH: header, length, topic, packet id
        remaining = 2 + topic + 2 + payload
        return 1 + (1 if remaining < 128 else 2 if remaining < 16384 else 3) + remaining

    json_bytes = len(env0.to_json())
    codecs = {}
    for name, codec in candidates.items():
        back = codec.decode_values(codec.encode_values(values), (-1, values.shape[-1])).reshape(values.shape)
        err = float(np.abs(back - values).max())
        size = len(binary.encode(env0.id, w0, codec))
        codecs[name] = {"bytes_per_record": size, "max_abs_error": err,
                        "error_vs_step": None if step is None else round(err / step, 4),
                        "reduction_vs_json": round(json_bytes / size, 2), "chosen": codec == chosen}
    best = codecs[chosen.encoding]
    return {
        "bundle": f"{bundle.id}@{bundle.version}", "windows": len(windows), "values_per_record": int(values[0].size),
        "output_step": step, "output_quantization": None if spec is None else spec.dtype,
        "records_per_day": round(per_day), "json_bytes_per_record": json_bytes,
        "json_bytes_per_day": round(json_bytes * per_day), "binary": codecs, "chosen": chosen.encoding,
        "binary_bytes_per_record": best["bytes_per_record"],
        "binary_bytes_per_day": round(best["bytes_per_record"] * per_day),
        "mqtt_bytes_per_record": {"json": on_wire(json_bytes), "binary": on_wire(best["bytes_per_record"])},
        "raw_bytes_per_day": RAW_BYTES_PER_S * 86400,
        "reduction": best["reduction_vs_json"],
        "error_below_step": step is None or best["max_abs_error"] < step,
    }


def uplink_markdown(entries: list[dict[str, Any]]) -> list[str]:
    out = ["Uplink, per forwarded window (one every window of samples; the demo clips' windows, every activity):",
           "", "| bundle | output step | encoding | bytes/record | MQTT PUBLISH bytes | bytes per wearable-day "
           "| vs JSON | max decode error (x step) |", "|---|---|---|---|---|---|---|---|"]
    for u in entries:
        step = f"{u['output_step']:.5g} ({u['output_quantization']})" if u["output_step"] else "none (float)"
        out.append(f"| {u['bundle']} | {step} | JSON (text) | {u['json_bytes_per_record']} | "
                   f"{u['mqtt_bytes_per_record']['json']} | {u['json_bytes_per_day'] / 1e6:.1f} MB | 1x | 7 digits |")
        for name, c in u["binary"].items():
            day = c["bytes_per_record"] * u["records_per_day"]
            mark = " **(chosen)**" if c["chosen"] else ""
            vs = f" ({c['error_vs_step']}x)" if c["error_vs_step"] is not None else ""
            out.append(f"| | | binary {name}{mark} | {c['bytes_per_record']} | "
                       f"{u['mqtt_bytes_per_record']['binary'] if c['chosen'] else '-'} | {day / 1e6:.1f} MB | "
                       f"{c['reduction_vs_json']}x | {c['max_abs_error']:.3g}{vs} |")
        out.append(f"| | | (raw samples, 50 Hz x 6 x int16) | | | {u['raw_bytes_per_day'] / 1e6:.1f} MB | | |")
    return out


# --------------------------------------------------------------------------------------------
# Throughput: bulk windows/s and concurrent streams per core


def throughput(bundle, streams: int, seconds: float, batch: int, stride: int | None) -> dict[str, Any]:
    import numpy as np

    from edge_runtime.engine import Engine

    rate = bundle.sample_rate
    n = int(seconds * rate)
    t, raw = synthetic_raw(n, rate)
    engine = Engine(bundle, stride=stride)
    phase = np.random.default_rng(1).uniform(0, 1, streams)  # streams are not in lock-step
    ids = [f"wearable-{i:04d}" for i in range(streams)]
    sizes = 0
    records = 0
    cpu0, wall0 = time.process_time(), time.perf_counter()
    for i in range(0, n, batch):
        for k, device in enumerate(ids):
            for r in engine.push(device, t[i:i + batch] + phase[k] + 1000.0, raw[i:i + batch]):
                sizes += len(r.to_json())
                records += 1
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    stream_seconds = streams * n / rate
    totals = engine.totals()
    return {
        "stride": engine.stride,
        "streams": streams,
        "seconds_per_stream": seconds,
        "batch_samples": batch,
        "windows": records,
        "windows_dropped": totals.get("windows_dropped", 0),
        "record_bytes": sizes // max(records, 1),
        "cpu_s": round(cpu, 3),
        "wall_s": round(wall, 3),
        "streams_per_core": round(stream_seconds / cpu, 1) if cpu > 0 else None,
        "windows_per_s": round(records / cpu, 1) if cpu > 0 else None,
    }


def bulk_windows_per_s(bundle, windows: int) -> float:
    from edge_runtime.engine import Engine

    t, raw = synthetic_raw(bundle.window * windows, bundle.sample_rate)
    engine = Engine(bundle)
    start = time.perf_counter()
    got = engine.push("bulk", t, raw)
    return round(len(got) / (time.perf_counter() - start), 1)


def batched_vs_one_window(bundle, windows: int, rounds: int) -> dict[str, Any]:
    """Bulk windows/s per core (CPU time), one window per invoke vs the bundle's batched invoke, side by
    side on the same model bytes: ready windows (the ``.npy`` path) and a recording streamed through
    the engine at the bundle's stride in 4096-sample pushes (the publishing path). Outputs compared
    bit for bit."""
    import numpy as np

    from edge_runtime.engine import Engine, stack_values, transform_windows
    from edge_runtime.interpreter import TFLiteInterpreter

    w = bundle.window
    one = TFLiteInterpreter.from_bundle(bundle, batched=False)
    many = TFLiteInterpreter.from_bundle(bundle)
    t, raw = synthetic_raw(w * windows, bundle.sample_rate, seed=2)
    ready = bundle.feature_set.from_raw(raw).reshape(windows, w, -1).astype(np.float32)
    n_rec = max(w * 2, (windows * bundle.stride) + w)  # ~windows windows at the bundle's stride
    t_rec, raw_rec = synthetic_raw(n_rec, bundle.sample_rate, seed=3)
    outputs: dict[str, Any] = {}

    def bulk(interp, name):
        def f() -> float:
            c0 = time.process_time()
            y, ok = transform_windows(bundle, ready, interpreter=interp, batch_size=1024)
            outputs[name] = y.tobytes()
            return windows / max(time.process_time() - c0, 1e-9)
        return f

    def stream(interp, name):
        def f() -> float:
            engine = Engine(bundle, stride=bundle.stride, interpreter=interp)
            c0 = time.process_time()
            records = []
            for i in range(0, n_rec, 4096):
                records += engine.push("r", t_rec[i:i + 4096], raw_rec[i:i + 4096])
            elapsed = time.process_time() - c0
            outputs[name] = stack_values(records).tobytes()
            return len(records) / max(elapsed, 1e-9)
        return f

    methods = {"bulk_one": bulk(one, "bulk_one"), "bulk_batched": bulk(many, "bulk_batched"),
               "stream_one": stream(one, "stream_one"), "stream_batched": stream(many, "stream_batched")}
    for f in methods.values():
        f()  # warm up (the batched interpreters are sized on first use)
    samples: dict[str, list[float]] = {k: [] for k in methods}
    for _ in range(rounds):
        for k, f in methods.items():
            samples[k].append(f())
    med = {k: statistics.median(v) for k, v in samples.items()}
    return {
        "batch": bundle.batch,
        "windows": windows,
        "bulk_one_window_per_s": round(med["bulk_one"], 1),
        "bulk_batched_per_s": round(med["bulk_batched"], 1),
        "bulk_speedup": round(med["bulk_batched"] / med["bulk_one"], 3),
        "stream_one_window_per_s": round(med["stream_one"], 1),
        "stream_batched_per_s": round(med["stream_batched"], 1),
        "stream_speedup": round(med["stream_batched"] / med["stream_one"], 3),
        "bit_identical": outputs["bulk_one"] == outputs["bulk_batched"] and outputs["stream_one"] == outputs["stream_batched"],
    }


# --------------------------------------------------------------------------------------------
# Subprocess measurements: cold start, peak RSS, Keras


def _child(module: str, params: dict[str, Any], timeout: float = 600.0) -> dict[str, Any]:
    """``python -m module PARAMS_JSON`` in a fresh process; its last JSON line."""
    env = dict(os.environ)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    proc = subprocess.run([sys.executable, "-m", module, json.dumps(params)], capture_output=True, text=True,
                          timeout=timeout, env=env)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        raise RuntimeError(f"benchmark subprocess failed (exit {proc.returncode}): {' | '.join(tail)}")
    return json.loads(lines[-1])


def engine_process(bundle, windows: int) -> dict[str, Any]:
    """A fresh process loading ``bundle`` as this one did (same signer key, or unsigned allowed)."""
    t0 = time.time()
    signer = bundle.signer
    out = _child("edge_runtime.commands.cold_start", {"bundle": str(bundle.path), "windows": windows,
                                                        "trust": [signer.source] if signer.source else [],
                                                        "allow_unsigned": signer.key_id is None})
    out["cold_start_s"] = out.pop("t_first") - t0
    return out


def tensorflow_process(bundle, keras_path: str | None, windows: int, rounds: int) -> dict[str, Any]:
    return _child("models.tensorflow_baseline", {
        "mean": bundle.norm_mean.tolist(), "std": bundle.norm_std.tolist(), "windows": windows, "rounds": rounds,
        "window": bundle.input_length, "channels": bundle.n_channels, "keras": keras_path, "model_path": str(bundle.model_path),
    })


def resolve_keras(path: str | None) -> str | None:
    from edge_runtime.errors import UserError

    if path is None:
        return None
    p = Path(path)
    if p.is_dir():
        p = p / "transform.keras"
    if not p.is_file():
        raise UserError(f"{path}: no Keras model here (a training run folder with transform.keras, or a .keras file)")
    return str(p)


# --------------------------------------------------------------------------------------------
# The whole run


def run_benchmark(
    bundles: list,
    keras: str | None = None,
    windows: int = 400,
    rounds: int = 7,
    streams: int = 200,
    stream_seconds: float = 20.0,
    batch: int = 10,
    tensorflow: bool = True,
    cold_runs: int = 3,
    dask_workers: bool = True,
    log=lambda msg: None,
) -> dict[str, Any]:
    """The whole benchmark of ``bundles`` (loaded and verified: :class:`~edge_runtime.bundle.Bundle`)."""
    from edge_runtime.model_cost import bundle_cost

    loaded = list(bundles)
    keras_path = resolve_keras(keras)
    main = loaded[0]
    from edge_runtime.errors import UserError

    res: dict[str, Any] = {"machine": machine(), "bundles": [], "skipped": [], "goals": {}}
    goals = res["goals"]
    res["created"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())

    for b in loaded:
        log(f"per-window cost: {b.id} ({b.quantization})")
        entry = per_window(b, windows, rounds)
        entry["bulk_windows_per_s"] = bulk_windows_per_s(b, max(windows, 50))
        entry["model_cost"] = bundle_cost(b)
        res["bundles"].append(entry)
    by_q = {e["quantization"]: e for e in res["bundles"]}
    if "int8" in by_q and "float32" in by_q:
        res["int8_vs_float32"] = {
            "bare_invoke_ratio": round(by_q["int8"]["bare_invoke_us"] / by_q["float32"]["bare_invoke_us"], 3),
            "engine_window_ratio": round(by_q["int8"]["engine_window_us"] / by_q["float32"]["engine_window_us"], 3),
            "size_ratio": round(by_q["int8"]["model_bytes"] / by_q["float32"]["model_bytes"], 3),
        }
    else:
        res["skipped"].append("int8 vs float32: pass one bundle of each quantization (--bundle A --bundle B)")

    log(f"bulk: one window per invoke vs batched ({main.id}, batch {main.batch!r})")
    res["batching"] = batched_vs_one_window(main, windows=max(windows * 4, 64), rounds=max(3, rounds // 2))
    goals["batched_bulk_speedup"] = _goal("batched_bulk_speedup", res["batching"]["bulk_speedup"],
                                          also=res["batching"]["bit_identical"])
    log("throughput: concurrent streams")
    res["throughput"] = [throughput(main, streams, stream_seconds, batch, stride=None)]
    if main.stride != main.window:
        res["throughput"].append(throughput(main, streams, stream_seconds, batch, stride=main.stride))

    log("cold start and memory: a fresh engine process")
    runs = [engine_process(main, windows=min(windows, 200)) for _ in range(cold_runs)]
    res["cold_start"] = {
        "runs": len(runs),
        "exec_to_first_window_s": round(statistics.median(r["cold_start_s"] for r in runs), 3),
        "import_s": round(statistics.median(r["import_s"] for r in runs), 3),
        "load_and_verify_s": round(statistics.median(r["load_s"] for r in runs), 4),
        "of_which_verify_s": round(statistics.median(r["verify_s"] for r in runs), 4),
        "of_which_interpreter_s": round(statistics.median(r["interpreter_s"] for r in runs), 4),
        "first_window_s": round(statistics.median(r["first_window_s"] for r in runs), 4),
    }
    res["memory"] = {"engine_peak_rss_mb": round(max(r["maxrss_mb"] for r in runs), 1),
                     "engine_process_imported_tensorflow": any(r["tensorflow_loaded"] for r in runs)}

    tf_res = None
    if not tensorflow:
        res["skipped"].append("TensorFlow baselines (Keras speed, TensorFlow RSS): --no-tensorflow")
    else:
        log("TensorFlow baseline (subprocess)")
        tf_res = tensorflow_process(main, keras_path, windows=min(windows, 200), rounds=max(3, rounds // 2))
        if "skipped" in tf_res:
            res["skipped"].append(f"TensorFlow baselines (Keras speed, TensorFlow RSS): {tf_res['skipped']}")
            tf_res = None
    if tf_res is not None:
        res["tensorflow"] = {k: (round(v, 2) if isinstance(v, float) else v) for k, v in tf_res.items()}
        res["memory"]["tensorflow_peak_rss_mb"] = round(tf_res["maxrss_mb"], 1)
        res["memory"]["tensorflow_process"] = tf_res["what"]
        res["memory"]["ratio"] = round(res["memory"]["engine_peak_rss_mb"] / tf_res["maxrss_mb"], 3)
        if keras_path:
            res["keras"] = {
                "model": keras_path,
                "per_window_us": round(tf_res["per_window_us"], 1),
                "engine_speedup": round(tf_res["per_window_us"] / res["bundles"][0]["engine_window_us"], 1),
            }
        else:
            res["skipped"].append("Keras model(x) speed: no Keras model given (--keras RUN_DIR or model.keras)")

    if dask_workers:
        from edge_runtime.publish.bench import workers_speedup

        log("publishing: a data set on a local Dask cluster, 1 vs 2 worker processes")
        try:
            res["dask"] = workers_speedup(main, quick=windows < 100)
        except UserError as exc:
            res["skipped"].append(f"Dask 1 vs 2 workers: {exc}")
        else:
            goals["dask_2_workers_speedup"] = _goal("dask_2_workers_speedup", res["dask"]["speedup"],
                                                    also=res["dask"]["bit_identical"])
    else:
        res["skipped"].append("Dask 1 vs 2 workers: --no-dask")

    e = res["bundles"][0]
    goals["window_step_overhead"] = _goal("window_step_overhead", e["window_step_overhead"])
    goals["engine_overhead"] = _goal("engine_overhead", e["engine_overhead"])
    if "keras" in res:
        goals["keras_speedup"] = _goal("keras_speedup", res["keras"]["engine_speedup"])
    if "ratio" in res["memory"]:
        goals["rss_ratio"] = _goal("rss_ratio", res["memory"]["ratio"])
    goals["streams_per_core"] = _goal("streams_per_core", res["throughput"][0]["streams_per_core"])
    log("uplink: bytes per record, JSON vs binary")
    res["uplink"] = [uplink(b) for b in loaded]
    u = res["uplink"][0]
    goals["uplink_reduction"] = _goal("uplink_reduction", u["reduction"], also=u["error_below_step"])
    return res


# --------------------------------------------------------------------------------------------
# Markdown


def to_markdown(res: dict[str, Any]) -> str:
    m = res["machine"]
    out = [
        "# edge-runtime benchmark",
        "",
        *([f"**Emulated ({m['emulated']}): timings are not the board's.** The model cost below is.", ""]
          if m.get("emulated") else []),
        f"Machine: {m['cpu'] or m['machine']} ({m['machine']}, {m['cpus']} CPUs), {m['system']}; "
        f"Python {m['python']}, numpy {m['numpy']}, {m['interpreter']} ({m['interpreter_threads']} thread)"
        + (f"; load average {m['load_average_1min']}" if "load_average_1min" in m else "")
        + f". {res['created']}.",
        "",
        "Per window: a bare interpreter set_tensor/invoke/get_tensor; the engine's window step on a ready window"
        " (fail-closed checks around the invoke, and the record); the whole engine fed one window of raw samples"
        " per push (+ units, features, resampling, windowing); the same fed 32 windows per push."
        " Medians of interleaved rounds.",
        "",
        "| bundle | quantization | bare invoke µs | window step µs (overhead) | engine, 1 window/push µs (overhead) "
        "| engine, 32 windows/push µs (overhead) | bulk windows/s |",
        "|---|---|---|---|---|---|---|",
    ]
    for b in res["bundles"]:
        out.append(f"| {b['id']} {b['version']} | {b['quantization']} ({b['io_dtype']} I/O, {b['model_bytes']} B) | "
                   f"{b['bare_invoke_us']:.1f} | {b['window_step_us']:.1f} ({100 * b['window_step_overhead']:+.0f}%) | "
                   f"{b['engine_window_us']:.1f} ({100 * b['engine_overhead']:+.0f}%) | "
                   f"{b['engine_bulk_window_us']:.1f} ({100 * b['engine_bulk_overhead']:+.0f}%) | "
                   f"{b['bulk_windows_per_s']:.0f} |")
    out += ["", "Model cost per window (the same on every machine; a board's latency is about MACs over its "
                "sustained MAC rate): " + "; ".join(
                    f"{b['id']}: {b['model_cost']['macs'] / 1e6:.2f} M MACs, {b['model_cost']['elementwise_ops']} "
                    f"element-wise ops, activation arena {b['model_cost']['arena_bytes']} B, constants "
                    f"{b['model_cost']['constant_bytes']} B" for b in res["bundles"] if "model_cost" in b) + "."]
    if "int8_vs_float32" in res:
        r = res["int8_vs_float32"]
        out += ["", f"int8 / float32: invoke time x{r['bare_invoke_ratio']}, engine time x{r['engine_window_ratio']}, "
                    f"model size x{r['size_ratio']}."]
    if "batching" in res:
        bt = res["batching"]
        out += ["", f"Bulk, one window per invoke vs batched (model batch {bt['batch']!r}; windows/s per core, CPU time; "
                    f"outputs bit-identical: {bt['bit_identical']}):", "",
                "| path | one-window | batched | speed-up |", "|---|---|---|---|",
                f"| ready windows ({bt['windows']}, the .npy path) | {bt['bulk_one_window_per_s']:.0f} | "
                f"{bt['bulk_batched_per_s']:.0f} | {bt['bulk_speedup']}x |",
                f"| a recording through the engine at the bundle's stride | {bt['stream_one_window_per_s']:.0f} | "
                f"{bt['stream_batched_per_s']:.0f} | {bt['stream_speedup']}x |"]
    if "dask" in res:
        d = res["dask"]
        out += ["", f"Publishing {d['recordings']} recordings ({d['windows']} windows, stride {d['stride']}) on a local "
                    f"Dask cluster, {d['rounds']} interleaved round(s), medians (cluster start not timed; outputs "
                    f"bit-identical to one process: {d['bit_identical']}). The ceiling: the graph alone, invoked in "
                    "every worker at once:",
                "", "| workers | wall s | windows/s | worker CPU µs per window | ceiling: invokes/s |", "|---|---|---|---|---|"]
        out += [f"| {r['workers']} | {r['wall_s']} | {r['windows_per_s']:.0f} | {r['worker_cpu_us_per_window']} | "
                f"{r['invokes_per_s_alone']:.0f} |" for r in d["runs"]]
        out += ["", f"2 vs 1 workers: {d['speedup']}x (rounds: {', '.join(f'{v}x' for v in d['round_speedups'])}); "
                    f"the machine's own ceiling, the graph alone in 2 vs 1 processes: {d['machine_ceiling']}x."]
    out += ["", "| streams | stride | batch | windows | bytes/record | CPU s | streams per core | windows/s per core |",
            "|---|---|---|---|---|---|---|---|"]
    for t in res["throughput"]:
        out.append(f"| {t['streams']} x {t['seconds_per_stream']:g} s | {t['stride']} | {t['batch_samples']} | "
                   f"{t['windows']} (dropped {t['windows_dropped']}) | {t['record_bytes']} | {t['cpu_s']} | "
                   f"{t['streams_per_core']} | {t['windows_per_s']} |")
    c, mem = res["cold_start"], res["memory"]
    out += ["", f"Cold start (fresh process, exec to first transformed window, median of {c['runs']}): "
                f"{c['exec_to_first_window_s']} s (imports {c['import_s']} s, bundle load+verify "
                f"{c['load_and_verify_s']} s"
                + (f": verify {c['of_which_verify_s']} s, interpreter {c['of_which_interpreter_s']} s"
                   if "of_which_verify_s" in c else "")
                + f", first window {c['first_window_s']} s).",
            "", f"Peak RSS: engine process {mem['engine_peak_rss_mb']} MB"
                + (f" (TensorFlow imported: {mem['engine_process_imported_tensorflow']})")
                + (f"; TensorFlow process {mem['tensorflow_peak_rss_mb']} MB ({mem['tensorflow_process']}); "
                   f"ratio {mem['ratio']}" if "ratio" in mem else "") + "."]
    if "keras" in res:
        k = res["keras"]
        out += ["", f"Keras model(x): {k['per_window_us']} µs/window; the engine is {k['engine_speedup']}x faster."]
    if "uplink" in res:
        out += [""] + uplink_markdown(res["uplink"])
    out += ["", "| goal | target | measured | met |", "|---|---|---|---|"]
    for key, goal in GOALS.items():
        g = res["goals"].get(key)
        if g is None:
            out.append(f"| {goal.name} | {goal.target} | skipped | - |")
            continue
        out.append(f"| {goal.name} | {goal.target} | {goal.show(g['value'])} | {'yes' if g['met'] else 'NO'} |")
    if res["skipped"]:
        out += ["", "Skipped:"] + [f"- {s}" for s in res["skipped"]]
    return "\n".join(out) + "\n"
