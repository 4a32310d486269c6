"""For ``edge-runtime benchmark``: a small data set published in one process and on 1 and 2 Dask workers.

Synthetic walking-like recordings as Parquet, transformed at the bundle's stride. Each cluster is
started before its clock starts (starting worker processes is not publishing work), and every run's
output is compared byte for byte with the single-process run's.
"""

from __future__ import annotations

import logging
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edge_runtime.errors import UserError

if TYPE_CHECKING:
    from edge_runtime.bundle import Bundle


def synthetic_dataset(root: Path, recordings: int, samples: int, rate: float) -> None:
    from edge_runtime.synthetic import synthetic_raw
    from edge_runtime.publish.formats import recording_parquet
    from edge_runtime.publish.task import write_atomic

    for i in range(recordings):
        t, raw = synthetic_raw(samples + 13 * i, rate, seed=100 + i)
        write_atomic(root / f"sub_{i % 4 + 1}" / f"session_{i}.parquet", recording_parquet(t, raw))


def _tree(root: Path) -> dict[str, bytes]:
    from edge_runtime.publish.pipeline import STATE_DIR

    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and STATE_DIR not in p.relative_to(root).parts}


def _warm_up() -> None:
    import pyarrow.parquet  # noqa: F401

    import edge_runtime.engine  # noqa: F401
    import edge_runtime.publish.task  # noqa: F401


def workers_speedup(bundle: Bundle, quick: bool = False) -> dict[str, Any]:
    """Windows/s publishing the same data set on 1 and on 2 worker processes (and in this process)."""
    try:
        import distributed as dd
    except ImportError:
        raise UserError("Dask is not installed (pip install 'edge-privacy-runtime[publish]')") from None
    from edge_runtime.publish.formats import pyarrow
    from edge_runtime.publish.pipeline import publish
    from edge_runtime.publish.task import Options

    pyarrow()
    recordings, samples = (4, 3000) if quick else (16, 30000)  # ~10 s per worker: task overheads amortised
    options = Options(stride=bundle.stride)
    runs = []
    with tempfile.TemporaryDirectory(prefix="edge-runtime-bench-") as tmp:
        src = Path(tmp) / "src"
        synthetic_dataset(src, recordings, samples, bundle.sample_rate)
        start = time.perf_counter()
        ref = publish(src, Path(tmp) / "single", bundle, options, quiet=True)
        single_s = time.perf_counter() - start
        want = _tree(Path(tmp) / "single")
        identical = True
        for n in (1, 2):
            with dd.LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=None,
                                 silence_logs=logging.ERROR) as cluster, dd.Client(cluster) as client:
                client.run(_warm_up)  # imports on every worker before the clock starts
                start = time.perf_counter()
                summary = publish(src, Path(tmp) / f"w{n}", bundle, options, scheduler=cluster.scheduler_address,
                                  quiet=True)
                wall = time.perf_counter() - start
            identical &= _tree(Path(tmp) / f"w{n}") == want and not summary.failed
            runs.append({"workers": n, "wall_s": round(wall, 3), "windows_per_s": round(summary.windows / wall, 1)})
    return {
        "recordings": recordings,
        "windows": ref.windows,
        "stride": options.stride,
        "single_process_wall_s": round(single_s, 3),
        "single_process_windows_per_s": round(ref.windows / single_s, 1),
        "runs": runs,
        "speedup": round(runs[1]["windows_per_s"] / runs[0]["windows_per_s"], 3),
        "bit_identical": identical,
    }
