"""``edge-runtime export BUNDLE --target {android,ios} --out DIR``: a bundle, packaged for an app team.

Writes the ``.tflite`` with the manifest embedded as TFLite metadata, ``input_contract.json``,
``parity_check.json`` and ``INTEGRATION.md``. The bundle is verified first.
"""

from __future__ import annotations

import argparse


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("bundle", help="bundle folder or shipped bundle name (e.g. motionsense-gender)")
    p.add_argument("--target", choices=("android", "ios"), required=True, help="the app platform")
    p.add_argument("--out", required=True, help="output folder")


def run(args: argparse.Namespace) -> int:
    from converters.export import export_bundle
    from edge_runtime.bundle import load_bundle

    bundle = load_bundle(args.bundle)
    paths = export_bundle(bundle, args.target, args.out)
    print(f"exported {bundle.id} {bundle.version} for {args.target}:")
    for kind, path in paths.items():
        print(f"  {kind:<13} {path}")
    return 0
