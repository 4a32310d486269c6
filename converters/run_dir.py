"""Read a training run directory (``docs/run_dir.md``): ``run.json`` and ``transform.keras``.

The run directory is the contract between training and conversion; this module checks it once, up
front, so the converter never builds a bundle from a run whose numbers disagree with its feature set.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edge_runtime.errors import UserError
from edge_runtime.features import FEATURE_SETS, FeatureSet

RUN_JSON = "run.json"
TRANSFORM_NAME = "transform.keras"


@dataclass(frozen=True)
class RunSpec:
    """What a bundle needs to know about a transform besides its weights (from run.json or the CLI)."""

    recipe: str
    feature_set: FeatureSet
    sample_rate: float
    window: int
    stride: int
    activities: dict[str, list[str]]
    protected: list[str]
    norm_mean: np.ndarray  # [channels] float64 (as given; the graph uses float32)
    norm_std: np.ndarray
    data_sha256: str
    config: dict[str, Any]
    metrics: dict[str, float]
    context: tuple[int, int] = (0, 0)  # samples the graph sees (before, after) the window
    keeps: tuple[str, ...] = ()  # what the output is declared to carry of the wearer

    @property
    def input_length(self) -> int:
        return self.context[0] + self.window + self.context[1]

    @property
    def channels(self) -> tuple[str, ...]:
        return self.feature_set.channels

    @property
    def units(self) -> tuple[str, ...]:
        return self.feature_set.units

    @property
    def all_activities(self) -> tuple[str, ...]:
        """The activities the training data used: ``all`` when run.json lists it, else required,
        sensitive, neutral in that order, without repeats."""
        if self.activities.get("all"):
            return tuple(self.activities["all"])
        out: list[str] = []
        for key in ("required", "sensitive", "neutral"):
            out += [a for a in self.activities.get(key, []) if a not in out]
        return tuple(out)


@dataclass(frozen=True)
class RunDir:
    path: Path
    spec: RunSpec

    @property
    def model_path(self) -> Path:
        return self.path / TRANSFORM_NAME


def make_spec(
    *,
    recipe: str,
    feature_set: str,
    sample_rate: float,
    window: int,
    stride: int,
    activities: dict[str, list[str]],
    protected: list[str],
    norm_mean: list[float],
    norm_std: list[float],
    data_sha256: str = "",
    config: dict[str, Any] | None = None,
    metrics: dict[str, float] | None = None,
    channels: list[str] | None = None,
    units: list[str] | None = None,
    where: str = "",
    context: dict[str, int] | None = None,
    keeps: list[str] | None = None,
) -> RunSpec:
    """Build and check a :class:`RunSpec`; errors name ``where`` (the file or the CLI)."""
    pre = f"{where}: " if where else ""
    fs = FEATURE_SETS.get(feature_set)
    if fs is None:
        raise UserError(f"{pre}unknown feature set {feature_set!r}; known: {', '.join(FEATURE_SETS)}")
    if channels is not None and tuple(channels) != fs.channels:
        raise UserError(f"{pre}channels {channels} do not match feature set {fs.name} {list(fs.channels)}")
    if units is not None and tuple(units) != fs.units:
        raise UserError(f"{pre}units {units} do not match feature set {fs.name} {list(fs.units)}")
    # float64 keeps the given numbers exact in the manifest; the graph casts them to float32
    mean = np.asarray(norm_mean, dtype=np.float64).reshape(-1)
    std = np.asarray(norm_std, dtype=np.float64).reshape(-1)
    for name, arr in (("norm mean", mean), ("norm std", std)):
        if arr.shape != (fs.n_channels,):
            raise UserError(f"{pre}{name} has {arr.size} values, feature set {fs.name} has {fs.n_channels} channels")
        if not np.all(np.isfinite(arr)):
            raise UserError(f"{pre}{name} has non-finite values")
    if not np.all(std > 0):
        raise UserError(f"{pre}norm std must be positive, got {std.tolist()}")
    if not (isinstance(window, int) and window > 0 and isinstance(stride, int) and stride > 0):
        raise UserError(f"{pre}window ({window}) and stride ({stride}) must be positive integers")
    if not (math.isfinite(float(sample_rate)) and float(sample_rate) > 0):
        raise UserError(f"{pre}sample_rate must be positive, got {sample_rate}")
    ctx = context or {}
    before, after = ctx.get("before", 0), ctx.get("after", 0)
    if not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in (before, after)):
        raise UserError(f"{pre}context before/after must be non-negative integers, got {ctx}")
    acts = {k: list(activities.get(k, [])) for k in ("required", "sensitive", "neutral")}
    if activities.get("all"):
        acts["all"] = list(activities["all"])
    return RunSpec(
        recipe=recipe, feature_set=fs, sample_rate=float(sample_rate), window=window, stride=stride,
        activities=acts, protected=list(protected), norm_mean=mean, norm_std=std, data_sha256=data_sha256,
        config=dict(config or {}), metrics={k: float(v) for k, v in (metrics or {}).items()
                                            if isinstance(v, (int, float)) and not isinstance(v, bool)
                                            and math.isfinite(v)},
        context=(before, after), keeps=tuple(keeps or ()),
    )


def read_run_dir(path: str | Path) -> RunDir:
    """Read and check ``RUN_DIR/run.json``; the transform model must be next to it."""
    path = Path(path)
    run_json = path / RUN_JSON
    if not run_json.is_file():
        raise UserError(f"{path}: not a training run directory ({RUN_JSON} missing; see docs/run_dir.md)")
    if not (path / TRANSFORM_NAME).is_file():
        raise UserError(f"{path}: {TRANSFORM_NAME} missing (see docs/run_dir.md)")
    try:
        info = json.loads(run_json.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UserError(f"{run_json}: not valid JSON ({exc})") from None
    missing = [k for k in ("recipe", "feature_set", "sample_rate", "window", "stride", "activities", "protected",
                           "norm") if k not in info]
    if missing:
        raise UserError(f"{run_json}: missing field(s) {', '.join(missing)}")
    norm = info["norm"]
    if not isinstance(norm, dict) or "mean" not in norm or "std" not in norm:
        raise UserError(f"{run_json}: norm must be {{\"mean\": [...], \"std\": [...]}}")
    spec = make_spec(
        recipe=str(info["recipe"]), feature_set=info["feature_set"], sample_rate=info["sample_rate"],
        window=info["window"], stride=info["stride"], activities=info["activities"],
        protected=info["protected"], norm_mean=norm["mean"], norm_std=norm["std"],
        data_sha256=str(info.get("data_sha256", "")), config=info.get("config"), metrics=info.get("metrics"),
        channels=info.get("channels"), units=info.get("units"), where=str(run_json),
        context=info.get("context"), keeps=info.get("keeps"),
    )
    return RunDir(path=path, spec=spec)
