"""``edge-runtime transform --bundle B --input IN --output OUT``: transform a data set offline.

For publishing data sets: every window goes through the same fail-closed transform the device runs,
TensorFlow-free. Inputs, told apart by what ``IN`` is:

- ``.npy`` ``[n, window, channels]``: windows already in the bundle's features, channel order and
  units -> an ``.npy`` of the same shape. Read through a memory map, ``--batch-size`` windows at a
  time, and written the same way, so inputs larger than memory are fine.
- a recording ``.csv`` (our format ``t, acc_x, ..., gyro_z``, or one MotionSense CSV) with a ``.csv``
  ``OUT``: streamed through the engine (features, resampling, windows) -> a CSV ``window, t, <channels>``.
- a data set: the MotionSense zip or folder, a folder of CSV/Parquet recordings, or a glob of them
  (``'data/**/*.parquet'``) -> the same layout under ``OUT`` (one transformed recording per input
  recording, same relative path and format; a zip when ``OUT`` ends in ``.zip``) with a datasheet
  ``DATASET.md``/``DATASET.json``. Resumable: a re-run skips finished recordings (by checksum).
  ``--workers N`` runs it on a local Dask cluster, ``--scheduler ADDRESS`` on an existing one
  (the ``[publish]`` extra; docs/publishing.md). A subject table (which holds gender) is never copied.

Windows are non-overlapping tiles unless ``--stride`` says otherwise; samples after the last whole
window are not emitted (there is nothing transformed to emit for them); a recording shorter than
one window is an error. A window the model fails on is dropped (NaN in ``.npy`` output, missing in
CSV/Parquet output), counted by reason (``nan_input``: the input window holds NaN/inf, bad input,
apart from the model failing), and makes the exit status 1; so does a recording that cannot be
read (reported with its reason; the others go on). Samples the engine skipped are counted in the
summary. The bundle must be signed by a trusted key (``--trust``, ``--allow-unsigned``: docs/bundles.md).
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path



def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--bundle", required=True, help="bundle folder or shipped bundle name (e.g. motionsense-gender)")
    parser.add_argument("--input", required=True,
                        help="windows .npy [n, window, channels], a recording .csv, or a data set: the MotionSense "
                             "zip/folder, a folder of .csv/.parquet recordings, or a quoted glob of them")
    parser.add_argument("--output", required=True, type=Path,
                        help=".npy for .npy input, .csv for a recording, a folder (or .zip) for a data set")
    parser.add_argument("--stride", type=int, default=None,
                        help="release a window every N samples (recordings; default: the window, i.e. tiles)")
    parser.add_argument("--units", default=None,
                        help="units of a recording's raw columns as 'ACC,GYRO' (default 'g,rad/s'; e.g. 'm/s^2,deg/s')")
    parser.add_argument("--max-gap", type=float, default=None, help="seconds of silence that restart the window (default 0.5)")
    parser.add_argument("--batch-size", type=int, default=1024, help="windows read and transformed per batch (.npy)")
    parser.add_argument("--force", action="store_true", help="overwrite OUTPUT if it exists")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.add_argument("--workers", type=int, default=None,
                        help="data sets: run on a local Dask cluster of N worker processes ([publish] extra)")
    parser.add_argument("--scheduler", default=None, metavar="ADDRESS",
                        help="data sets: run on an existing Dask cluster (e.g. tcp://10.0.0.5:8786)")
    from edge_runtime.signing import add_trust_arguments

    add_trust_arguments(parser)


def run(args: argparse.Namespace) -> int:
    from edge_runtime.errors import DataError, UserError
    from edge_runtime.bundle import load_bundle_from_args

    from edge_runtime.publish.sources import is_glob

    src, dst = Path(args.input), args.output
    if not is_glob(args.input) and not src.exists():
        raise DataError(f"{src}: no such file or folder")
    if args.batch_size < 1:
        raise UserError(f"--batch-size must be positive, got {args.batch_size}")
    if args.workers is not None and args.workers < 1:
        raise UserError(f"--workers must be positive, got {args.workers}")
    if args.workers is not None and args.scheduler:
        raise UserError("give --workers N (a local cluster) or --scheduler ADDRESS (an existing one), not both")
    single = src.suffix.lower() == ".npy" or (src.suffix.lower() == ".csv" and dst.suffix.lower() == ".csv")
    if single and (args.workers or args.scheduler):
        raise UserError("--workers/--scheduler are for data sets (a folder, a glob, the MotionSense zip)")
    if single and dst.exists() and not args.force:
        raise UserError(f"{dst}: already exists (pass --force to overwrite)")
    if not is_glob(args.input) and dst.resolve() == src.resolve():
        raise UserError("--output must differ from --input")
    bundle = load_bundle_from_args(args.bundle, args, "edge-runtime transform")
    args.interpreter = _quiet_interpreter(bundle)
    if not single:
        return _transform_dataset(bundle, args)
    if src.suffix.lower() == ".npy":
        if dst.suffix.lower() != ".npy":
            raise UserError(f"{dst}: .npy input needs an .npy output")
        (drops, total), samples = _transform_npy(bundle, src, dst, args), None
        where = "NaN rows in the output .npy"
    else:
        drops, total, samples = _transform_recording(bundle, src, dst, args)
        where = "missing from the output CSV (its window numbers skip)"
    print(summary(dst, bundle, total, drops, samples, where), file=sys.stderr)
    return 1 if sum(drops.values()) else 0


def summary(dst, bundle, total: int, drops: dict[str, int], samples: dict[str, int] | None, where: str) -> str:
    """The one-line (or two-line) report: windows kept and dropped by reason, samples skipped."""
    dropped = sum(drops.values())
    text = f"{dst}: {total - dropped} windows transformed with {bundle.id} {bundle.version}"
    if dropped:
        bad_input = drops.get("nan_input", 0)
        parts = ([f"{bad_input} bad input (NaN/inf in the input window: nan_input)"] if bad_input else []) + \
            [f"{n} the model failed ({reason})" for reason, n in sorted(drops.items()) if n and reason != "nan_input"]
        text += f"; {dropped} dropped: " + ", ".join(parts) + f"; dropped windows are {where}"
    from edge_runtime.publish.task import skipped_samples_text

    skipped = skipped_samples_text(samples or {})
    return text + (f"\n{dst}: {skipped}" if skipped else "")


def _quiet_interpreter(bundle):
    """The bundle's interpreter, created without the LiteRT runtime's INFO line over the progress bar."""
    from edge_runtime.interpreter import TFLiteInterpreter, native_stderr_silenced

    with native_stderr_silenced():
        return TFLiteInterpreter.from_bundle(bundle)


def _progress(total: int, unit: str, quiet: bool, desc: str):
    from tqdm import tqdm

    return tqdm(total=total, unit=unit, desc=desc, disable=quiet, file=sys.stderr, dynamic_ncols=True)


# --------------------------------------------------------------------------------------------
# .npy windows


def read_npy_header(src: Path):
    """``(shape, dtype)`` of an ``.npy`` file, checked against the file's size before anything is mapped."""
    import numpy as np

    from edge_runtime.errors import DataError

    fmt = np.lib.format
    try:
        with open(src, "rb") as fh:
            version = fmt.read_magic(fh)
            reader = {(1, 0): fmt.read_array_header_1_0, (2, 0): fmt.read_array_header_2_0}.get(version)
            if reader is None:
                raise ValueError(f"unsupported .npy format version {version}")
            shape, _fortran, dtype = reader(fh, max_header_size=10_000)
            offset = fh.tell()
    except (ValueError, OSError, EOFError, SyntaxError, OverflowError, TypeError, MemoryError) as exc:
        raise DataError(f"{src}: not a readable .npy file (bad header: {str(exc)[:160]})") from None
    if dtype.hasobject or dtype.kind not in "fiu":
        raise DataError(f"{src}: holds {dtype} values, not numbers (windows must be float or integer)")
    if any(int(d) < 0 for d in shape):
        raise DataError(f"{src}: negative dimension in shape {list(shape)}")
    need = offset + math.prod(int(d) for d in shape) * dtype.itemsize
    size = src.stat().st_size
    if need > size:
        raise DataError(f"{src}: the header says shape {list(shape)} of {dtype} ({need - offset} bytes of data), "
                        f"but the file has {size - offset}: truncated or not what its header says")
    return shape, dtype


def _transform_npy(bundle, src: Path, dst: Path, args) -> tuple[dict[str, int], int]:
    import numpy as np

    from edge_runtime.engine import transform_windows
    from edge_runtime.errors import DataError

    shape, _ = read_npy_header(src)
    want = (bundle.window, bundle.n_channels)
    lengths = {bundle.window, bundle.input_length}  # a bundle with context also takes windows with theirs
    if len(shape) != 3 or shape[1] not in lengths or shape[2] != want[1]:
        raise DataError(
            f"{src}: shape {list(shape)}, but bundle {bundle.id} takes windows [n, {want[0]}, {want[1]}] "
            f"({', '.join(f'{c} [{u}]' for c, u in zip(bundle.channels, bundle.units))})"
        )
    if shape[0] == 0:
        raise DataError(f"{src}: holds no windows (shape {list(shape)}): nothing to transform")
    try:
        windows = np.load(src, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError, EOFError, OverflowError) as exc:
        raise DataError(f"{src}: not a readable .npy array ({str(exc)[:160]})") from None
    if windows.ndim != 3 or tuple(windows.shape[1:]) != want:
        raise DataError(
            f"{src}: shape {list(windows.shape)}, but bundle {bundle.id} takes windows [n, {want[0]}, {want[1]}] "
            f"({', '.join(f'{c} [{u}]' for c, u in zip(bundle.channels, bundle.units))})"
        )
    if windows.dtype.kind not in "fiu":
        raise DataError(f"{src}: dtype {windows.dtype} is not numeric")
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_name(dst.name + ".partial.npy")
    out = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float32, shape=(windows.shape[0], *want))
    drops: dict[str, int] = {}
    with _progress(windows.shape[0], "win", args.quiet, "transform") as bar:
        _, ok = transform_windows(bundle, windows, out=out, batch_size=args.batch_size, progress=bar.update,
                                  interpreter=args.interpreter, drops=drops)
    out.flush()
    del out
    tmp.replace(dst)
    return drops, int(ok.shape[0])


# --------------------------------------------------------------------------------------------
# Recordings through the engine


def _engine(bundle, args):
    from edge_runtime.engine import Engine
    from edge_runtime.resample import DEFAULT_MAX_GAP_S

    return Engine(bundle, stride=args.stride, units=args.units, interpreter=args.interpreter,
                  max_gap=args.max_gap if args.max_gap is not None else DEFAULT_MAX_GAP_S)


def _records_of(engine, device_id: str, t, raw, chunk: int = 4096, bar=None) -> list:
    records = []
    for i in range(0, len(t), chunk):
        records += engine.push(device_id, t[i:i + chunk], raw[i:i + chunk])
        if bar is not None:
            bar.update(min(chunk, len(t) - i))
    return records + engine.flush(device_id)  # the recording ends: its last windows too


def windows_csv(records, channels) -> str:
    """Transformed windows as CSV rows ``window, t, <channels>`` (one row per sample)."""
    from edge_runtime.publish.formats import windows_csv as csv_text

    return csv_text(records, channels)


def _counts(engine) -> tuple[dict[str, int], dict[str, int]]:
    """The engine's totals as ``(drops by reason, sample counters)``."""
    from edge_runtime.publish.task import sample_counts

    totals = engine.totals()
    drops = {k[len("drops_"):]: v for k, v in totals.items() if k.startswith("drops_")}
    return drops, sample_counts(totals)


def _transform_recording(bundle, src: Path, dst: Path, args) -> tuple[dict[str, int], int, dict[str, int]]:
    from edge_runtime.publish.task import too_short
    from edge_runtime.recording import load_samples

    rec = load_samples(src)
    engine = _engine(bundle, args)
    with _progress(len(rec), "sample", args.quiet, "transform") as bar:
        records = _records_of(engine, "recording", rec.t, rec.raw, bar=bar)
    drops, samples = _counts(engine)
    total = len(records) + sum(drops.values())
    if total == 0:
        raise too_short(src, rec.t, bundle)
    dst.parent.mkdir(parents=True, exist_ok=True)
    dst.write_text(windows_csv(records, bundle.channels), encoding="utf-8")
    return drops, total, samples


def _transform_dataset(bundle, args) -> int:
    from edge_runtime.publish.pipeline import publish
    from edge_runtime.publish.task import Options

    options = Options(stride=args.stride, units=args.units, max_gap=args.max_gap)
    summary = publish(args.input, args.output, bundle, options, workers=args.workers, scheduler=args.scheduler,
                      force=args.force, quiet=args.quiet, interpreter=args.interpreter)
    print(summary.line(), file=sys.stderr)
    return summary.exit_status
