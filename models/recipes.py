"""Training recipes of the privacy transforms. Each reads top to bottom; its numbers live in one config.

motionsense-gender: the published combined setting (r = dws, ups, wlk; s = jog; n = std, gender hidden)
with the step-resynthesis transform (models/stepsynth.py): an on-device activity classifier and step
detector, and what leaves is real train strides of the recognised activity (a sensitive one as the
neutral one), each window's steps evenly spaced at the wearer's own count and pace: the activity and
the cadence, nothing else.
motionsense-identity: the same transform on the moving activities, identity hidden.
motionsense-{gender,identity}-steps: the same, each step laid at the wearer's own step times.
motionsense-{gender,identity}-label: the label-only level (models/templates.py): one real window per
recognised activity.
motionsense-{gender,identity}-autoencoder: the published approach on the same settings, the
replacement AE (jog -> std, others through) then an anonymization AE hiding gender (identity).
They keep the wearer's signal, altered, and that is what retrained attackers still read.
The anonymization AE is trained in alternating rounds: refit the adversaries (activity, secret) on
its current output, then update it against them and every earlier secret adversary, so it faces
adapting adversaries, not a frozen one, and cannot get by fooling one particular model.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from models.architectures import AutoencoderShape, macs, temporal_autoencoder
from models.classifiers import ClassifierConfig, fit_classifier, predict
from models.data import ACTIVITIES, MOVING, N_SUBJECTS, DataConfig, Dataset, load_dataset
from models.privacy_losses import binary_privacy, categorical_privacy
from models.runs import save_run, utility_labels
from models.stepsynth import StepSynthConfig, train_stepsynth
from models.templates import TemplateConfig, train_templates


@dataclass(frozen=True)
class AutoencoderConfig:
    name: str
    data: DataConfig
    required: tuple[str, ...]
    sensitive: tuple[str, ...]
    neutral: tuple[str, ...]
    secret: str  # "gender" | "subject"
    replacement: bool  # train a replacement AE first
    rae_shape: AutoencoderShape = AutoencoderShape((16, 16, 8))
    aae_shape: AutoencoderShape = AutoencoderShape((16, 16, 4))
    rae_epochs: int = 8
    beta_distortion: float = 4.0
    beta_activity: float = 0.5  # frozen raw activity classifier; the refitted one gets half of it
    beta_secret: float = 1.0  # shared by the pool of secret adversaries
    rounds: int = 4
    aae_epochs_per_round: int = 2
    aae_warmup_epochs: int = 4  # reconstruction + activity before the first round
    activity: ClassifierConfig = ClassifierConfig(epochs=4, seed=7)  # the recipe's own raw activity models
    activity_ensemble: int = 3  # independently seeded, so the AE cannot satisfy one model's quirks
    adversary: ClassifierConfig = ClassifierConfig(epochs=3)
    train_subsample: int = 3  # every k-th train window (stride-10 windows overlap heavily)
    batch: int = 128
    learning_rate: float = 1e-3
    seed: int = 0


GENDER = dict(data=DataConfig(activities=ACTIVITIES), required=("dws", "ups", "wlk"), sensitive=("jog",),
              neutral=("std",), secret="gender")
IDENTITY = dict(data=DataConfig(activities=MOVING), required=MOVING, sensitive=(), neutral=(), secret="subject")
RECIPES = {
    # the product: the activity + the wearer's steps, the rest population data. Gender keeps each window's
    # step count (its mean period tells gender of people never seen: docs/transforms.md), identity the cadence
    "motionsense-gender": StepSynthConfig(name="motionsense-gender", timing="count", **GENDER),
    # (its on-device classifier's first convolution takes every other sample: the cadence lay costs more ops)
    "motionsense-identity": StepSynthConfig(name="motionsense-identity", timing="cadence", **IDENTITY,
                                            activity=replace(StepSynthConfig.activity, first_stride=2)),
    # the cadence for gender too, and each step's own timing, measured beside them (reports/deployed-*-*)
    "motionsense-gender-cadence": StepSynthConfig(name="motionsense-gender-cadence", timing="cadence", **GENDER),
    "motionsense-gender-steps": StepSynthConfig(name="motionsense-gender-steps", **GENDER),
    "motionsense-identity-steps": StepSynthConfig(name="motionsense-identity-steps", **IDENTITY),
    # the label-only level: one real window per recognised activity
    "motionsense-gender-label": TemplateConfig(name="motionsense-gender-label", **GENDER),
    "motionsense-identity-label": TemplateConfig(name="motionsense-identity-label", **IDENTITY),
    # the published method, for reference
    "motionsense-gender-autoencoder": AutoencoderConfig(name="motionsense-gender-autoencoder", **GENDER,
                                                        replacement=True),
    "motionsense-identity-autoencoder": AutoencoderConfig(
        name="motionsense-identity-autoencoder", **IDENTITY, replacement=False,
        adversary=ClassifierConfig(filters=(64, 64, 128), dense=128, epochs=4)),
}
Recipe = AutoencoderConfig | TemplateConfig | StepSynthConfig


def replacement_targets(ds: Dataset, cfg: Recipe, x: np.ndarray, activity: np.ndarray, rng) -> np.ndarray:
    """Published pairing: a sensitive window's target is a random neutral window; others map to themselves."""
    names = np.array(ds.activities)[activity]
    target = x.copy()
    sensitive = np.isin(names, cfg.sensitive)
    neutral_pool = x[np.isin(names, cfg.neutral)]
    target[sensitive] = neutral_pool[rng.integers(0, len(neutral_pool), sensitive.sum())]
    return target


def train_recipe(cfg: Recipe, data_dir=None, out_dir: str | Path = "runs", log=print) -> Path:
    if isinstance(cfg, StepSynthConfig):
        return train_stepsynth(cfg, data_dir, out_dir, log)
    if isinstance(cfg, TemplateConfig):
        return train_templates(cfg, data_dir, out_dir, log)
    return train_autoencoders(cfg, data_dir, out_dir, log)


def train_autoencoders(cfg: AutoencoderConfig, data_dir=None, out_dir: str | Path = "runs", log=print) -> Path:
    import keras

    t0 = time.time()
    keras.utils.set_random_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    ds = load_dataset(data_dir, cfg.data)
    tr = ds.train.select(np.arange(len(ds.train)) % cfg.train_subsample == 0)
    z = ds.standardize(tr.x)
    w, c = z.shape[1:]
    n_act = len(ds.activities)
    n_secret = N_SUBJECTS if cfg.secret == "subject" else 2
    secret = getattr(tr, cfg.secret)
    util = utility_labels(ds, cfg, tr.activity)
    log(f"[{cfg.name}] {len(z)} train windows, {n_act} activities, secret {cfg.secret} ({n_secret} classes)")

    # 0. the recipe's own activity classifiers on raw windows (not the evaluation judges), then frozen:
    #    keeping them right keeps the output recognisable to classifiers trained on ordinary data
    unit = np.zeros(c, np.float32), np.ones(c, np.float32)  # classifiers here see standardised windows
    activity = [fit_classifier(z, tr.activity, n_act, *unit, replace(cfg.activity, seed=cfg.activity.seed + i),
                               name=f"activity_on_raw_{i}") for i in range(cfg.activity_ensemble)]
    for m in activity:
        m.trainable = False
    n_ens = len(activity)

    def with_activity(ae, extra_outputs=(), extra_losses=(), extra_weights=()):
        inp = keras.Input((w, c))
        rec = ae(inp)
        model = keras.Model(inp, [rec] + [m(rec) for m in activity] + [m(rec) for m in extra_outputs])
        model.compile(keras.optimizers.Adam(cfg.learning_rate),
                      loss=["mse"] + ["sparse_categorical_crossentropy"] * n_ens + list(extra_losses),
                      loss_weights=[cfg.beta_distortion] + [cfg.beta_activity / n_ens] * n_ens + list(extra_weights))
        return model

    # 1. replacement autoencoder: published pairs (sensitive -> random neutral window, others -> self)
    stages = []
    z_in = z
    if cfg.replacement:
        rae = temporal_autoencoder(w, c, cfg.rae_shape, "replacement_ae")
        target = replacement_targets(ds, cfg, z, tr.activity, rng)
        with_activity(rae).fit(z, [target] + [util] * n_ens, epochs=cfg.rae_epochs, batch_size=cfg.batch, shuffle=True,
                               verbose=0)
        log(f"  RAE trained ({macs(rae)} MACs/window), {time.time() - t0:.0f} s")
        stages.append(rae)
        z_in = predict_std(rae, z)

    # 2. anonymization autoencoder, alternating rounds against refitted adversaries
    aae = temporal_autoencoder(w, c, cfg.aae_shape, "anonymization_ae")
    with_activity(aae).fit(z_in, [z_in] + [util] * n_ens, epochs=cfg.aae_warmup_epochs, batch_size=cfg.batch,
                           shuffle=True, verbose=0)
    privacy = categorical_privacy if cfg.secret == "subject" else binary_privacy
    # the pool of secret adversaries grows every round; fooling one model is not enough
    pool = [fit_classifier(z_in, secret, n_secret, *unit, cfg.adversary, name="secret_on_input")]
    for r in range(cfg.rounds):
        out = predict_std(aae, z_in)
        act_adv = fit_classifier(out, util, n_act, *unit, cfg.adversary, name=f"activity_r{r}")
        pool.append(fit_classifier(out, secret, n_secret, *unit, cfg.adversary, name=f"secret_r{r}"))
        acc = lambda m, y: float((predict(m, out).argmax(1) == y).mean())  # noqa: E731
        log(f"  round {r}: adversaries refitted on current output: activity {acc(act_adv, util):.3f}, "
            f"{cfg.secret} {acc(pool[-1], secret):.3f} (train windows), {time.time() - t0:.0f} s")
        for m in (act_adv, *pool):
            m.trainable = False
        model = with_activity(aae, [act_adv, *pool], ["sparse_categorical_crossentropy"] + [privacy] * len(pool),
                              [cfg.beta_activity / 2] + [cfg.beta_secret / len(pool)] * len(pool))
        model.fit(z_in, [z_in] + [util] * (n_ens + 1) + [secret] * len(pool), epochs=cfg.aae_epochs_per_round,
                  batch_size=cfg.batch, shuffle=True, verbose=0)
    stages.append(aae)

    # 3. one composed transform model: standardised in -> standardised out
    inp = keras.Input((w, c), name="window")
    x = inp
    for s in stages:
        x = s(x)
    transform = keras.Model(inp, x, name=cfg.name.replace("-", "_"))
    seconds = time.time() - t0
    log(f"[{cfg.name}] trained in {seconds:.0f} s ({macs_of(stages)} MACs/window)")
    return save_run(cfg, ds, transform, stages, seconds, out_dir)


def predict_std(model, z: np.ndarray, batch: int = 4096) -> np.ndarray:
    return np.concatenate([np.asarray(model(z[i:i + batch], training=False)) for i in range(0, len(z), batch)])


def macs_of(stages) -> int:
    return sum(macs(s) for s in stages)


def tiny(cfg: Recipe) -> Recipe:
    """The same recipe at smoke-test size (tests, CI)."""
    if isinstance(cfg, StepSynthConfig):
        return replace(cfg, activity=replace(cfg.activity, epochs=1), gender=replace(cfg.gender, epochs=1),
                       identity=replace(cfg.identity, epochs=1), raw_activity=replace(cfg.raw_activity, epochs=1),
                       context_stride=400, train_subsample=40)
    if isinstance(cfg, TemplateConfig):
        return replace(cfg, activity=replace(cfg.activity, epochs=1), gender=replace(cfg.gender, epochs=1),
                       train_subsample=40)
    return replace(cfg, rae_epochs=1, rounds=1, aae_epochs_per_round=1, aae_warmup_epochs=1,
                   activity=replace(cfg.activity, epochs=1), adversary=replace(cfg.adversary, epochs=1),
                   train_subsample=40)


def override(cfg: Recipe, assignments: list[str]) -> Recipe:
    """``["beta_secret=4", "rounds=8"]`` -> a copy of ``cfg`` with those numbers (int/float/str fields)."""
    from edge_runtime.errors import UserError

    changes = {}
    for item in assignments:
        key, sep, value = item.partition("=")
        current = getattr(cfg, key, None)
        if not sep or key.startswith("_") or not isinstance(current, (int, float, str)):
            raise UserError(f"--set {item!r}: not a KEY=VALUE of a number in the recipe config")
        try:
            changes[key] = type(current)(value)
        except ValueError:
            raise UserError(f"--set {item!r}: {key} takes a {type(current).__name__}") from None
    return replace(cfg, **changes)
