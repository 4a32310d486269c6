"""``edge-runtime transform --bundle B --input IN --output OUT``: transform a data set offline.

For publishing data sets: every window goes through the same fail-closed transform the device runs,
TensorFlow-free. Three inputs, told apart by what ``IN`` is:

- ``.npy`` ``[n, window, channels]``: windows already in the bundle's features, channel order and
  units -> an ``.npy`` of the same shape. Read through a memory map, ``--batch-size`` windows at a
  time, and written the same way, so inputs larger than memory are fine.
- a recording ``.csv`` (our format ``t, acc_x, ..., gyro_z``, or one MotionSense CSV): streamed
  through the engine (features, resampling, windows) -> a CSV ``window, t, <channels>``.
- the MotionSense zip or folder: each recording through the engine -> the same layout under
  ``OUT`` (``A_DeviceMotion_data/<act>_<trial>/sub_<n>.csv`` with ``window, t, <channels>``), or a
  zip when ``OUT`` ends in ``.zip``. The subject table (which holds gender) is not copied.

Windows are non-overlapping tiles unless ``--stride`` says otherwise; samples after the last whole
window are not emitted (there is nothing transformed to emit for them). A window the model fails
on is dropped (NaN in ``.npy`` output, missing in CSV output), counted, and makes the exit status 1.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
from pathlib import Path

MOTIONSENSE_HINT = "A_DeviceMotion_data"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--bundle", required=True, help="bundle folder or shipped bundle name (e.g. motionsense-gender)")
    parser.add_argument("--input", required=True, type=Path,
                        help="windows .npy [n, window, channels], a recording .csv, or the MotionSense zip/folder")
    parser.add_argument("--output", required=True, type=Path,
                        help=".npy for .npy input, .csv for a recording, a folder (or .zip) for MotionSense")
    parser.add_argument("--stride", type=int, default=None,
                        help="release a window every N samples (recordings; default: the window, i.e. tiles)")
    parser.add_argument("--units", default=None,
                        help="units of a recording's raw columns as 'ACC,GYRO' (default 'g,rad/s'; e.g. 'm/s^2,deg/s')")
    parser.add_argument("--max-gap", type=float, default=None, help="seconds of silence that restart the window (default 0.5)")
    parser.add_argument("--batch-size", type=int, default=1024, help="windows read and transformed per batch (.npy)")
    parser.add_argument("--force", action="store_true", help="overwrite OUTPUT if it exists")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    from edge_runtime.bundle import load_bundle
    from edge_runtime.errors import DataError, UserError

    src, dst = args.input, args.output
    if not src.exists():
        raise DataError(f"{src}: no such file or folder")
    if args.batch_size < 1:
        raise UserError(f"--batch-size must be positive, got {args.batch_size}")
    if dst.exists() and not args.force:
        raise UserError(f"{dst}: already exists (pass --force to overwrite)")
    if dst.resolve() == src.resolve():
        raise UserError("--output must differ from --input")
    bundle = load_bundle(args.bundle)
    args.interpreter = _quiet_interpreter(bundle)
    if src.suffix.lower() == ".npy":
        if dst.suffix.lower() != ".npy":
            raise UserError(f"{dst}: .npy input needs an .npy output")
        dropped, total = _transform_npy(bundle, src, dst, args)
    elif src.is_dir() or src.suffix.lower() == ".zip":
        dropped, total = _transform_motionsense(bundle, src, dst, args)
    elif src.suffix.lower() == ".csv":
        if dst.suffix.lower() != ".csv":
            raise UserError(f"{dst}: a recording .csv input needs a .csv output")
        dropped, total = _transform_recording(bundle, src, dst, args)
    else:
        raise UserError(f"{src}: unknown input; expected windows .npy, a recording .csv, or the MotionSense zip/folder")
    print(f"{dst}: {total - dropped} windows transformed with {bundle.id} {bundle.version}"
          + (f"; {dropped} dropped (the model failed on them)" if dropped else ""), file=sys.stderr)
    return 1 if dropped else 0


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


def _transform_npy(bundle, src: Path, dst: Path, args) -> tuple[int, int]:
    import numpy as np

    from edge_runtime.engine import transform_windows
    from edge_runtime.errors import DataError

    try:
        windows = np.load(src, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise DataError(f"{src}: not a readable .npy array ({exc})") from None
    want = (bundle.window, bundle.n_channels)
    if windows.ndim != 3 or tuple(windows.shape[1:]) != want:
        raise DataError(
            f"{src}: shape {list(windows.shape)}, but bundle {bundle.id} takes windows [n, {want[0]}, {want[1]}] "
            f"({', '.join(f'{c} [{u}]' for c, u in zip(bundle.channels, bundle.units))})"
        )
    if windows.dtype.kind not in "fiu":
        raise DataError(f"{src}: dtype {windows.dtype} is not numeric")
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_name(dst.name + ".partial.npy")
    out = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float32, shape=windows.shape)
    with _progress(windows.shape[0], "win", args.quiet, "transform") as bar:
        _, ok = transform_windows(bundle, windows, out=out, batch_size=args.batch_size, progress=bar.update,
                                  interpreter=args.interpreter)
    out.flush()
    del out
    tmp.replace(dst)
    return int((~ok).sum()), int(ok.shape[0])


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
    import numpy as np

    buf = io.StringIO()
    buf.write(",".join(("window", "t", *channels)) + "\n")
    for r in records:
        t = r.start_time + np.arange(r.values.shape[0]) / r.sample_rate
        for ti, row in zip(t, r.values):
            buf.write(f"{r.seq},{ti:.6f}," + ",".join(f"{float(v):.7g}" for v in row) + "\n")
    return buf.getvalue()


def _dropped(engine) -> int:
    return sum(s["windows_dropped"] for s in engine.stats().values())


def _transform_recording(bundle, src: Path, dst: Path, args) -> tuple[int, int]:
    from edge_runtime.recording import load_samples

    rec = load_samples(src)
    engine = _engine(bundle, args)
    with _progress(len(rec), "sample", args.quiet, "transform") as bar:
        records = _records_of(engine, "recording", rec.t, rec.raw, bar=bar)
    dst.parent.mkdir(parents=True, exist_ok=True)
    dst.write_text(windows_csv(records, bundle.channels), encoding="utf-8")
    dropped = _dropped(engine)
    return dropped, len(records) + dropped


def _transform_motionsense(bundle, src: Path, dst: Path, args) -> tuple[int, int]:
    import shutil
    import zipfile

    import numpy as np

    from edge_runtime.errors import UserError
    from edge_runtime.motionsense import SAMPLE_RATE, MotionSense

    data = MotionSense(src)
    engine = _engine(bundle, args)
    as_zip = dst.suffix.lower() == ".zip"
    if dst.exists():  # --force was given (checked in run)
        if dst.is_dir():
            if not (dst / MOTIONSENSE_HINT).is_dir() and any(dst.iterdir()):
                raise UserError(f"{dst}: a non-empty folder that is not a transformed MotionSense; refusing to overwrite")
            shutil.rmtree(dst)
        else:
            dst.unlink()
    total = emitted = 0
    dst.parent.mkdir(parents=True, exist_ok=True)
    zf = zipfile.ZipFile(dst, "w", compression=zipfile.ZIP_DEFLATED) if as_zip else None
    try:
        with _progress(len(data.keys), "rec", args.quiet, "transform") as bar:
            for key in data.keys:
                raw = data.read(key)
                t = np.arange(raw.shape[0], dtype=np.float64) / SAMPLE_RATE
                records = _records_of(engine, key.member, t, raw)
                engine.forget(key.member)  # recordings are separate timelines
                text = windows_csv(records, bundle.channels)
                if zf is not None:
                    zf.writestr(key.member, text)
                else:
                    path = dst / key.member
                    path.parent.mkdir(parents=True, exist_ok=True)
                    path.write_text(text, encoding="utf-8")
                emitted += len(records)
                bar.update(1)
        total = emitted + engine.totals().get("windows_dropped", 0)
        meta = {
            "source": str(src),
            "bundle": {"id": bundle.id, "version": bundle.version},
            "feature_set": bundle.feature_set.name,
            "channels": list(bundle.channels),
            "units": list(bundle.units),
            "sample_rate": bundle.sample_rate,
            "window": bundle.window,
            "stride": engine.stride,
            "recordings": len(data.keys),
            "windows": emitted,
            "windows_dropped": total - emitted,
            "columns": ["window", "t", *bundle.channels],
            "note": "values are transformed windows; the subject table is not included",
        }
        text = json.dumps(meta, indent=2) + "\n"
        if zf is not None:
            zf.writestr("TRANSFORM.json", text)
        else:
            (dst / "TRANSFORM.json").write_text(text, encoding="utf-8")
    finally:
        if zf is not None:
            zf.close()
    return total - emitted, total
