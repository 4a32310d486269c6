"""The measured figures a bundle's manifest carries: one compact block per evaluated bundle version.

``edge-runtime evaluate --bundle ...`` runs the deployed graph through the edge engine; this module
condenses its report (activity and secret judges, adaptive attackers, utility on continuous
recordings) together with the same report's label-only and frontier rows into the ``measured``
block of that report entry; ``edge-runtime sign --measured REPORT`` copies it into the manifest of
the bundle version it was measured on (and refuses any other version).
A datasheet or an app then shows what was measured without re-running anything, and the signature
vouches for it. Figures are fractions (0-1) or correlations, rounded to 4 digits.
"""

from __future__ import annotations

from typing import Any

UTILITY_FIGURES = {  # manifest name -> path in a report's ``utility`` section
    "steps_rel_error_median": ("steps_rel_error", "median"),
    "steps_rel_error_p90": ("steps_rel_error", "p90"),
    "step_rate_r": ("step_rate_r", "within"),
    "cadence_mae_spm": ("cadence_mae_spm",),
    "enmo_r": ("enmo_r", "within"),
    "gyro_r": ("gyro_r", "within"),
    "shape_r_median": ("shape_r_median",),
}
ATTACKS = ("gender_known", "gender_unseen", "identity")


def _round(v: Any) -> Any:
    if isinstance(v, float):
        return round(v, 4)
    if isinstance(v, dict):
        return {k: _round(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_round(x) for x in v]
    return v


def _get(d: dict, path: tuple[str, ...]) -> Any:
    for key in path:
        if not isinstance(d, dict) or key not in d:
            return None
        d = d[key]
    return d


def _utility(u: dict | None) -> dict[str, Any]:
    found = {name: _get(u or {}, path) for name, path in UTILITY_FIGURES.items()}
    return {name: v for name, v in found.items() if v is not None}


def _attackers(a: dict | None) -> dict[str, Any]:
    return {k: {f: v for f, v in a[k].items() if f in ("nn", "gbt", "majority_pooled")} for k in ATTACKS if k in (a or {})}


def measured_figures(entry: dict, reports: list[dict]) -> dict[str, Any]:
    """The ``measured`` block for one bundle's report ``entry``, beside the label-only and frontier rows of ``reports``."""
    judges = entry.get("judges", {})
    out: dict[str, Any] = {
        "bundle": entry.get("bundle"),
        "data": {k: entry.get("data", {}).get(k) for k in ("data_sha256", "test_trials", "test_windows")},
        "path": "edge engine (the deployed int8 graph), MotionSense test trials, raw-trained judges, "
                "adaptive attackers retrained on the transformed output",
        "judges": {
            "activity_per_class": judges.get("activity5", {}).get("per_class_accuracy"),
            "activity_moving": judges.get("activity4", {}).get("accuracy"),
            "gender": judges.get("gender", {}).get("accuracy"),
            "identity": judges.get("identity", {}).get("accuracy"),
        },
        "attackers": _attackers(entry.get("attackers")),
        "utility": _utility(entry.get("utility")),
    }
    label = next((r for r in reports if r.get("kind") == "label_only"), None)
    if label:
        out["label_only"] = _utility(label.get("utility"))
    kept = next((r for r in reports if r.get("kind") == "kept_utility" and r.get("keeps") == entry.get("keeps")), None)
    if kept:  # the step rows the kept features alone allow
        out["kept_utility"] = _utility(kept.get("utility"))
    keeps = entry.get("keeps")
    frontier = next((r for r in reports if r.get("kind") == "frontier" and r.get("keeps") == keeps
                     and r.get("shown_as", entry.get("shown_as")) == entry.get("shown_as")), None)
    if frontier:
        out["frontier"] = {"keeps": keeps, "attackers": _attackers(frontier.get("attackers"))}
        if "recording_rate" in frontier:  # gender of unseen people from a whole recording's step rate
            out["frontier"]["gender_unseen_per_recording"] = frontier["recording_rate"]
    return _round(out)

