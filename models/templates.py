"""The template transform: recognise the activity on the device and emit a real window of it.

Every window is replaced by the template of the activity a small on-device classifier recognises
(a sensitive activity by the template of the first neutral one). The output then carries the
recognised activity and nothing else of the wearer, so attackers retrained on it can learn no more
than the activity tells them; the price is fidelity: the wearer's own signal never leaves. It is the
far end of the privacy-utility range the anonymization autoencoders sit inside, and the replacement
autoencoder's idea (replace with a plausible real window) applied to every window.

A class's template is a real train window: among the windows the classifier recognises most
confidently, the one whose amplitude spectrum is closest to their mean (a typical window, whatever
its phase).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from models.architectures import macs
from models.classifiers import ClassifierConfig, fit_classifier, predict
from models.data import DataConfig, load_dataset


@dataclass(frozen=True)
class TemplateConfig:
    name: str
    data: DataConfig
    required: tuple[str, ...]
    sensitive: tuple[str, ...]  # emitted as the first neutral activity's template
    neutral: tuple[str, ...]
    secret: str  # "gender" | "subject": what the recipe is evaluated for hiding
    activity: ClassifierConfig = ClassifierConfig(epochs=12, seed=7)  # the on-device classifier, judge strength
    train_subsample: int = 2  # every k-th train window (stride-10 windows overlap heavily)
    templates_among: int = 200  # a class's template is picked among its most confident windows
    seed: int = 0


def pick_templates(z: np.ndarray, activity: np.ndarray, probs: np.ndarray, n_classes: int, among: int) -> np.ndarray:
    """One standardised train window per class ``[classes, window, channels]`` (see the module docstring)."""
    templates = np.zeros((n_classes,) + z.shape[1:], np.float32)
    for a in range(n_classes):
        own = np.flatnonzero(activity == a)
        if len(own) == 0:
            raise RuntimeError(f"no train window of class {a} to take a template from")
        top = own[np.argsort(probs[own, a])[-among:]]
        spectra = np.abs(np.fft.rfft(z[top], axis=1))
        templates[a] = z[top[np.argmin(((spectra - spectra.mean(0)) ** 2).sum(axis=(1, 2)))]]
    return templates


def train_templates(cfg: TemplateConfig, data_dir=None, out_dir: str | Path = "runs", log=print) -> Path:
    import keras

    from models.layers import ClassTemplates
    from models.recipes import save_run, utility_labels

    t0 = time.time()
    keras.utils.set_random_seed(cfg.seed)
    ds = load_dataset(data_dir, cfg.data)
    tr = ds.train.select(np.arange(len(ds.train)) % cfg.train_subsample == 0)
    z = ds.standardize(tr.x)
    w, c = z.shape[1:]
    n_act = len(ds.activities)
    log(f"[{cfg.name}] {len(z)} train windows, {n_act} activities; template transform")

    # 1. the on-device activity classifier, on raw (standardised) train windows
    unit = np.zeros(c, np.float32), np.ones(c, np.float32)
    classifier = fit_classifier(z, tr.activity, n_act, *unit, cfg.activity, name="activity_on_device")
    probs = predict(classifier, z)
    log(f"  classifier trained: {float((probs.argmax(1) == tr.activity).mean()):.3f} on its train windows, "
        f"{time.time() - t0:.0f} s")

    # 2. one real window per class; a sensitive class emits its neutral class's template
    templates = pick_templates(z, tr.activity, probs, n_act, cfg.templates_among)
    emitted = templates[utility_labels(ds, cfg, np.arange(n_act))]

    # 3. the transform: standardised window -> classifier -> template of the recognised class
    inp = keras.Input((w, c), name="window")
    bank = ClassTemplates(n_act, w, c, name="templates")
    transform = keras.Model(inp, bank(classifier(inp)), name=cfg.name.replace("-", "_"))
    bank.templates.assign(emitted)
    seconds = time.time() - t0
    log(f"[{cfg.name}] trained in {seconds:.0f} s ({macs(classifier)} MACs/window)")
    return save_run(cfg, ds, transform, [classifier], seconds, out_dir)
