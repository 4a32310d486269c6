"""The judges' privacy/utility table as ``metrics_fn(transform_fn) -> {name: value}`` for parity.

The table itself is the lead's (``models.report.judge_metrics``: the frozen judges of
``models.frozen_judges`` on the published test trials, summarised by ``models.evaluation.summary``); this
module only decides whether it applies to a model and hands it to the converter.
"""

from __future__ import annotations

import os

from converters.parity import MetricsFn
from converters.run_dir import RunSpec


def judge_metrics_fn(spec: RunSpec, data_dir: str | os.PathLike | None = None) -> tuple[MetricsFn | None, str]:
    """(metrics_fn, note). metrics_fn is None, with the reason in note, when the judges cannot apply."""
    try:
        from models.data import DataConfig
        from models.report import judge_metrics
    except ImportError as exc:  # the training extra (or the lead's hook) is missing
        return None, f"judges unavailable ({exc})"
    base = DataConfig()
    if (spec.feature_set.name, spec.window) != (base.feature_set, base.window):
        return None, (f"the judges are trained on {base.feature_set} windows of {base.window}; this model takes "
                      f"{spec.feature_set.name} windows of {spec.window}, so the judge table was not recomputed")
    run_info = {"recipe": spec.recipe, "activities": spec.activities, "protected": spec.protected,
                "context": {"before": spec.context[0], "after": spec.context[1]}}
    return judge_metrics(run_info, data_dir), ""
