"""Where a bundle's invoke time goes: bundles side by side, interleaved, and a per-op profile.

    python benchmarks/bench_graph_ops.py --bundle motionsense-gender --bundle OLD_BUNDLE_FOLDER \\
        --profile [--profile-batch 64] --json out.json --markdown out.md

LiteRT's Python API has no op profiler, so the profile times *prefixes* of the graph: the flatbuffer
cut after op k (its outputs made the subgraph's outputs), for every k; op k's cost is the difference
of consecutive prefixes (minimum over rounds, which is what an idle core gives). Prefixes are also
timed without the default XNNPACK delegate, which shows the ops XNNPACK runs slower than the builtin
kernels. Side by side: bare invoke and the whole engine fed one window per push, every bundle in
every round (interleaved, so a busy machine slows all of them alike), and bulk windows/s one window
per invoke vs batched where the bundle takes a batch.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections import defaultdict

import numpy as np


def _interpreter(model: bytes, delegate: bool = True):
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    kw = {} if delegate else {"experimental_op_resolver_type": OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES}
    it = Interpreter(model_content=model, num_threads=1, **kw)
    it.allocate_tensors()
    return it


def _prefix(model: bytes, k: int) -> bytes:
    from converters.flatbuffer import read_model, write_model

    obj = read_model(model)
    sub = obj.subgraphs[0]
    sub.operators = sub.operators[:k + 1]
    sub.outputs = list(sub.operators[-1].outputs)
    obj.signatureDefs = []
    return write_model(obj)


def op_names(model: bytes) -> list[tuple[str, list[int]]]:
    from ai_edge_litert import schema_py_generated as schema

    from converters.flatbuffer import read_model

    names = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
    obj = read_model(model)
    sub = obj.subgraphs[0]
    codes = [max(c.builtinCode, c.deprecatedBuiltinCode) for c in obj.operatorCodes]
    return [(names.get(codes[op.opcodeIndex], "?"), [int(d) for d in sub.tensors[op.outputs[0]].shape])
            for op in sub.operators]


def _interpreter_for(model: bytes, x: np.ndarray, delegate: bool = True):
    it = _interpreter(model, delegate)
    i = it.get_input_details()[0]["index"]
    if tuple(it.get_input_details()[0]["shape"]) != x.shape:  # a batch of windows: a dynamic-batch model
        it.resize_tensor_input(i, list(x.shape))
        it.allocate_tensors()
    it.set_tensor(i, x)
    return it


def profile(model: bytes, x: np.ndarray, rounds: int = 7, invokes: int = 100) -> dict:
    """Per-op microseconds per window of the batch ``x`` (prefix differences, min over rounds), with
    XNNPACK and without; ``prefix_us``: the graph up to and including the op (the steadier figure)."""
    ops = op_names(model)
    batch = x.shape[0]
    invokes = max(3, invokes // batch)
    out = {}
    for delegate in (True, False):
        its = [_interpreter_for(_prefix(model, k), x, delegate) for k in range(len(ops))]
        best = np.full(len(its), np.inf)
        for _ in range(rounds):
            for k, it in enumerate(its):
                invoke = it.invoke
                start = time.perf_counter()
                for _ in range(invokes):
                    invoke()
                best[k] = min(best[k], (time.perf_counter() - start) / invokes / batch * 1e6)
        out["xnnpack" if delegate else "builtin"] = best
    diff = {k: np.diff(np.concatenate([[0.0], v])) for k, v in out.items()}
    return {"batch": batch,
            "ops": [{"op": name, "shape": shape, "us": round(a, 2), "us_builtin": round(b, 2), "prefix_us": round(c, 1)}
                    for (name, shape), a, b, c in zip(ops, diff["xnnpack"], diff["builtin"], out["xnnpack"])],
            "total_us": round(float(out["xnnpack"][-1]), 1), "total_builtin_us": round(float(out["builtin"][-1]), 1)}


def side_by_side(bundles, rounds: int, windows: int) -> list[dict]:
    from edge_runtime.commands.benchmark import synthetic_raw
    from edge_runtime.context import context_windows
    from edge_runtime.engine import Engine, transform_windows
    from edge_runtime.interpreter import TFLiteInterpreter

    t, raw = synthetic_raw(128 * 64, 50.0)
    setups = []
    for b in bundles:
        w = b.window
        series = b.feature_set.from_raw(raw)
        feats = context_windows(series, np.arange(64) * w, w, b.context_before, b.context_after)
        it = _interpreter(b.read_model())
        setups.append({"bundle": b, "feats": feats, "xs": [b.input.quantize(f[None]) for f in feats], "bare": it,
                       "i": it.get_input_details()[0]["index"], "o": it.get_output_details()[0]["index"],
                       "engine": Engine(b, num_threads=1), "clock": 0.0,
                       "chunks": [(np.arange(w) / b.sample_rate, raw[k * w:(k + 1) * w]) for k in range(64)]})

    def bare(s):
        it, i, o, xs = s["bare"], s["i"], s["o"], s["xs"]
        start = time.perf_counter()
        for k in range(windows):
            it.set_tensor(i, xs[k % 64])
            it.invoke()
            it.get_tensor(o)
        return (time.perf_counter() - start) / windows * 1e6

    def engine(s):
        b, e = s["bundle"], s["engine"]
        start = time.perf_counter()
        for k in range(windows):
            tt, rr = s["chunks"][k % 64]
            e.push("bench", tt + s["clock"], rr)
            s["clock"] += b.window / b.sample_rate
        return (time.perf_counter() - start) / windows * 1e6

    def bulk(s, batched: bool):
        b = s["bundle"]
        x = np.concatenate([s["feats"]] * 25).astype(np.float32)
        interp = TFLiteInterpreter.from_bundle(b, batched=batched)
        start = time.process_time()
        y, ok = transform_windows(b, x, interpreter=interp)
        return len(x) / (time.process_time() - start), y

    samples = [defaultdict(list) for _ in setups]
    for s in setups:  # warm up
        bare(s), engine(s)
    for _ in range(rounds):
        for s, acc in zip(setups, samples):
            acc["bare"].append(bare(s))
            acc["engine"].append(engine(s))
            one, y1 = bulk(s, False)
            many, yb = bulk(s, True)
            acc["bulk_one"].append(one)
            acc["bulk_batched"].append(many)
            acc["identical"].append(y1.tobytes() == yb.tobytes())
    rows = []
    for s, acc in zip(setups, samples):
        b = s["bundle"]
        rows.append({"id": b.id, "version": b.version, "batch": b.batch, "input": [b.input_length, b.n_channels],
                     "bare_invoke_us": round(statistics.median(acc["bare"]), 1),
                     "engine_1_window_per_push_us": round(statistics.median(acc["engine"]), 1),
                     "bare_invoke_min_us": round(min(acc["bare"]), 1),  # the least a busy shared machine added
                     "engine_1_window_per_push_min_us": round(min(acc["engine"]), 1),
                     "bulk_one_window_per_s": round(statistics.median(acc["bulk_one"])),
                     "bulk_batched_per_s": round(statistics.median(acc["bulk_batched"])),
                     "bulk_bit_identical": all(acc["identical"])})
    return rows


def markdown(res: dict) -> str:
    lines = ["# bundle invoke cost, side by side", "",
             f"Machine: {res['machine']}; {res['rounds']} interleaved rounds of {res['windows']} windows; "
             "medians. Bulk: ready windows through `transform_windows`, windows/s per core (CPU time).", "",
             "| bundle | batch | bare invoke µs | engine, 1 window/push µs | bulk one-window /s | bulk batched /s | "
             "batched bit-identical |", "|---|---|---|---|---|---|---|"]
    for r in res["bundles"]:
        lines.append(f"| {r['id']} {r['version']} ({r['path']}) | {r['batch']} | {r['bare_invoke_us']} | "
                     f"{r['engine_1_window_per_push_us']} | {r['bulk_one_window_per_s']} | {r['bulk_batched_per_s']} | "
                     f"{r['bulk_bit_identical']} |")
    ref = res["bundles"][-1]
    lines += ["", "Ratios to the last bundle: " + "; ".join(
        f"{r['id']} {r['version']}: bare {r['bare_invoke_us'] / ref['bare_invoke_us']:.2f}x, engine "
        f"{r['engine_1_window_per_push_us'] / ref['engine_1_window_per_push_us']:.2f}x (fastest rounds: bare "
        f"{r['bare_invoke_min_us'] / ref['bare_invoke_min_us']:.2f}x, engine "
        f"{r['engine_1_window_per_push_min_us'] / ref['engine_1_window_per_push_min_us']:.2f}x)"
        for r in res["bundles"][:-1]) + "."]
    for p in res.get("profiles", []):
        lines += ["", f"## per-op profile: {p['id']} {p['version']} ({len(p['ops'])} ops, batch {p.get('batch', 1)})", "",
                  f"Per window; prefix differences, min over rounds: {p['total_us']} µs with XNNPACK, {p['total_builtin_us']} µs "
                  "on the builtin kernels alone. By op type (µs, XNNPACK / builtin; a cut changes how XNNPACK partitions "
                  "the graph, so single differences are noisy, negative ones included: read the large entries):", "",
                  "| op | count | µs | µs builtin |", "|---|---|---|---|"]
        by = defaultdict(lambda: [0, 0.0, 0.0])
        for o in p["ops"]:
            e = by[o["op"]]
            e[0] += 1
            e[1] += o["us"]
            e[2] += o["us_builtin"]
        for name, (n, a, b) in sorted(by.items(), key=lambda kv: -kv[1][1]):
            lines.append(f"| {name} | {n} | {a:.1f} | {b:.1f} |")
        lines += ["", "<details><summary>every op</summary>", "",
                  "| # | op | output | µs | µs builtin | graph up to here µs |", "|---|---|---|---|---|---|"]
        lines += [f"| {k} | {o['op']} | {o['shape']} | {o['us']} | {o['us_builtin']} | {o['prefix_us']} |"
                  for k, o in enumerate(p["ops"])]
        lines += ["", "</details>"]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    import platform

    from edge_runtime.bundle import load_bundle

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bundle", action="append", required=True, help="bundle folder or shipped name; repeat")
    ap.add_argument("--rounds", type=int, default=9)
    ap.add_argument("--windows", type=int, default=400)
    ap.add_argument("--profile", action="store_true", help="also profile every bundle op by op")
    ap.add_argument("--profile-batch", type=int, default=1, metavar="N",
                    help="profile a batch of N windows per invoke (a dynamic-batch bundle); times are per window")
    ap.add_argument("--json")
    ap.add_argument("--markdown")
    args = ap.parse_args(argv)
    bundles = [load_bundle(b) for b in args.bundle]
    res = {"machine": f"{platform.processor() or platform.machine()}, {platform.system()} {platform.release()}, "
                      f"load average {' '.join(f'{v:.2f}' for v in __import__('os').getloadavg())}, "
                      f"{time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}",
           "rounds": args.rounds, "windows": args.windows,
           "bundles": [dict(r, path=str(p)) for r, p in zip(side_by_side(bundles, args.rounds, args.windows), args.bundle)]}
    if args.profile:
        res["profiles"] = []
        for b in bundles:
            shape = (args.profile_batch, b.input_length, b.n_channels)
            x = np.abs(np.random.default_rng(0).normal(1.0, 0.5, shape)).astype(np.float32)
            res["profiles"].append({"id": b.id, "version": b.version, **profile(b.read_model(), b.input.quantize(x))})
    md = markdown(res)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(res, fh, indent=1)
    if args.markdown:
        with open(args.markdown, "w", encoding="utf-8") as fh:
            fh.write(md)
    print(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
