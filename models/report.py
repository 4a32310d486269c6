"""Render an evaluation (models.evaluation) as JSON for machines, Markdown for people, PNG plots."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

# Targets from the issues: on raw data the attackers must be strong enough to judge anything.
RAW_ATTACKER_TARGETS = {"gender_known": 0.96, "gender_unseen": 0.85, "identity": 0.88}
RAW_JUDGE_TARGETS = {"activity_per_class": 0.96, "gender": 0.97, "identity": 0.92}


def pct(v: float) -> str:
    return f"{100 * v:.1f}%"


def markdown(reports: list[dict], title: str = "Evaluation report") -> str:
    """One table row per transform; details of each below."""
    lines = [f"# {title}", ""]
    first = reports[0]["data"]
    lines += [f"Data: MotionSense, feature set `{first['feature_set']}` ({', '.join(first['channels'])} in "
              f"{', '.join(first['units'])}), window {first['window']}, stride {first['stride']}, test trials "
              f"{first['test_trials']}; {first['train_windows']} train / {first['test_windows']} test windows.", ""]
    acts = reports[0]["judges"]["activity5"]["classes"]
    head = ["transform"] + [f"judge {a}" for a in acts] + ["judge gender", "judge identity",
                                                            "atk identity nn/gbt", "atk gender known nn/gbt",
                                                            "atk gender unseen nn/gbt", "MSE (std)", "DTW (std)"]
    lines += ["## Summary (test trials)", "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in reports:
        j, a = r["judges"], r.get("attackers", {})
        row = [r["transform"]] + [pct(j["activity5"]["per_class_accuracy"][c]) for c in acts]
        row += [pct(j["gender"]["accuracy"]), pct(j["identity"]["accuracy"])]
        for k in ("identity", "gender_known", "gender_unseen"):
            row.append(f"{pct(a[k]['nn'])} / {pct(a[k]['gbt'])}" if k in a else "-")
        row += [f"{j['fidelity']['mse_standardized']:.3f}", f"{j['fidelity']['dtw_standardized_mean']:.2f}"]
        lines.append("| " + " | ".join(row) + " |")
    lines += ["", "judge = Keras classifier trained on raw train windows, frozen. atk = adaptive attacker "
              "retrained on the transformed train windows (nn: 1-D CNN, gbt: LightGBM on statistical/spectral "
              "features). Gender is judged on the required activities (dws, ups, wlk); identity (24 subjects, "
              "chance 4.2%) on the moving ones. Gender of unseen people: folds by subject.", ""]
    for r in reports:
        j = r["judges"]
        lines += [f"## {r['transform']}", "", "Activity confusion (rows: true, columns: judged):", "",
                  "| true \\ judged | " + " | ".join(acts) + " |", "|" + "---|" * (len(acts) + 1)]
        for a, row in zip(acts, j["activity5"]["confusion"]):
            lines.append(f"| {a} | " + " | ".join(str(v) for v in row) + " |")
        lines += ["", f"Moving activities (4 classes, identity setting): {pct(j['activity4']['accuracy'])}."]
        if "attackers" in r:
            gu = r["attackers"]["gender_unseen"]
            lines.append("Gender of unseen people, majority class per fold: "
                         + ", ".join(pct(v) for v in gu["majority_per_fold"]) + ".")
            if "activity_retrained" in r["attackers"]:
                lines.append(f"Activity (moving), classifier retrained on transformed data: "
                             f"{pct(r['attackers']['activity_retrained']['nn'])}.")
        lines += [f"Evaluation took {r.get('seconds', 0):.0f} s.", ""]
    return "\n".join(lines)


def write(reports: list[dict], out_dir: str | Path, ds=None, transforms=None, title: str = "Evaluation report"):
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.json").write_text(json.dumps(reports, indent=1))
    (out / "report.md").write_text(markdown(reports, title))
    plot_confusions(reports, out / "confusion.png")
    if ds is not None and transforms:
        plot_signals(ds, transforms, out / "signals.png")
    return out


def plot_confusions(reports: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(reports), figsize=(3.6 * len(reports), 3.4), squeeze=False)
    for ax, r in zip(axes[0], reports):
        a5 = r["judges"]["activity5"]
        cm = np.asarray(a5["confusion"], dtype=float)
        cm = cm / np.maximum(cm.sum(1, keepdims=True), 1)
        ax.imshow(cm, vmin=0, vmax=1, cmap="Blues")
        ax.set_xticks(range(len(a5["classes"])), a5["classes"])
        ax.set_yticks(range(len(a5["classes"])), a5["classes"])
        for i in range(len(cm)):
            for k in range(len(cm)):
                ax.text(k, i, f"{100 * cm[i, k]:.0f}", ha="center", va="center", fontsize=7,
                        color="white" if cm[i, k] > 0.5 else "black")
        ax.set_title(r["transform"], fontsize=8)
        ax.set_xlabel("judged")
        ax.set_ylabel("true")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_signals(ds, transforms, path: Path, per_activity: int = 1) -> None:
    """One test window per activity: raw vs each transform, every channel."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    acts = ds.activities
    idx = [int(np.flatnonzero(ds.test.activity == i)[len(np.flatnonzero(ds.test.activity == i)) // 2])
           for i in range(len(acts))]
    x = ds.test.x[idx]
    outs = [(t.name, t(x)) for t in transforms]
    ch = ds.features.channels
    fig, axes = plt.subplots(len(ch), len(acts), figsize=(3 * len(acts), 2.2 * len(ch)), squeeze=False)
    tt = np.arange(x.shape[1]) / ds.sample_rate
    for c in range(len(ch)):
        for a in range(len(acts)):
            ax = axes[c][a]
            ax.plot(tt, x[a, :, c], color="black", lw=1, label="raw")
            for name, y in outs:
                if name != "raw":
                    ax.plot(tt, y[a, :, c], lw=1, label=name)
            if c == 0:
                ax.set_title(acts[a])
            if a == 0:
                ax.set_ylabel(f"{ch[c]} ({ds.features.units[c]})", fontsize=8)
    axes[0][0].legend(fontsize=6)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def judge_metrics(run_info: dict, data_dir=None):
    """Conversion parity hook: see ``models.evaluation.judge_metrics_for``."""
    from models.evaluation import judge_metrics_for

    return judge_metrics_for(run_info, data_dir)
