"""One task: one recording in, its transformed copy out (atomically), or the reason it could not be.

The recording is streamed through a fresh :class:`~edge_runtime.engine.Engine` sharing the
process's verified bundle and interpreter, pushed in fixed-size chunks the way a device delivers
samples, so a transform that needs context across windows gets it and every process (the
single-process run, any Dask worker, a resumed run) writes the same bytes. The output is written
under a temporary name and renamed into place; a re-run finds it by the input's and the output's
SHA-256 and skips it.
"""

from __future__ import annotations

import hashlib
import os
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edge_runtime.errors import DataError, UserError
from edge_runtime.publish.sources import Source

if TYPE_CHECKING:
    from edge_runtime.bundle import Bundle

CHUNK_SAMPLES = 4096  # samples per engine push; fixed, so every process streams a recording alike
PARTIAL_MARK = ".partial-"
# the engine's sample counters a summary reports (besides ``samples_in``), and what each means
SKIPPED_SAMPLES = {"samples_invalid": "non-finite or too large", "samples_out_of_order": "out of order",
                   "restarts": "gaps longer than --max-gap (partial window discarded)"}


class TooShort(DataError):
    """A recording gives no whole window: there is nothing transformed to write for it."""


def too_short(where: Any, t: Any, bundle: Bundle) -> TooShort:
    span = float(t[-1] - t[0]) if len(t) else 0.0
    return TooShort(f"{where}: {len(t)} samples ({span:.2f} s) give no whole window: bundle {bundle.id} needs "
                    f"{bundle.window} samples at {bundle.sample_rate:g} Hz ({bundle.window / bundle.sample_rate:g} s) "
                    "of continuous signal; nothing was written")


def sample_counts(totals: dict[str, int]) -> dict[str, int]:
    """``samples_in`` and the :data:`SKIPPED_SAMPLES` counters out of an engine's totals."""
    return {k: int(totals.get(k, 0)) for k in ("samples_in", *SKIPPED_SAMPLES)}


def skipped_samples_text(samples: dict[str, int]) -> str | None:
    """``"N input samples; skipped a non-finite ..., b out of order, ..."`` or ``None`` if none were."""
    skipped = [f"{samples[k]} {label}" for k, label in SKIPPED_SAMPLES.items() if samples.get(k)]
    return f"{samples.get('samples_in', 0)} input samples; skipped " + ", ".join(skipped) if skipped else None


@dataclass(frozen=True)
class Options:
    """How every recording is transformed (part of the run's fingerprint)."""

    stride: int | None = None
    units: str | None = None  # for recordings that do not state theirs
    max_gap: float | None = None


def output_path(out_root: str | os.PathLike, source: Source) -> Path:
    return Path(out_root) / source.key


def write_atomic(path: Path, data: bytes) -> None:
    """``data`` to ``path`` via a unique temporary name in the same folder, then one rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}{PARTIAL_MARK}{uuid.uuid4().hex}")
    try:
        tmp.write_bytes(data)  # no fsync: a kill leaves the page cache intact, and a re-run checks
        os.replace(tmp, path)  # every output against its SHA-256 before it skips it
    finally:
        if tmp.exists():
            tmp.unlink()


def transform_recording(bundle: Bundle, interpreter: Any, source: Source, options: Options) -> tuple[bytes, dict]:
    """The transformed recording's bytes (the source's format) and its counts; raises on bad input."""
    from edge_runtime.engine import Engine
    from edge_runtime.publish import formats, sources
    from edge_runtime.resample import DEFAULT_MAX_GAP_S

    loaded = sources.read(source)
    engine = Engine(bundle, stride=options.stride, units=loaded.units or options.units, interpreter=interpreter,
                    max_gap=options.max_gap if options.max_gap is not None else DEFAULT_MAX_GAP_S)
    device = "recording"
    records = []
    for i in range(0, len(loaded.t), CHUNK_SAMPLES):
        records += engine.push(device, loaded.t[i:i + CHUNK_SAMPLES], loaded.raw[i:i + CHUNK_SAMPLES])
    flush = getattr(engine, "flush", None)  # engines with look-ahead release their last windows here
    if callable(flush):
        records += flush(device)
    totals = engine.totals()
    counts = {"samples": int(len(loaded.t)), "windows": len(records),
              "dropped": int(totals.get("windows_dropped", 0)), "input_sha256": loaded.sha256,
              **sample_counts(totals)}
    if counts["windows"] + counts["dropped"] == 0:
        raise too_short(source.key, loaded.t, bundle)
    if source.out_format == "parquet":
        meta = {"bundle": bundle.id, "version": bundle.version, "source": source.key}
        data = formats.windows_parquet(records, bundle.channels, bundle.units, meta)
    else:
        data = formats.windows_csv(records, bundle.channels).encode("utf-8")
    return data, counts


def finished(source: Source, out_root: str, expect: dict | None) -> bool:
    """Whether ``source``'s output is already there as its ledger entry ``expect`` says: the input's and
    the output's bytes still have the recorded SHA-256 (so neither changed since)."""
    from edge_runtime.publish import sources

    dst = output_path(out_root, source)
    try:
        return bool(expect) and dst.is_file() and sources.checksum(source) == expect.get("input_sha256") \
            and sources.sha256_file(dst) == expect.get("output_sha256")
    except UserError:
        return False  # unreadable now: the task will say why


def run_task(bundle: Bundle, interpreter: Any, source: Source, out_root: str, options: Options,
             expect: dict | None = None) -> dict:
    """Transform ``source`` into ``out_root`` unless ``expect`` (its ledger entry) shows it is done.

    Never raises for a bad recording: the result says ``failed`` and why, so one bad recording never
    stops the others. A recording shorter than one window is ``short`` (nothing to publish), with why.
    """
    start = time.perf_counter()
    result: dict[str, Any] = {"key": source.key, "pid": os.getpid()}
    dst = output_path(out_root, source)
    if finished(source, out_root, expect):
        return {**expect, **result, "status": "skipped", "seconds": time.perf_counter() - start}
    try:
        data, counts = transform_recording(bundle, interpreter, source, options)
        write_atomic(dst, data)
    except TooShort as exc:
        return {**result, "status": "short", "reason": str(exc), "seconds": time.perf_counter() - start}
    except (UserError, OSError, ValueError) as exc:  # DataError is a UserError: a clear one-line reason
        return {**result, "status": "failed", "reason": str(exc), "seconds": time.perf_counter() - start}
    except Exception as exc:  # anything else is ours, but still only this recording's failure
        return {**result, "status": "failed", "reason": f"internal error: {type(exc).__name__}: {exc}",
                "seconds": time.perf_counter() - start}
    return {**result, **counts, "status": "done", "output": source.key,
            "output_sha256": hashlib.sha256(data).hexdigest(), "seconds": time.perf_counter() - start}
