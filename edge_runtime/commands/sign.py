"""``edge-runtime sign BUNDLE... --key KEY``: sign bundles (writes each one's ``manifest.sig``).

Each bundle is fully verified first (checksums, schema, the model's tensors, quantization and size;
an old signature is not needed and is replaced), so only a bundle that checks out gets signed.
``BUNDLE`` is a folder given as a path, or a shipped bundle's name.

``--measured REPORT`` first records, in the manifest, the figures ``edge-runtime evaluate --bundle``
measured on this very bundle version (its ``measured`` block: judges, adaptive attackers, utility,
label-only and frontier rows), so the signature vouches for them too. A report of another version is
refused: figures never travel to a model they were not measured on.
"""

from __future__ import annotations

import argparse


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("bundles", nargs="+", metavar="BUNDLE", help="bundle folder(s), or shipped bundle name(s)")
    parser.add_argument("--key", required=True, metavar="KEY", help="Ed25519 private key (made by edge-runtime keygen)")
    parser.add_argument("--measured", metavar="REPORT",
                        help="report.json of `edge-runtime evaluate --bundle` on these bundle versions: record its "
                             "measured figures in each manifest before signing")


def read_report(report_path: str) -> list:
    """The entries of an ``edge-runtime evaluate`` report.json (a one-line error if it is not one)."""
    import json
    from pathlib import Path

    from edge_runtime.errors import UserError

    try:
        entries = json.loads(Path(report_path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise UserError(f"--measured {report_path}: not a readable report.json ({e})") from None
    return entries if isinstance(entries, list) else []


def with_measured(manifest: dict, entries: list, report_path: str) -> dict:
    """``manifest`` with the ``measured`` block the report holds for its exact id, version and model."""
    from edge_runtime.errors import UserError

    model_sha = manifest["files"][manifest["model"]["file"]]
    for entry in entries:
        b = entry.get("bundle") if isinstance(entry, dict) else None
        if isinstance(b, dict) and (b.get("id"), b.get("version"), b.get("model_sha256")) == (
                manifest["id"], manifest["version"], model_sha) and isinstance(entry.get("measured"), dict):
            return {**manifest, "measured": {**entry["measured"], "report": str(report_path)}}
    raise UserError(f"--measured {report_path}: no figures for {manifest['id']} {manifest['version']} "
                    f"(model sha256 {model_sha[:12]}...); evaluate this bundle version first")


def run(args: argparse.Namespace) -> int:
    from edge_runtime.bundle import (load_bundle, read_manifest_bytes, resolve_bundle_path, verify_contents,
                                     write_manifest)
    from edge_runtime.signing import Trust, key_id, load_private_key, sign_bundle

    key = load_private_key(args.key)
    public = key.public_key()
    folders = [resolve_bundle_path(b) for b in args.bundles]
    manifests = [verify_contents(f, read_manifest_bytes(f)) for f in folders]  # all check out before any is signed
    if args.measured:
        entries = read_report(args.measured)
        manifests = [with_measured(m, entries, args.measured) for m in manifests]  # every bundle has figures, or none changes
        for folder, m in zip(folders, manifests):
            write_manifest(folder, m)
            verify_contents(folder, read_manifest_bytes(folder))
    for folder, m in zip(folders, manifests):
        sign_bundle(folder, key)
        load_bundle(folder, trust=Trust({key_id(public): public}))  # the signature just written verifies
        print(f"signed {m['id']} {m['version']} ({folder}) with key {key_id(public)}")
    return 0
