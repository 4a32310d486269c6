"""A second standard step counter, to check how much the step rows depend on the first one.

The in-graph detector's settings were chosen on train recordings by agreement with ``analysis.steps``
(docs/transforms.md), so the evaluation's step rows partly measure that choice. This counter is
configured differently on purpose (order-2 Butterworth 0.3-4 Hz, peaks >= 0.3 s apart, a fixed
prominence of 0.05 g, no local-RMS rule) and is run on the raw and on the forwarded test recordings
alike, so its rows are what a step-counting app built on it would see:

    python -m models.second_counter motionsense-gender OTHER_BUNDLE_FOLDER ...
"""

from __future__ import annotations

import argparse

import numpy as np
from scipy.signal import butter, find_peaks, sosfiltfilt

BAND_HZ = (0.3, 4.0)
ORDER = 2
MIN_STEP_S = 0.3
PROMINENCE_G = 0.05


def count_steps(acc_magnitude: np.ndarray, fs: float) -> np.ndarray:
    """Sample indices of the steps in a finite 1-D |acc| stream in g."""
    a = np.asarray(acc_magnitude, np.float64)
    sos = butter(ORDER, BAND_HZ, btype="band", fs=fs, output="sos")
    peaks, _ = find_peaks(sosfiltfilt(sos, a - a.mean()), distance=int(MIN_STEP_S * fs), prominence=PROMINENCE_G)
    return peaks.astype(np.int64)


def step_rows(raw: list[np.ndarray], forwarded: list[np.ndarray], activity: list, fs: float,
              window: int = 128) -> dict:
    """Steps per recording (median / p90 relative error) and per-window step rate r within activity,
    forwarded against raw, both counted by :func:`count_steps` over the recordings' full windows
    (scored as ``models.utility`` scores the evaluation's counter)."""
    from models.utility import ACC, per_window, score

    def windows(x: np.ndarray) -> dict:
        m = len(x) // window * window
        return per_window(x[:m], fs, window, steps=count_steps(x[:m, ACC], fs))

    rows = score([windows(r) for r in raw], [windows(f) for f in forwarded], list(activity),
                  tuple(dict.fromkeys(activity)))
    return {"steps_rel_error": rows["steps_rel_error"], "step_rate_r": rows["step_rate_r"]["within"]}


def main(argv=None) -> int:
    from edge_runtime.bundle import load_bundle
    from models.data import REQUIRED, DataConfig, load_dataset, recording_series
    from models.transforms import BundleTransform, forwarded

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("bundle", nargs="+", help="bundle name or folder; each is run through the edge engine")
    ap.add_argument("--data", help="MotionSense folder or zip")
    args = ap.parse_args(argv)
    ds = load_dataset(args.data, DataConfig(), progress=False)  # as `edge-runtime evaluate` loads it
    recs = [r for r in recording_series(ds.test, ds.config.stride) if ds.activities[r.activity] in REQUIRED]
    for name in args.bundle:
        bundle = load_bundle(name)
        t = BundleTransform(bundle)
        rows = step_rows([r.x for r in recs], [forwarded(t, r.x, ds.config.window) for r in recs],
                         [r.activity for r in recs], ds.sample_rate, ds.config.window)
        e = rows["steps_rel_error"]
        print(f"{bundle.id} {bundle.version}: steps per recording median {e['median']:.1%} / p90 {e['p90']:.1%}, "
              f"step rate r {rows['step_rate_r']:.3f} (second counter, {len(recs)} recordings)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
