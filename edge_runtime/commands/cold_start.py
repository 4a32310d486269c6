"""The engine in a fresh process, for ``edge-runtime benchmark``: import, load and verify (with the
trust the parent used), the first window out, then more windows, and the process's peak RSS (and
whether TensorFlow got imported).

Run as ``python -m edge_runtime.commands.cold_start PARAMS_JSON``; prints one JSON line. Its heavy
imports are inside ``main`` so that their cost is what it measures.
"""

from __future__ import annotations

import json
import resource
import sys
import time


def maxrss_mb() -> float:
    """This process's peak resident set size, in MB (kB on Linux, bytes on macOS)."""
    r = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return r / 1048576 if sys.platform == "darwin" else r / 1024


def main(params: dict) -> dict:
    p0 = time.perf_counter()
    import numpy as np

    from edge_runtime.bundle import load_bundle
    from edge_runtime.engine import Engine

    p1 = time.perf_counter()
    from edge_runtime.signing import default_trust

    # verified with the key the parent trusted (or unsigned allowed, as there)
    bundle = load_bundle(params["bundle"], trust=default_trust(params["trust"], allow_unsigned=params["allow_unsigned"]))
    p_loaded = time.perf_counter()
    engine = Engine(bundle)
    p2 = time.perf_counter()
    w, rate = bundle.window, bundle.sample_rate
    n0 = w + bundle.context_after  # the first window leaves once its look-ahead is there
    t = np.arange(n0) / rate
    raw = np.tile(np.array([0.1, -0.9, 0.2, 0.5, 0.1, -0.2], np.float32), (n0, 1))
    first = engine.push("d", t, raw)
    t_first = time.time()
    p3 = time.perf_counter()
    if len(first) != 1:
        raise RuntimeError(f"the first window did not come out: {engine.stats()}")
    for k in range(1, params["windows"]):
        engine.push("d", t[:w] + (n0 + (k - 1) * w) / rate, raw[:w] + np.float32(0.001 * k))
    return {"t_first": t_first, "import_s": p1 - p0, "load_s": p2 - p1, "first_window_s": p3 - p2,
            "verify_s": p_loaded - p1, "interpreter_s": p2 - p_loaded,
            "maxrss_mb": maxrss_mb(), "tensorflow_loaded": "tensorflow" in sys.modules}


if __name__ == "__main__":
    print(json.dumps(main(json.loads(sys.argv[1]))))
