"""Engine benchmarks: the same measurements as ``edge-runtime benchmark``, saved under ``benchmarks/results``.

    python benchmarks/bench_engine.py                                # the shipped int8 bundle
    python benchmarks/bench_engine.py --bundle motionsense-gender --bundle path/to/float32-bundle \\
        --keras runs/motionsense-gender                              # + int8 vs float32, + Keras baseline

Every option of ``edge-runtime benchmark`` is accepted. Results go to
``benchmarks/results/<UTC date>-<host>.json`` and ``.md`` unless ``--json``/``--markdown`` are given.
Works with only numpy + LiteRT installed; the TensorFlow baselines are then skipped, and named.
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

from edge_runtime.commands import benchmark

RESULTS = Path(__file__).resolve().parent / "results"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench_engine.py", description=__doc__.split("\n\n")[0])
    benchmark.configure(parser)
    args = parser.parse_args(argv)
    stem = f"{time.strftime('%Y%m%d-%H%M', time.gmtime())}-{platform.node() or 'host'}"
    args.json = args.json or RESULTS / f"{stem}.json"
    args.markdown = args.markdown or RESULTS / f"{stem}.md"
    rc = benchmark.run(args)
    print(args.markdown.read_text())
    print(f"saved {args.json} and {args.markdown}", file=sys.stderr)
    return rc


if __name__ == "__main__":
    sys.exit(main())
