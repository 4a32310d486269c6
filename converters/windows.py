"""Real MotionSense windows for int8 calibration (train trials) and parity (held-out trials).

Windows come from the lead's data pipeline (``models.data``, published protocol, cached), cut for
the run's feature set, window, stride and activities, so calibration sees exactly the kind of input
the deployed graph will see. A fixed seed picks the subsets, so conversions are reproducible.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from converters.run_dir import RunSpec


@dataclass(frozen=True)
class WindowSets:
    calibration: np.ndarray  # [n, window, channels] physical units, from train trials
    pool: np.ndarray  # every 4th train window: where calibration extremes are looked for
    holdout: np.ndarray  # [m, window, channels] physical units, from held-out trials
    source: str


def _subset(x: np.ndarray, n: int, seed: int) -> np.ndarray:
    if n <= 0 or len(x) <= n:
        return x
    idx = np.sort(np.random.default_rng(seed).choice(len(x), size=n, replace=False))
    return x[idx]


def extreme_windows(pool: np.ndarray, outputs: np.ndarray, k: int = 4) -> np.ndarray:
    """Indices of the ``k`` windows with the highest and the lowest value per channel, in ``pool``
    (inputs) and in ``outputs`` (what the float model makes of them).

    Added to a random calibration sample they make the int8 ranges cover what the training data
    reaches; without them rare peaks of the input or of the transform's output clip.
    """
    idx: set[int] = set()
    for arr in (pool, outputs):
        peaks, troughs = arr.max(axis=1), arr.min(axis=1)  # [n, channels]
        for c in range(arr.shape[-1]):
            idx.update(np.argsort(peaks[:, c])[-k:].tolist())
            idx.update(np.argsort(troughs[:, c])[:k].tolist())
    return np.array(sorted(idx), dtype=np.int64)


def motionsense_windows(
    spec: RunSpec,
    data_dir: str | os.PathLike | None = None,
    n_calibration: int = 500,
    n_holdout: int = 2000,
    seed: int = 0,
) -> WindowSets:
    """Calibration windows from the train trials, parity windows from the held-out test trials."""
    from models.data import DataConfig, load_dataset

    config = DataConfig(
        feature_set=spec.feature_set.name,
        activities=spec.all_activities or DataConfig().activities,
        window=spec.window,
        stride=spec.stride,
    )
    ds = load_dataset(data_dir, config, progress=True)
    train, test = ds.train.x, ds.test.x
    if spec.context != (0, 0):  # the graph takes each window with its recording's samples around it
        from models.transforms import with_context

        train = with_context(ds.train, spec.stride, *spec.context)
        test = with_context(ds.test, spec.stride, *spec.context)
    return WindowSets(
        calibration=_subset(train, n_calibration, seed),
        pool=train[::4],
        holdout=_subset(test, n_holdout, seed + 1),
        source=(
            f"MotionSense ({ds.checksum[:16]}...) {spec.feature_set.name} windows of {spec.window}, "
            f"stride {spec.stride}, activities {','.join(config.activities)}; calibration from train trials, "
            f"parity from test trials {','.join(map(str, config.test_trials))}"
        ),
    )
