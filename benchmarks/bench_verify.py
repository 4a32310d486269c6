"""What verifying a bundle's signature adds to cold start: fresh processes, side by side, interleaved.

    python benchmarks/bench_verify.py [--bundle motionsense-gender] [--processes 25] [--json out.json]

Each fresh process imports the engine's modules (numpy, ``edge_runtime.bundle``), then times
``load_bundle(bundle, trust=default_trust())`` (what ``edge-runtime benchmark``'s cold start reports as
``verify_s``). Three arms, one process of each per round: ``unsigned`` (a copy of the bundle without
``manifest.sig``, let through with allow_unsigned: the load without any verification), ``cryptography``
(:mod:`edge_runtime.ed25519`'s fallback forced: the ``cryptography`` import this change removed) and
``openssl`` (what a device does now: the interpreter's libcrypto). Every arm runs with bytecode caches
allowed (``.pyc``, as on an installed device) and with ``PYTHONDONTWRITEBYTECODE=1`` (our modules compiled
in every process); medians per arm and mode, and the verify cost over ``unsigned``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
ARMS = ("unsigned", "cryptography", "openssl")
MODES = {"pyc": {}, "no-pyc": {"PYTHONDONTWRITEBYTECODE": "1"}}

CHILD = """
import json, sys, time
import numpy
from edge_runtime import ed25519
from edge_runtime.bundle import load_bundle
from edge_runtime.signing import default_trust
arm, bundle = sys.argv[1], sys.argv[2]
if arm == "cryptography":
    ed25519.openssl = lambda: None
t0 = time.perf_counter()
b = load_bundle(bundle, trust=default_trust(allow_unsigned=arm == "unsigned"))
t1 = time.perf_counter()
print(json.dumps({"load_verify_s": t1 - t0, "signed": b.signer.key_id is not None, "backend": ed25519.backend(),
                  "cryptography_imported": "cryptography" in sys.modules}))
"""


def run_child(arm: str, bundle: str, env: dict) -> dict:
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", CHILD, arm, bundle], cwd=REPO, env=env, capture_output=True, text=True,
                         check=True, timeout=120)
    r = json.loads(out.stdout)
    r["process_s"] = time.perf_counter() - t0
    return r


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bundle", default="motionsense-gender")
    ap.add_argument("--processes", type=int, default=25, help="fresh processes per arm and mode (default 25)")
    ap.add_argument("--json", type=Path, help="also write the samples and medians here")
    args = ap.parse_args(argv)

    from edge_runtime.bundle import load_bundle
    from edge_runtime.signing import SIGNATURE_FILE

    source = load_bundle(args.bundle).path  # resolved and verified once, here
    with tempfile.TemporaryDirectory() as tmp:
        unsigned = Path(tmp) / source.name
        shutil.copytree(source, unsigned)
        (unsigned / SIGNATURE_FILE).unlink()
        base = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
        envs = {mode: {**{k: v for k, v in base.items() if k != "PYTHONDONTWRITEBYTECODE"}, **extra}
                for mode, extra in MODES.items()}
        bundles = {"unsigned": str(unsigned), "cryptography": args.bundle, "openssl": args.bundle}
        for arm in ARMS:  # warm-up: writes the .pyc files the "pyc" mode reads, and fills the page cache
            run_child(arm, bundles[arm], envs["pyc"])
        samples = {(mode, arm): [] for mode in MODES for arm in ARMS}
        for _ in range(args.processes):
            for mode in MODES:
                for arm in ARMS:
                    samples[mode, arm].append(run_child(arm, bundles[arm], envs[mode]))

    report = {"bundle": args.bundle, "processes": args.processes, "python": sys.version.split()[0],
              "loadavg": os.getloadavg(), "medians": {}}
    print(f"bundle {args.bundle}: {args.processes} fresh processes per arm and mode, interleaved; "
          f"load average {os.getloadavg()[0]:.2f}")
    print(f"{'mode':8} {'arm':13} {'backend':13} {'cryptography':>13} {'load+verify':>12} {'over unsigned':>14} "
          f"{'whole process':>14}")
    for mode in MODES:
        base_ms = 1e3 * statistics.median(r["load_verify_s"] for r in samples[mode, "unsigned"])
        for arm in ARMS:
            rs = samples[mode, arm]
            assert all(r["signed"] == (arm != "unsigned") for r in rs)
            lv = 1e3 * statistics.median(r["load_verify_s"] for r in rs)
            whole = 1e3 * statistics.median(r["process_s"] for r in rs)
            backends = "/".join(sorted({r["backend"] if arm != "unsigned" else "-" for r in rs}))
            imported = "imported" if any(r["cryptography_imported"] for r in rs) else "not imported"
            report["medians"][f"{mode}/{arm}"] = {"load_verify_ms": lv, "over_unsigned_ms": lv - base_ms,
                                                  "process_ms": whole, "backend": backends,
                                                  "cryptography_imported": imported == "imported"}
            print(f"{mode:8} {arm:13} {backends:13} {imported:>13} {lv:9.2f} ms {lv - base_ms:+11.2f} ms "
                  f"{whole:11.1f} ms")
        c, o = (report["medians"][f"{mode}/{a}"]["over_unsigned_ms"] for a in ("cryptography", "openssl"))
        print(f"{mode:8} verification adds {o:.2f} ms with openssl, {c:.2f} ms with cryptography "
              f"(saves {c - o:.2f} ms)")
    if args.json:
        report["samples"] = {f"{m}/{a}": v for (m, a), v in samples.items()}
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
