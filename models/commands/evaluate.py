"""``edge-runtime evaluate``: the privacy/utility report of one or more transforms on the test trials."""

from __future__ import annotations

import argparse


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", help="MotionSense folder or zip (default: $MOTIONSENSE_DIR or ../shared/data/motionsense)")
    p.add_argument("--run", action="append", default=[], metavar="RUN_DIR",
                   help="a trained run directory to evaluate (repeatable)")
    p.add_argument("--bundle", action="append", default=[], metavar="NAME|PATH",
                   help="a model bundle, run through the edge engine (the deployed path; repeatable)")
    p.add_argument("--baselines", action="store_true", help="also evaluate resampling and additive-noise baselines")
    p.add_argument("--no-raw", action="store_true", help="skip the raw-data reference row")
    p.add_argument("--no-attackers", action="store_true", help="frozen judges only (fast)")
    p.add_argument("--no-frontier", action="store_true",
                   help="skip the frontier (attackers on the kept features of raw data, for transforms that declare them)")
    p.add_argument("--out", default="evaluation-report", help="output folder (default: ./evaluation-report)")
    from edge_runtime.signing import add_trust_arguments

    add_trust_arguments(p)  # for --bundle: the same trust as transform and the gateway


def run(args) -> int:
    from edge_runtime.bundle import load_bundle_from_args

    bundles = [load_bundle_from_args(b, args, "edge-runtime evaluate") for b in args.bundle]  # first: fail fast
    from models.data import DataConfig, load_dataset
    from models.evaluation import evaluate, frontiers, kept_utility, label_only
    from models.frozen_judges import Judges
    from models.measured import measured_figures
    from models.report import write
    from models.transforms import Identity, KerasRun, Noise, Resample

    ds = load_dataset(args.data, DataConfig())
    judges = Judges(ds)
    meta = judges.train_missing()
    print("judges (raw test accuracy):", {k: round(v["raw_test_accuracy"], 4) for k, v in meta.items()})
    transforms = [] if args.no_raw else [Identity()]
    transforms += [KerasRun(r) for r in args.run]
    if bundles:
        from models.transforms import BundleTransform

        transforms += [BundleTransform(b) for b in bundles]
    if args.baselines:
        transforms += [Resample(5), Noise(0.5, std=ds.std)]
    if not transforms:
        print("nothing to evaluate")
        return 2
    reports = [evaluate(ds, judges, t, attackers=not args.no_attackers) for t in transforms]
    reports.append(label_only(ds))
    reports += kept_utility(ds, transforms)
    if not (args.no_attackers or args.no_frontier):
        reports += frontiers(ds, [t for t in transforms if getattr(t, "keeps", ())])
    for entry in reports:
        if "bundle" in entry:  # what `edge-runtime sign --measured` records in that bundle's manifest
            entry["measured"] = measured_figures(entry, reports)
    out = write(reports, args.out, ds, transforms)
    print((out / "report.md").read_text())
    print(f"report written to {out}/ (report.json, report.md, confusion.png, signals.png)")
    return 0
