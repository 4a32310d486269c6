"""Output parity of two ``edge-runtime transform`` CSVs of the same clip and bundle (ARM vs x86).

Passes when both hold the same windows and every value is within one int8 step of the bundle's output
(the scale of the int8 tensor its final DEQUANTIZE reads): x86's XNNPACK rounds a few values one step
differently from other kernels. A bundle that *decides* (classifies, then emits a stored window) can
also decide a near-tie differently on another architecture's kernels: such a window differs as a whole.
Those are counted apart ("decided differently": most of the window more than a step away) and allowed
only up to ``--max-decided-differently`` (default 0). Prints what it measured.

    python3 deploy/arm/parity.py --bundle motionsense-gender X86.csv ARM.csv [--label arm64]
"""

from __future__ import annotations

import argparse
import sys

import numpy as np


def output_step(bundle) -> float:
    """The bundle's output quantization step: of the output itself (int8 I/O) or of what it dequantizes."""
    from edge_runtime.interpreter import load_backend

    _, cls = load_backend()
    it = cls(model_content=bundle.read_model(), num_threads=1)
    it.allocate_tensors()
    out = it.get_output_details()[0]
    scale = out["quantization"][0]
    if scale:
        return float(scale)
    tensors = {t["index"]: t for t in it.get_tensor_details()}
    for op in it._get_ops_details():
        if op["op_name"] == "DEQUANTIZE" and out["index"] in op["outputs"]:
            return float(tensors[op["inputs"][0]]["quantization"][0])
    raise SystemExit(f"{bundle.id}: its output is float and not a DEQUANTIZE of an int8 tensor; no int8 step")


def read(path: str) -> tuple[list[str], np.ndarray]:
    with open(path, encoding="utf-8") as fh:
        header = fh.readline().strip().split(",")
    return header, np.loadtxt(path, delimiter=",", skiprows=1, ndmin=2)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("reference")
    p.add_argument("candidate")
    p.add_argument("--bundle", required=True)
    p.add_argument("--label", default="candidate")
    p.add_argument("--max-decided-differently", type=int, default=0, metavar="N",
                   help="windows allowed to differ as a whole (a near-tie decided the other way)")
    args = p.parse_args(argv)
    from edge_runtime.bundle import load_bundle

    step = output_step(load_bundle(args.bundle))
    (h_ref, ref), (h_arm, arm) = read(args.reference), read(args.candidate)
    if h_ref != h_arm or ref.shape != arm.shape:
        print(f"  parity {args.label}: FAIL different outputs: {h_ref} {ref.shape} vs {h_arm} {arm.shape}")
        return 1
    if not np.array_equal(ref[:, :2], arm[:, :2]):  # window index and time
        print(f"  parity {args.label}: FAIL windows or times differ")
        return 1
    diff = np.abs(ref[:, 2:] - arm[:, 2:]) / step
    steps, far = np.rint(diff), diff > 1.0 + 1e-3
    windows = ref[:, 0].astype(int)
    decided = sorted({int(w) for w in np.unique(windows) if far[windows == w].mean() > 0.5})
    numeric = far & ~np.isin(windows, decided)[:, None]  # off by more than a step without a different decision
    ok = not numeric.any() and len(decided) <= args.max_decided_differently
    same = ~np.isin(windows, decided)
    print(f"  parity {args.label} vs x86: {windows.max() + 1} windows, {diff.size} values; in the windows decided alike "
          f"({int(len(np.unique(windows)) - len(decided))}): identical {int((steps[same] == 0).sum())}, one int8 step "
          f"({step:.6g}) apart {int((steps[same] == 1).sum())}, more {int(numeric.sum())} (max "
          f"{diff[same].max():.3f} steps); decided differently: {len(decided)} window(s) {decided} "
          f"(allowed {args.max_decided_differently}) -> {'PASS' if ok else 'FAIL'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
