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

A template still looks like somebody: a raw gender classifier gives each class's template one
verdict, and is then right on exactly the windows of that gender, so its accuracy is the base rate of
that gender (43 or 57% here) instead of chance. When the secret is gender, the required classes'
templates are therefore taken from windows the recipe's *own* gender classifier (trained on raw
windows, never the evaluation judges) reads confidently as one gender or the other, with the genders
assigned so that, over the train mix of required windows, such a classifier is right half the time.
"""

from __future__ import annotations

import itertools
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
    gender: ClassifierConfig = ClassifierConfig(epochs=6, seed=11)  # the recipe's own, for balancing
    gender_confident: float = 0.9  # a template read as one gender with at least this probability
    seed: int = 0


def typical(z: np.ndarray, idx: np.ndarray) -> int:
    """The window of ``idx`` whose amplitude spectrum is closest to their mean."""
    spectra = np.abs(np.fft.rfft(z[idx], axis=1))
    return int(idx[np.argmin(((spectra - spectra.mean(0)) ** 2).sum(axis=(1, 2)))])


def confident(activity: np.ndarray, probs: np.ndarray, a: int, among: int) -> np.ndarray:
    own = np.flatnonzero(activity == a)
    if len(own) == 0:
        raise RuntimeError(f"no train window of class {a} to take a template from")
    return own[np.argsort(probs[own, a])[-among:]]


def pick_templates(z: np.ndarray, activity: np.ndarray, probs: np.ndarray, n_classes: int, among: int) -> np.ndarray:
    """One standardised train window per class ``[classes, window, channels]`` (see the module docstring)."""
    return np.stack([z[typical(z, confident(activity, probs, a, among))] for a in range(n_classes)])


def balance_gender(z: np.ndarray, activity: np.ndarray, gender: np.ndarray, probs: np.ndarray,
                   gender_probs: np.ndarray, classes: list[int], among: int, sure: float, templates: np.ndarray):
    """Re-pick the templates of ``classes`` so a raw gender classifier is right on half the windows.

    Per class, a typical confident window read as gender 0 and one read as gender 1 (probability >=
    ``sure``, or the most clearly read ones); then the assignment of genders to classes whose accuracy
    over the train mix (class share x that gender's share in the class) is closest to 50%.
    """
    weights = np.array([(activity == a).sum() for a in classes], np.float64)
    weights /= weights.sum()
    share1 = np.array([gender[activity == a].mean() for a in classes])
    choices = []
    for a in classes:
        top = confident(activity, probs, a, among)
        p1 = gender_probs[top, 1]
        read0 = top[p1 <= 1 - sure] if (p1 <= 1 - sure).any() else top[np.argsort(p1)[:5]]
        read1 = top[p1 >= sure] if (p1 >= sure).any() else top[np.argsort(p1)[-5:]]
        choices.append((typical(z, read0), typical(z, read1)))

    def right(g) -> float:  # how often a classifier reading these genders in the templates is right
        return float(np.sum(weights * np.where(np.array(g) == 1, share1, 1 - share1)))

    best = min(itertools.product((0, 1), repeat=len(classes)), key=lambda g: abs(right(g) - 0.5))
    out = templates.copy()
    for a, g, pair in zip(classes, best, choices):
        out[a] = z[pair[g]]
    return out, dict(zip(classes, best)), right(best)


def train_templates(cfg: TemplateConfig, data_dir=None, out_dir: str | Path = "runs", log=print) -> Path:
    import keras

    from models.layers import ClassTemplates
    from models.runs import save_run, utility_labels

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

    # 2. one real window per class; gender-balanced required templates; a sensitive class emits its
    #    neutral class's template
    templates = pick_templates(z, tr.activity, probs, n_act, cfg.templates_among)
    if cfg.secret == "gender":
        required = [ds.activities.index(a) for a in cfg.required]
        req = np.isin(tr.activity, required)
        own_gender = fit_classifier(z[req], tr.gender[req], 2, *unit, cfg.gender, name="gender_on_raw")
        templates, genders, acc = balance_gender(z, tr.activity, tr.gender, probs, predict(own_gender, z), required,
                                                 cfg.templates_among, cfg.gender_confident, templates)
        log(f"  required templates read as gender {genders} by the recipe's own classifier: it is right on "
            f"{acc:.3f} of the required train windows, {time.time() - t0:.0f} s")
    emitted = templates[utility_labels(ds, cfg, np.arange(n_act))]

    # 3. the transform: standardised window -> classifier -> template of the recognised class
    inp = keras.Input((w, c), name="window")
    bank = ClassTemplates(n_act, w, c, name="templates")
    transform = keras.Model(inp, bank(classifier(inp)), name=cfg.name.replace("-", "_"))
    bank.templates.assign(emitted)
    seconds = time.time() - t0
    log(f"[{cfg.name}] trained in {seconds:.0f} s ({macs(classifier)} MACs/window)")
    return save_run(cfg, ds, transform, [classifier], seconds, out_dir)
