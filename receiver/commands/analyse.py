"""``edge-runtime analyse``: steps and activity minutes per device and day from stored windows.

    edge-runtime analyse --store received/ [--json figures.json]

Reads what ``edge-runtime receive`` stored (``STORE/windows``, Parquet by device and day) and
prints, per device and day: device minutes covered, steps (``analysis.steps``), active minutes
(cadence >= 60 steps/min) and minutes per recognised activity (mag2 windows).
"""

from __future__ import annotations

import argparse
from pathlib import Path


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--store", required=True, help="the folder given to edge-runtime receive --store")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures as JSON here")


def run(args: argparse.Namespace) -> int:
    import dataclasses
    import importlib.util
    import json

    from edge_runtime.errors import UserError

    for module in ("pyarrow", "scipy"):
        if importlib.util.find_spec(module) is None:
            raise UserError(f"analyse needs the {module} package: pip install 'edge-privacy-runtime[receive]'")
    from receiver.analyse import analyse_store, table_lines

    windows = Path(args.store) / "windows"
    if not any(windows.glob("device_id=*/day=*/*.parquet")):
        raise UserError(f"{args.store}: no stored windows (expected {windows}/device_id=*/day=*/*.parquet)")
    try:
        days = analyse_store(args.store)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    print(f"Steps and activity minutes from {sum(d.windows for d in days)} stored windows ({args.store}):")
    print("\n".join(table_lines([(f"{d.device_id} {d.day}", d.figures) for d in days], "device, day")))
    if args.json:
        args.json.write_text(json.dumps([dataclasses.asdict(d) for d in days], indent=2) + "\n")
    return 0
