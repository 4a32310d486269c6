"""``edge-runtime inspect BUNDLE [--json] [--trust KEY.pub]``: verify a bundle and print its manifest.

Verification comes first (signature, checksums, schema, shapes, quantization), so what is printed is
what the runtime would actually run, and who signed it. TensorFlow-free.
"""

from __future__ import annotations

import argparse
import json


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("bundle", help="bundle folder, its manifest.json, or a shipped bundle name (e.g. motionsense-gender)")
    parser.add_argument("--json", action="store_true",
                        help="print the manifest as JSON (machine-readable), with the signer under '_signer'")
    from edge_runtime.signing import add_trust_arguments

    add_trust_arguments(parser)


def run(args: argparse.Namespace) -> int:
    from edge_runtime.bundle import load_bundle_from_args

    bundle = load_bundle_from_args(args.bundle, args, "edge-runtime inspect")
    if args.json:
        signer = {"key_id": bundle.signer.key_id, "trusted_key": bundle.signer.source}
        print(json.dumps({**bundle.manifest, "_signer": signer}, indent=2, sort_keys=False))
    else:
        print(format_manifest(bundle.manifest, str(bundle.path), signer=str(bundle.signer)
                              + (f" (trusted: {bundle.signer.source})" if bundle.signer.source else "")))
    return 0


def _num(v: object, fmt: str = ".4g") -> str:
    if v is None:
        return "-"
    return format(v, fmt) if isinstance(v, (int, float)) and not isinstance(v, bool) else str(v)


def _codes(names: list) -> str:
    return ",".join(names) or "-"


def format_manifest(m: dict, path: str = "", signer: str | None = None) -> str:
    """A human summary of a verified manifest: contract first, then provenance and measured parity."""
    model = m["model"]
    lines = [
        f"bundle      {m['id']} {m['version']}  (schema {m['schema_version']}, verified)",
        f"path        {path}" if path else None,
        f"signed by   {signer}" if signer else None,
        f"features    {m['feature_set']}: "
        + ", ".join(f"{c} [{u}]" for c, u in zip(m["channels"], m["units"])),
        f"timing      {m['sample_rate']:g} Hz, window {m['window']} samples, release stride {m['stride']}"
        + (f"; context {m['context']['before']} before + {m['context']['after']} after "
           f"(a window leaves {m['context']['after'] / m['sample_rate']:g} s after its last sample)"
           if m.get("context") else ""),
        ("keeps       " + ", ".join(m["keeps"]) + " (everything else in the output is population data)")
        if m.get("keeps") else None,
        f"model       {model['file']}  signature '{model['signature']}', {m['quantization']}, "
        f"in {model['input']['dtype']}{model['input']['shape']} -> out {model['output']['dtype']}{model['output']['shape']}"
        + (f", batch {model['batch']} windows per invoke" if model.get("batch", 1) != 1 else ""),
    ]
    for side in ("input", "output"):
        t = model[side]
        if t["dtype"] != "float32":
            lines.append(f"  {side:<9} real = {t['scale']:.6g} * (q - {t['zero_point']})")
    acts = m["activities"]
    lines += [
        f"activities  required {_codes(acts['required'])}; sensitive {_codes(acts['sensitive'])}; "
        f"neutral {_codes(acts['neutral'])}",
        "protected   " + (", ".join(m["protected"]) or "-"),
        "norm        mean " + ", ".join(f"{v:.5g}" for v in m["norm"]["mean"])
        + "; std " + ", ".join(f"{v:.5g}" for v in m["norm"]["std"]),
    ]
    training = m.get("training", {})
    if training:
        lines.append(f"training    recipe {training.get('recipe', '-')}, data sha256 {str(training.get('data_sha256', '-'))[:16]}...")
    conv = m.get("conversion", {})
    if conv:
        lines.append(f"converted   {conv.get('created', '-')} by {conv.get('tool', '-')} from {conv.get('source', '-')}")
        if "size_bytes" in conv:
            ratio = conv.get("size_ratio_vs_float32")
            consts = conv.get("constant_bytes"), conv.get("float32_constant_bytes")
            lines.append(f"size        {conv['size_bytes']} bytes" + (f" ({ratio:.3f}x float32)" if ratio else "")
                         + (f"; weights/constants {consts[0]} bytes ({consts[0] / consts[1]:.3f}x)" if all(consts) else ""))
        parity = conv.get("parity", {})
        if parity:
            lines.append(
                f"parity      vs float Keras on {parity.get('windows', '?')} held-out windows: "
                f"max |diff| {_num(parity.get('max_abs_diff'))}, mean |diff| {_num(parity.get('mean_abs_diff'))}"
            )
        table = conv.get("metrics", {})
        if table:
            lines.append(f"  {'metric':<40} {'keras':>8} {'tflite':>8} {'diff':>8} {'limit':>6}")
            for key, row in table.items():
                limit = row.get("limit")
                mark = "" if limit is None else ("  ok" if row.get("ok") else "  MISSED")
                lines.append(
                    f"  {key:<40} {_num(row.get('keras'), '.4f'):>8} {_num(row.get('tflite'), '.4f'):>8} "
                    f"{_num(row.get('diff'), '+.4f'):>8} {_num(limit):>6}{mark}"
                )
        elif conv.get("metrics_note"):
            lines.append(f"judges      {conv['metrics_note']}")
        if "targets_met" in conv:
            missed = [name for name, ok in conv.get("targets", {}).items() if not ok]
            lines.append("targets     " + ("all met" if conv["targets_met"] else
                                           "MISSED: " + "; ".join(missed) + " (converted with --allow-parity-miss)"))
    from edge_runtime.measured import measured_lines

    lines += measured_lines(m.get("measured"))
    lines.append("files       " + ", ".join(f"{k} sha256 {v[:12]}..." for k, v in m["files"].items()))
    return "\n".join(line for line in lines if line is not None)

