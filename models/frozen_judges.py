"""The judges: Keras classifiers trained once on *raw* train windows and then frozen.

They answer "what does a server that learned from ordinary data infer from what we send?".
activity5 (dws ups wlk jog std), activity4 (the moving ones, for the identity setting),
identity (24 subjects, on moving windows), gender (on the required activities dws ups wlk).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from models.classifiers import ClassifierConfig, fit_classifier, predict
from models.data import MOVING, N_SUBJECTS, REQUIRED, Dataset, cache_dir


@dataclass(frozen=True)
class JudgeSpec:
    name: str
    activities: tuple[str, ...]  # windows the judge is trained and tested on
    label: str  # "activity" | "subject" | "gender"
    n_classes: int


JUDGES = (
    JudgeSpec("activity5", ("dws", "ups", "wlk", "jog", "std"), "activity", 5),
    JudgeSpec("activity4", MOVING, "activity", 4),
    JudgeSpec("identity", MOVING, "subject", N_SUBJECTS),
    JudgeSpec("gender", REQUIRED, "gender", 2),
)
JUDGE_CONFIG = ClassifierConfig(epochs=12)
IDENTITY_CONFIG = ClassifierConfig(filters=(64, 64, 128), dense=128, epochs=20)


def labels(ds: Dataset, split: str, spec: JudgeSpec):
    """(x, y) of ``spec``'s windows in ``ds.train`` or ``ds.test``, activity labels re-indexed."""
    sub = ds.restrict(spec.activities)
    w = getattr(sub, split)
    return w.x, getattr(w, spec.label)


class Judges:
    """The four frozen judges of one data configuration, trained on first use and cached."""

    def __init__(self, ds: Dataset, directory: Path | None = None):
        self.ds = ds
        self.dir = Path(directory or cache_dir() / f"judges-{ds.config.key(ds.checksum)}")
        self.models: dict = {}

    def train_missing(self, log=print) -> dict:
        import keras

        self.dir.mkdir(parents=True, exist_ok=True)
        meta_path = self.dir / "judges.json"
        meta = json.loads(meta_path.read_text()) if meta_path.exists() else {}
        for spec in JUDGES:
            path = self.dir / f"{spec.name}.keras"
            if path.exists():
                self.models[spec.name] = keras.models.load_model(path)
                continue
            t0 = time.time()
            x, y = labels(self.ds, "train", spec)
            cfg = IDENTITY_CONFIG if spec.label == "subject" else JUDGE_CONFIG
            log(f"training judge {spec.name} on {len(x)} raw train windows ...")
            model = fit_classifier(x, y, spec.n_classes, self.ds.mean, self.ds.std, cfg, name=spec.name)
            model.save(path)
            self.models[spec.name] = model
            xt, yt = labels(self.ds, "test", spec)
            acc = float((predict(model, xt).argmax(1) == yt).mean())
            meta[spec.name] = {"raw_test_accuracy": acc, "train_seconds": round(time.time() - t0, 1),
                               "train_windows": int(len(x))}
            log(f"  {spec.name}: raw test accuracy {acc:.4f} ({time.time() - t0:.0f} s)")
            meta_path.write_text(json.dumps(meta, indent=2))
        return meta

    def __getitem__(self, name: str):
        if name not in self.models:
            self.train_missing()
        return self.models[name]
