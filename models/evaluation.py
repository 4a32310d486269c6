"""The evaluation report's numbers: frozen judges, adaptive attackers and fidelity, on the test trials.

``evaluate(ds, judges, transform)`` returns one JSON-able dict; ``models.report`` renders it.
"""

from __future__ import annotations

import time

import numpy as np

from models.attackers import AttackConfig, run_attacks
from models.classifiers import predict
from models.data import MOVING, REQUIRED, Dataset
from models.frozen_judges import Judges
from models.transforms import apply

FIDELITY_WINDOWS = 400


def confusion(y_true: np.ndarray, y_pred: np.ndarray, n: int) -> np.ndarray:
    m = np.zeros((n, n), dtype=np.int64)
    np.add.at(m, (y_true, y_pred), 1)
    return m


def fidelity(ds: Dataset, x: np.ndarray, xt: np.ndarray) -> dict:
    """MSE (standardised units, so channels weigh alike) and DTW distance to the original windows.

    DTW without dtaidistance's pruning: its Euclidean upper bound returns inf when DTW equals it.
    """
    from dtaidistance import dtw

    z, zt = ds.standardize(x), ds.standardize(xt)
    pick = np.random.default_rng(0).choice(len(x), size=min(FIDELITY_WINDOWS, len(x)), replace=False)
    d = [dtw.distance_fast(z[i, :, c].astype(np.double), zt[i, :, c].astype(np.double), use_pruning=False)
         for i in pick for c in range(x.shape[2])]
    return {"mse_standardized": float(np.mean((z - zt) ** 2)),
            "mse_physical_per_channel": [float(v) for v in np.mean((x - xt) ** 2, axis=(0, 1))],
            "dtw_standardized_mean": float(np.mean(d)), "dtw_windows": int(len(pick))}


def judge_metrics(ds: Dataset, judges: Judges, transform) -> dict:
    """What the frozen judges infer from the transformed test windows."""
    out: dict = {}
    xt_all = apply(transform, ds.test, ds.config.stride)
    names = ds.activities
    pred = predict(judges["activity5"], xt_all).argmax(1)
    cm = confusion(ds.test.activity, pred, len(names))
    out["activity5"] = {
        "classes": list(names), "confusion": cm.tolist(),
        "per_class_accuracy": {a: float(cm[i, i] / max(cm[i].sum(), 1)) for i, a in enumerate(names)},
        "accuracy": float(np.trace(cm) / cm.sum()),
    }
    moving = np.isin(np.array(names)[ds.test.activity], MOVING)
    y4 = np.array([MOVING.index(names[a]) for a in ds.test.activity[moving]])
    pred4 = predict(judges["activity4"], xt_all[moving]).argmax(1)
    out["activity4"] = {"accuracy": float((pred4 == y4).mean()),
                        "confusion": confusion(y4, pred4, len(MOVING)).tolist(), "classes": list(MOVING)}
    out["identity"] = {"accuracy": float(
        (predict(judges["identity"], xt_all[moving]).argmax(1) == ds.test.subject[moving]).mean()),
        "chance": 1 / 24}
    req = np.isin(np.array(names)[ds.test.activity], REQUIRED)
    out["gender"] = {"accuracy": float(
        (predict(judges["gender"], xt_all[req]).argmax(1) == ds.test.gender[req]).mean()),
        "windows": "required activities " + ",".join(REQUIRED)}
    out["fidelity"] = fidelity(ds, ds.test.x, xt_all)
    return out


def utility(ds: Dataset, transform) -> dict:
    """What the forwarded stream is still good for, on the continuous test recordings (models/utility.py)."""
    from models.data import recording_series
    from models.transforms import forwarded
    from models.utility import utility_metrics

    recs = recording_series(ds.test, ds.config.stride)
    fwd = [forwarded(transform, r.x, ds.config.window) for r in recs]
    return utility_metrics([r.x for r in recs], fwd, [ds.activities[r.activity] for r in recs], ds.sample_rate,
                           ds.config.window, REQUIRED)


def label_only(ds: Dataset) -> dict:
    """The utility row of sending the activity label alone (true labels: its best case)."""
    from models.data import recording_series
    from models.utility import label_only as label_only_metrics

    tr, te = recording_series(ds.train, ds.config.stride), recording_series(ds.test, ds.config.stride)
    names = ds.activities
    return {"transform": "label only (the activity, nothing else)", "kind": "label_only",
            "utility": label_only_metrics([r.x for r in tr], [names[r.activity] for r in tr], [r.x for r in te],
                                          [names[r.activity] for r in te], ds.sample_rate, ds.config.window, REQUIRED)}


def kept_utility(ds: Dataset, transforms) -> list[dict]:
    """For each distinct laid-steps transform (cadence or step count) among ``transforms``: the step rows
    a recipient would get from the kept features alone, computed from the raw steps (the evaluation's own
    counter) and laid as the transform lays them, so what its detector and strides lose shows."""
    from analysis.steps import count_steps
    from models.data import recording_series
    from models.frontier import class_step_periods, laid_steps
    from models.utility import ACC, steps_only_metrics

    out, seen = [], set()
    recs = recording_series(ds.test, ds.config.stride)
    lone = None  # a lone step's period per class, for a cadence lay: from the train recordings, once
    for t in transforms:
        keeps, context = tuple(getattr(t, "keeps", ())), tuple(getattr(t, "context", (0, 0)))
        kept = next((k for k in ("step_count", "cadence") if k in keeps), None)  # the lays that need a column
        if kept is None or (keeps, context) in seen:
            continue
        seen.add((keeps, context))
        if lone is None and kept == "cadence":
            lone = class_step_periods(ds.train, len(ds.activities), ds.config.stride, ds.sample_rate)
        sent = [laid_steps(count_steps(r.x[:, ACC], ds.sample_rate), len(r.x), ds.config.window, keeps, context,
                           ds.sample_rate, None if lone is None else int(lone[r.activity])) for r in recs]
        out.append({"transform": f"activity + {kept.replace('_', ' ')} of raw steps (no waveform)",
                    "kind": "kept_utility",
                    "keeps": list(keeps), "utility": steps_only_metrics(
                        [r.x for r in recs], sent, [ds.activities[r.activity] for r in recs], ds.sample_rate,
                        ds.config.window, REQUIRED)})
    return out


def frontiers(ds: Dataset, transforms, attack_config: AttackConfig = AttackConfig(), log=print) -> list[dict]:
    """The frontier of each distinct (kept features, sensitive -> neutral) among ``transforms``:
    attackers trained on those features computed from raw data (cached: it is data, not a model)."""
    import hashlib
    import json
    from dataclasses import asdict

    from models.data import cache_dir
    from models.frontier import frontier_attacks, recording_rate_attack

    out, seen = [], set()
    rate = None  # what a server adding a recording's steps up reads: the same for every lay
    for t in transforms:
        key = (tuple(t.keeps), tuple(sorted(t.shown_as.items())))
        if key in seen:
            continue
        seen.add(key)
        spec = {"ds": ds.config.key(ds.checksum), "keeps": key, "attack": asdict(attack_config), "v": 1}
        if "cadence" in t.keeps:  # its steps are laid using the context; v3: evenly between the last step
            spec["context"], spec["v"] = list(getattr(t, "context", (0, 0))), 5  # before and the first after;
            # v4: the graph's gap and whole-sample period; v5: a lone step's period is its class's
        blob = json.dumps(spec, sort_keys=True, default=str)
        path = cache_dir() / f"frontier-{hashlib.sha256(blob.encode()).hexdigest()[:16]}.json"
        if path.is_file():
            attackers = json.loads(path.read_text())
        else:
            log(f"frontier: attackers on {', '.join(t.keeps)} from raw data"
                + (f" ({', '.join(f'{a} shown as {b}' for a, b in t.shown_as.items())})" if t.shown_as else ""))
            attackers = frontier_attacks(ds, attack_config, log=log, neutral=dict(t.shown_as) or None,
                                         keeps=tuple(t.keeps), context=tuple(getattr(t, "context", (0, 0))))
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(attackers))
        shown = "; " + ", ".join(f"{a} as {b}" for a, b in t.shown_as.items()) if t.shown_as else ""
        if rate is None:
            rate = recording_rate_attack(ds, attack_config) or {}
        out.append({"transform": f"frontier: {' + '.join(t.keeps)} of raw data{shown}", "kind": "frontier",
                    "keeps": list(t.keeps), "shown_as": dict(t.shown_as), "attackers": attackers}
                   | ({"recording_rate": rate} if rate else {}))
    return out


def evaluate(ds: Dataset, judges: Judges, transform, attackers: bool = True,
             attack_config: AttackConfig = AttackConfig(), log=print) -> dict:
    t0 = time.time()
    log(f"evaluating transform {transform.name!r} on {len(ds.test)} test windows")
    report = {"transform": transform.name, "data": {
        "feature_set": ds.features.name, "channels": list(ds.features.channels),
        "units": list(ds.features.units), "window": ds.config.window, "stride": ds.config.stride,
        "test_trials": list(ds.config.test_trials), "train_windows": len(ds.train),
        "test_windows": len(ds.test), "data_sha256": ds.checksum}}
    bundle = getattr(transform, "bundle", None)
    if bundle is not None:  # which bundle version these figures are of (``edge-runtime sign --measured``)
        report["bundle"] = {"id": bundle.id, "version": bundle.version,
                            "model_sha256": bundle.manifest["files"][bundle.manifest["model"]["file"]]}
        report["keeps"], report["shown_as"] = list(transform.keeps), dict(transform.shown_as)
    report["judges"] = judge_metrics(ds, judges, transform)
    report["utility"] = utility(ds, transform)
    if attackers:
        report["attackers"] = run_attacks(ds, transform, attack_config, log=log)
    report["seconds"] = round(time.time() - t0, 1)
    return report


def summary(report_judges: dict, run_info: dict) -> dict[str, float]:
    """The flat numbers a run is held to: per-class activity, sensitive handling, secrets (frozen judges)."""
    a5 = report_judges["activity5"]
    classes, cm = a5["classes"], np.asarray(a5["confusion"])
    acts = run_info.get("activities", {})
    required = acts.get("required", list(classes))
    out = {f"acc_{a}": a5["per_class_accuracy"][a] for a in classes}
    out["required_mean_accuracy"] = float(np.mean([a5["per_class_accuracy"][a] for a in required]))
    for s in acts.get("sensitive", []):
        row = cm[classes.index(s)]
        out[f"{s}_as_{s}"] = float(row[classes.index(s)] / max(row.sum(), 1))
        for n in acts.get("neutral", []):
            out[f"{s}_as_{n}"] = float(row[classes.index(n)] / max(row.sum(), 1))
    out["activity4_accuracy"] = report_judges["activity4"]["accuracy"]
    out["gender_judge"] = report_judges["gender"]["accuracy"]
    out["identity_judge"] = report_judges["identity"]["accuracy"]
    return out


def judge_metrics_for(run_info: dict, data_dir=None):
    """``metrics_fn(transform_fn) -> {name: value}`` with the frozen judges, for conversion parity.

    ``transform_fn`` maps raw windows ``[n, window, channels]`` to windows of the same shape and units.
    """
    from models.data import DataConfig, load_dataset

    ds = load_dataset(data_dir, DataConfig(), progress=False)
    judges = Judges(ds)
    judges.train_missing()

    ctx = run_info.get("context") or {}

    class _Fn:
        name = "conversion"
        context = (int(ctx.get("before", 0)), int(ctx.get("after", 0)))

        def __init__(self, fn):
            self.fn = fn

        def __call__(self, x):
            return np.asarray(self.fn(x), dtype=np.float32)

    def metrics_fn(transform_fn) -> dict[str, float]:
        return summary(judge_metrics(ds, judges, _Fn(transform_fn)), run_info)

    return metrics_fn
