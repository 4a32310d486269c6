"""``edge-runtime train RECIPE``: train a privacy transform and write its run directory and report."""

from __future__ import annotations

import argparse


def configure(p: argparse.ArgumentParser) -> None:
    from models.recipes import RECIPES

    p.add_argument("recipe", choices=sorted(RECIPES))
    p.add_argument("--data", help="MotionSense folder or zip (default: $MOTIONSENSE_DIR or ../shared/data/motionsense)")
    p.add_argument("--out", default="runs", help="parent folder of the run directory (default: ./runs)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a number of the recipe config, e.g. --set beta_secret=4 --set rounds=8")
    p.add_argument("--tiny", action="store_true", help="smoke-test size (minutes -> seconds); not for use")
    p.add_argument("--no-report", action="store_true", help="skip the evaluation report after training")


def run(args) -> int:
    from models.recipes import RECIPES, override, tiny, train_recipe

    cfg = tiny(RECIPES[args.recipe]) if args.tiny else RECIPES[args.recipe]
    cfg = override(cfg, args.set)
    run_dir = train_recipe(cfg, args.data, args.out)
    print(f"run written to {run_dir}/")
    if not args.no_report:
        from models.data import DataConfig, load_dataset
        from models.evaluation import evaluate
        from models.frozen_judges import Judges
        from models.report import write
        from models.transforms import Identity, KerasRun, Noise, Resample

        ds = load_dataset(args.data, DataConfig())
        judges = Judges(ds)
        judges.train_missing()
        transforms = [Identity(), KerasRun(run_dir), Resample(5), Noise(0.5, std=ds.std)]
        reports = [evaluate(ds, judges, t, attackers=not args.tiny) for t in transforms]
        write(reports, run_dir / "report", ds, transforms, title=f"{cfg.name}: evaluation report")
        print((run_dir / "report" / "report.md").read_text())
    return 0
