"""The MotionSense zip as a folder of Parquet recordings: one file per subject and trial.

    python -m edge_runtime.publish.motionsense_parquet --input ../shared/data/motionsense --output ms-parquet

writes ``ms-parquet/sub_<n>/<act>_<trial>.parquet`` (``t`` in s at 50 Hz; ``acc_*`` in g with
gravity, ``gyro_*`` in rad/s, units stated per column): the raw data set in the form a lab would
hand to ``edge-runtime transform --input ms-parquet --output out --workers 2``. The subject table
(gender, age, height, weight) is not copied: it is what the transform is there to hide. Needs the
``[publish]`` extra (pyarrow). Files are written atomically; existing ones are left alone.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np


def convert(src: str | Path, dst: str | Path, subjects: list[int] | None = None, quiet: bool = False) -> int:
    """Write one Parquet recording per (subject, trial); return how many were written."""
    from edge_runtime.motionsense import SAMPLE_RATE, MotionSense
    from edge_runtime.publish.formats import recording_parquet
    from edge_runtime.publish.task import write_atomic

    data = MotionSense(src)
    keys = [k for k in data.keys if subjects is None or k.subject in subjects]
    written = 0
    for i, key in enumerate(keys):
        path = Path(dst) / f"sub_{key.subject}" / f"{key.activity}_{key.trial}.parquet"
        if path.exists():
            continue
        raw = data.read(key)
        t = np.arange(raw.shape[0], dtype=np.float64) / SAMPLE_RATE
        meta = {"source": "MotionSense A_DeviceMotion_data", "member": key.member, "subject": key.subject,
                "activity": key.activity, "trial": key.trial}
        write_atomic(path, recording_parquet(t, raw, metadata=meta))
        written += 1
        if not quiet and (i + 1) % 30 == 0:
            print(f"{i + 1}/{len(keys)} recordings", file=sys.stderr)
    return written


def main(argv: list[str] | None = None) -> int:
    from edge_runtime.errors import UserError
    from edge_runtime.motionsense import default_data_dir

    p = argparse.ArgumentParser(prog="python -m edge_runtime.publish.motionsense_parquet", description=__doc__.split("\n")[0])
    p.add_argument("--input", default=None, help="MotionSense folder or zip (default: $MOTIONSENSE_DIR or ../shared/data/motionsense)")
    p.add_argument("--output", required=True, type=Path, help="folder to write sub_<n>/<act>_<trial>.parquet into")
    p.add_argument("--subjects", default=None, help="only these subjects, e.g. '1,2,3' (default: all 24)")
    p.add_argument("--quiet", action="store_true")
    args = p.parse_args(argv)
    try:
        src = args.input or default_data_dir()
        if src is None:
            raise UserError("no MotionSense data found: pass --input or set MOTIONSENSE_DIR")
        subjects = [int(s) for s in args.subjects.split(",")] if args.subjects else None
        n = convert(src, args.output, subjects, args.quiet)
    except UserError as exc:
        print(f"motionsense_parquet: error: {exc}", file=sys.stderr)
        return 2
    except ValueError:
        print(f"motionsense_parquet: error: --subjects must be numbers like 1,2,3, got {args.subjects!r}", file=sys.stderr)
        return 2
    print(f"{args.output}: {n} Parquet recordings written", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
