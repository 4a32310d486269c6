"""For ``edge-runtime benchmark``: a small data set published in one process and on 1 and 2 Dask workers.

Synthetic walking-like recordings as Parquet, transformed at the bundle's stride. Each cluster is
started before its clock starts (starting worker processes is not publishing work), and every run's
output is compared byte for byte with the single-process run's.
"""

from __future__ import annotations

import logging
import statistics
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


def _invoke_loop(seconds: float, plugin_name: str, dask_worker=None) -> int:
    """The ceiling's unit of work: the worker's own interpreter invoking one window for ``seconds``
    (no I/O, no scheduling). Returns the invokes done."""
    import numpy as np

    interp = dask_worker.plugins[plugin_name].interpreter()
    x = np.zeros(interp.input_shape, np.float32)
    done, end = 0, time.perf_counter() + seconds
    while time.perf_counter() < end:
        interp.run(x)
        done += 1
    return done


def workers_speedup(bundle: Bundle, quick: bool = False) -> dict[str, Any]:
    """Windows/s publishing the same data set on 1 and on 2 worker processes, in interleaved rounds
    (medians), beside the machine's own ceiling: the graph invoked alone in 1 and in 2 worker
    processes at once. Workers' CPU time per window says whether two processes ran as fast as one."""
    try:
        import distributed as dd
    except ImportError:
        raise UserError("Dask is not installed (pip install 'edge-privacy-runtime[publish]')") from None
    from edge_runtime.publish.cluster import BundlePlugin
    from edge_runtime.publish.formats import pyarrow
    from edge_runtime.publish.pipeline import publish
    from edge_runtime.publish.task import Options

    pyarrow()
    recordings, samples, rounds = (4, 3000, 1) if quick else (16, 60000, 3)  # ~8 s per worker and round
    ceiling_s = 0.5 if quick else 2.0  # seconds of the graph alone, per run
    plugin = BundlePlugin(bundle)
    options = Options(stride=bundle.stride)
    runs: dict[int, list[dict[str, float]]] = {1: [], 2: []}
    ceiling: dict[int, list[float]] = {1: [], 2: []}
    with tempfile.TemporaryDirectory(prefix="edge-runtime-bench-") as tmp:
        src = Path(tmp) / "src"
        synthetic_dataset(src, recordings, samples, bundle.sample_rate)
        start = time.perf_counter()
        ref = publish(src, Path(tmp) / "single", bundle, options, quiet=True)
        single_s = time.perf_counter() - start
        want = _tree(Path(tmp) / "single")
        identical = True
        for r in range(rounds):
            for n in (1, 2):
                with dd.LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=None,
                                     silence_logs=logging.ERROR) as cluster, dd.Client(cluster) as client:
                    client.run(_warm_up)  # imports on every worker before the clock starts
                    cpu0 = client.run(time.process_time)
                    start = time.perf_counter()
                    out = Path(tmp) / f"w{n}-{r}"
                    summary = publish(src, out, bundle, options, scheduler=cluster.scheduler_address, quiet=True)
                    wall = time.perf_counter() - start
                    cpu = sum(client.run(time.process_time).values()) - sum(cpu0.values())
                    client.register_plugin(plugin)  # the ceiling: the same graph, nothing else
                    invokes = client.run(_invoke_loop, ceiling_s, plugin.name)
                    ceiling[n].append(sum(invokes.values()) / ceiling_s)
                identical &= _tree(out) == want and not summary.failed
                runs[n].append({"wall_s": wall, "windows_per_s": summary.windows / wall,
                                "worker_cpu_us_per_window": 1e6 * cpu / max(summary.windows, 1)})
    med = {n: {k: statistics.median(v[k] for v in runs[n]) for k in runs[n][0]} for n in runs}
    ceil = {n: statistics.median(ceiling[n]) for n in ceiling}
    return {
        "recordings": recordings,
        "windows": ref.windows,
        "stride": options.stride,
        "rounds": rounds,
        "single_process_wall_s": round(single_s, 3),
        "single_process_windows_per_s": round(ref.windows / single_s, 1),
        "runs": [{"workers": n, "wall_s": round(med[n]["wall_s"], 3), "windows_per_s": round(med[n]["windows_per_s"], 1),
                  "worker_cpu_us_per_window": round(med[n]["worker_cpu_us_per_window"], 1),
                  "invokes_per_s_alone": round(ceil[n], 1)} for n in (1, 2)],
        "round_speedups": [round(b["windows_per_s"] / a["windows_per_s"], 3) for a, b in zip(runs[1], runs[2])],
        "speedup": round(med[2]["windows_per_s"] / med[1]["windows_per_s"], 3),
        "machine_ceiling": round(ceil[2] / ceil[1], 3),
        "bit_identical": identical,
    }
