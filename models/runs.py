"""What a trained recipe leaves behind: the run directory (docs/run_dir.md), and the label helper
every recipe family shares. Its own module so recipes.py and each family import it, not each other."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import numpy as np

from models.architectures import macs
from models.data import Dataset


def utility_labels(ds: Dataset, cfg, activity: np.ndarray) -> np.ndarray:
    """The activity a window should be recognised as after the transform (sensitive -> first neutral)."""
    names = np.array(ds.activities)[activity]
    if cfg.sensitive:
        names = np.where(np.isin(names, cfg.sensitive), cfg.neutral[0], names)
    return np.array([ds.activities.index(n) for n in names], dtype=np.int64)


def save_run(cfg, ds: Dataset, transform, stages, seconds: float, out_dir, extra: dict | None = None,
             extra_macs: int = 0) -> Path:
    """``out_dir/NAME/{transform.keras, run.json}``; ``extra`` adds fields (e.g. context, keeps)."""
    run = Path(out_dir) / cfg.name
    run.mkdir(parents=True, exist_ok=True)
    transform.save(run / "transform.keras")
    info = {
        "recipe": cfg.name, "config": json.loads(json.dumps(asdict(cfg))),
        "feature_set": ds.features.name, "channels": list(ds.features.channels),
        "units": list(ds.features.units), "sample_rate": ds.sample_rate,
        "window": ds.config.window, "stride": ds.config.stride,
        "activities": {"all": list(ds.activities), "required": list(cfg.required),
                       "sensitive": list(cfg.sensitive), "neutral": list(cfg.neutral)},
        "protected": ["gender" if cfg.secret == "gender" else "identity"],
        "norm": {"mean": ds.mean.tolist(), "std": ds.std.tolist()},
        "data_sha256": ds.checksum, "train_seconds": round(seconds, 1),
        "macs_per_window": sum(macs(s) for s in stages) + int(extra_macs),
        "parameters": int(transform.count_params()),
        **(extra or {}),
    }
    (run / "run.json").write_text(json.dumps(info, indent=2))
    return run
