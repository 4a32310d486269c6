"""``edge-runtime sign BUNDLE... --key KEY``: sign bundles (writes each one's ``manifest.sig``).

Each bundle is fully verified first (checksums, schema, the model's tensors, quantization and size;
an old signature is not needed and is replaced), so only a bundle that checks out gets signed.
``BUNDLE`` is a folder given as a path, or a shipped bundle's name.
"""

from __future__ import annotations

import argparse


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("bundles", nargs="+", metavar="BUNDLE", help="bundle folder(s), or shipped bundle name(s)")
    parser.add_argument("--key", required=True, metavar="KEY", help="Ed25519 private key (made by edge-runtime keygen)")


def run(args: argparse.Namespace) -> int:
    from edge_runtime.bundle import load_bundle, read_manifest_bytes, resolve_bundle_path, verify_contents
    from edge_runtime.signing import Trust, key_id, load_private_key, sign_bundle

    key = load_private_key(args.key)
    public = key.public_key()
    folders = [resolve_bundle_path(b) for b in args.bundles]
    manifests = [verify_contents(f, read_manifest_bytes(f)) for f in folders]  # all check out before any is signed
    for folder, m in zip(folders, manifests):
        sign_bundle(folder, key)
        load_bundle(folder, trust=Trust({key_id(public): public}))  # the signature just written verifies
        print(f"signed {m['id']} {m['version']} ({folder}) with key {key_id(public)}")
    return 0
