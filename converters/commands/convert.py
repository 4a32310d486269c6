"""``edge-runtime convert``: a trained run (or a Keras 2 model) -> a verified TFLite bundle.

    edge-runtime convert RUN_DIR --quantize int8 --out edge_runtime/bundles/motionsense-gender
    edge-runtime convert --keras2 MODEL.json+WEIGHTS.h5 --norm-mean M0 M1 --norm-std S0 S1 \\
        --feature-set mag2 --out BUNDLE

Parity with the float Keras pipeline is measured on held-out real windows with the LiteRT
interpreter and the judges' table is recomputed on both; a missed target exits non-zero with the
numbers printed, unless --allow-parity-miss.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from edge_runtime.bundle import QUANTIZATIONS


def _list(text: str) -> list[str]:
    return [t for t in (s.strip() for s in text.split(",")) if t]


def configure(p: argparse.ArgumentParser) -> None:
    p.formatter_class = argparse.RawDescriptionHelpFormatter
    p.epilog = (
        "examples:\n"
        "  edge-runtime convert runs/motionsense-gender --quantize int8 --out edge_runtime/bundles/motionsense-gender\n"
        "  edge-runtime convert --keras2 aae.json+aae_weights.h5 --norm-mean 1.1 1.02 --norm-std 1.3 0.36 \\\n"
        "      --feature-set mag2 --id legacy-aae --out bundles/legacy-aae\n"
    )
    p.add_argument("run_dir", nargs="?", help="training run directory (run.json + transform.keras, docs/run_dir.md)")
    p.add_argument("--quantize", choices=QUANTIZATIONS, default="int8", help="quantization (default: int8)")
    p.add_argument("--out", required=True, help="bundle folder to write (an existing bundle there is replaced)")
    p.add_argument("--id", help="bundle id (default: the recipe name, or the --out folder name)")
    p.add_argument("--version", help="bundle version string (default: <UTC date>.<model sha256 prefix>)")
    p.add_argument("--description", default="", help="free-text description stored in the manifest")
    p.add_argument("--data", help="MotionSense folder or zip (default: $MOTIONSENSE_DIR or ../shared/data/motionsense)")
    p.add_argument("--calibration-windows", type=int, default=500, metavar="N",
                   help="real train windows for int8 calibration (default: 500)")
    p.add_argument("--parity-windows", type=int, default=2000, metavar="N",
                   help="held-out windows for the difference numbers (default: 2000)")
    p.add_argument("--no-judges", action="store_true",
                   help="do not recompute the judges' table (records why in the manifest; differences still measured)")
    p.add_argument("--int8-io", action="store_true", help="int8: integer input/output (scales in the manifest) "
                   "instead of float I/O")
    p.add_argument("--per-channel", action="store_true",
                   help="int8: quantize weights per output channel (default: per tensor, a smaller file)")
    p.add_argument("--batch", default="dynamic", metavar="dynamic|N",
                   help="windows per invoke the model takes: 'dynamic' (default; any number, one window on the "
                        "device), a fixed N, or 1 (the one-window graph)")
    p.add_argument("--rebatch", metavar="BUNDLE",
                   help="instead of converting, rewrite an existing one-window BUNDLE to take --batch windows per "
                        "invoke (no TensorFlow; outputs proven bit-identical) and write it to --out")
    p.add_argument("--sign", metavar="KEY", default=None,
                   help="sign the bundle with this Ed25519 private key (edge-runtime keygen); without it the "
                        "bundle is unsigned and the runtime refuses it until 'edge-runtime sign' signs it")
    p.add_argument("--allow-parity-miss", action="store_true",
                   help="write the bundle even when a parity target is missed (recorded as targets_met: false)")
    legacy = p.add_argument_group("legacy Keras 2 import (instead of RUN_DIR)")
    legacy.add_argument("--keras2", metavar="MODEL.json+WEIGHTS.h5|MODEL.hdf5",
                        help="a Keras 2 model (standardised windows in -> out), loaded with tf_keras")
    legacy.add_argument("--norm-mean", type=float, nargs="+", metavar="M", help="per-channel training mean")
    legacy.add_argument("--norm-std", type=float, nargs="+", metavar="S", help="per-channel training std")
    legacy.add_argument("--feature-set", default="mag2", help="feature set the model takes (default: mag2)")
    legacy.add_argument("--window", type=int, help="window length (default: from the model's input shape)")
    legacy.add_argument("--stride", type=int, default=10, help="release stride in samples (default: 10)")
    legacy.add_argument("--sample-rate", type=float, default=50.0, help="Hz (default: 50)")
    legacy.add_argument("--required", type=_list, default=["dws", "ups", "wlk"], help="default: dws,ups,wlk")
    legacy.add_argument("--sensitive", type=_list, default=["jog"], help="default: jog")
    legacy.add_argument("--neutral", type=_list, default=["std"], help="default: std")
    legacy.add_argument("--protected", type=_list, default=["gender"], help="default: gender")
    legacy.add_argument("--recipe", default="keras2-import", help="label stored as the recipe (default: keras2-import)")


def run(args: argparse.Namespace) -> int:
    from edge_runtime.errors import UserError

    sign_key = None
    if args.sign:  # read it now, not after minutes of conversion
        from edge_runtime.signing import load_private_key

        sign_key = load_private_key(args.sign)
    if args.rebatch:
        from converters.batch import rebatch_bundle

        if args.run_dir or args.keras2:
            raise UserError("--rebatch BUNDLE takes no RUN_DIR or --keras2")
        rebatch_bundle(args.rebatch, args.batch, args.out, sign_key=sign_key)
        return 0
    if bool(args.run_dir) == bool(args.keras2):
        raise UserError("give either RUN_DIR or --keras2 MODEL (not both, not neither)")
    if args.calibration_windows < 1 or args.parity_windows < 1:
        raise UserError("--calibration-windows and --parity-windows must be positive")

    from converters.convert import convert
    from converters.parity_metrics import judge_metrics_fn
    from converters.windows import motionsense_windows

    if args.run_dir:
        from converters.run_dir import read_run_dir
        from models.layers import load_transform

        run_dir = read_run_dir(args.run_dir)
        spec, layout = run_dir.spec, "nwc"
        model = load_transform(run_dir.model_path)
        source = f"run {run_dir.path} (Keras 3 {run_dir.model_path.name})"
        default_id = spec.recipe
    else:
        from converters.legacy import infer_window_and_layout, load_keras2
        from converters.run_dir import make_spec
        from edge_runtime.features import FEATURE_SETS

        if args.norm_mean is None or args.norm_std is None:
            raise UserError("--keras2 needs --norm-mean and --norm-std (the training statistics, one per channel)")
        fs = FEATURE_SETS.get(args.feature_set)
        if fs is None:
            raise UserError(f"unknown feature set {args.feature_set!r}; known: {', '.join(FEATURE_SETS)}")
        model = load_keras2(args.keras2)
        window, layout = infer_window_and_layout(tuple(model.input_shape), fs.n_channels, args.window)
        spec = make_spec(
            recipe=args.recipe, feature_set=fs.name, sample_rate=args.sample_rate, window=window,
            stride=args.stride,
            activities={"required": args.required, "sensitive": args.sensitive, "neutral": args.neutral},
            protected=args.protected, norm_mean=args.norm_mean, norm_std=args.norm_std, where="--keras2 import",
        )
        source = f"Keras 2 model {args.keras2} (tf_keras, input layout {layout})"
        default_id = Path(args.out).name

    windows = motionsense_windows(spec, args.data, args.calibration_windows, args.parity_windows)
    if args.no_judges:
        metrics_fn, note = None, "not recomputed (--no-judges)"
    else:
        metrics_fn, note = judge_metrics_fn(spec, args.data)
        if metrics_fn is None:
            print(f"note: {note}")
    convert(
        model, spec, quantize=args.quantize, out=args.out, bundle_id=args.id or default_id,
        holdout=windows.holdout, calibration=windows.calibration, calibration_pool=windows.pool, metrics_fn=metrics_fn, metrics_note=note,
        layout=layout, version=args.version, description=args.description, source=source,
        data_source=windows.source, int8_io=args.int8_io, per_channel=args.per_channel,
        allow_parity_miss=args.allow_parity_miss, batch=args.batch, sign_key=sign_key,
    )
    return 0
