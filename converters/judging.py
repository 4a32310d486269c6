"""The judges' privacy/utility table as ``metrics_fn(transform_fn) -> {name: value}`` for parity.

Wraps the lead's frozen judges (``models.judges``) and ``models.evaluation.judge_metrics`` on the
published test trials, and flattens their report to the numbers the parity targets talk about:
required-activity accuracy, sensitive-activity recognition, gender and identity accuracy.
"""

from __future__ import annotations

import os
from typing import Callable

import numpy as np

from converters.parity import MetricsFn
from converters.run_dir import RunSpec


def flatten_judge_report(report: dict, required: list[str], sensitive: list[str]) -> dict[str, float]:
    """``models.evaluation.judge_metrics`` output -> flat numbers (fractions)."""
    out: dict[str, float] = {}
    a5 = report["activity5"]
    classes = list(a5["classes"])
    cm = np.asarray(a5["confusion"], dtype=np.float64)
    out["activity5.accuracy"] = float(a5["accuracy"])

    def rows_accuracy(names: list[str]) -> float | None:
        idx = [classes.index(a) for a in names if a in classes]
        total = cm[idx].sum() if idx else 0
        return float(sum(cm[i, i] for i in idx) / total) if total else None

    req = rows_accuracy(required)
    if req is not None:
        out["activity5.required_accuracy"] = req
    sen = rows_accuracy(sensitive)
    if sen is not None:
        out["activity5.sensitive_recognized"] = sen
    for a, v in a5.get("per_class_accuracy", {}).items():
        out[f"activity5.per_class.{a}"] = float(v)
    out["activity4.accuracy"] = float(report["activity4"]["accuracy"])
    out["gender.accuracy"] = float(report["gender"]["accuracy"])
    out["identity.accuracy"] = float(report["identity"]["accuracy"])
    fid = report.get("fidelity", {})
    for key in ("mse_standardized", "dtw_standardized_mean"):
        if key in fid:
            out[f"fidelity.{key}"] = float(fid[key])
    return out


def judge_metrics_fn(spec: RunSpec, data_dir: str | os.PathLike | None = None,
                     log: Callable[[str], None] = print) -> tuple[MetricsFn | None, str]:
    """(metrics_fn, note). metrics_fn is None, with the reason in note, when the judges cannot apply."""
    try:
        from models.data import DataConfig, load_dataset
        from models.evaluation import judge_metrics
        from models.judges import Judges
    except ImportError as exc:  # the training extra is not installed
        return None, f"judges unavailable ({exc})"
    base = DataConfig()
    if (spec.feature_set.name, spec.window) != (base.feature_set, base.window):
        return None, (f"the judges are trained on {base.feature_set} windows of {base.window}; this model takes "
                      f"{spec.feature_set.name} windows of {spec.window}, so the judge table was not recomputed")
    ds = load_dataset(data_dir, base)
    judges = Judges(ds)
    judges.train_missing(log=log)

    def metrics_fn(transform_fn) -> dict[str, float]:
        report = judge_metrics(ds, judges, transform_fn)
        return flatten_judge_report(report, spec.activities["required"], spec.activities["sensitive"])

    return metrics_fn, ""
