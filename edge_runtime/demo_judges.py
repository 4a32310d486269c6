"""Small numpy judges for the demo's summary: what a classifier infers from a window.

A softmax regression on the statistical and spectral features (``edge_runtime/window_stats.py``,
the tree attackers' features) of ``mag2`` windows (the published protocol's channels), trained on the MotionSense *train* trials by ``models/make_clips.py``
and shipped as a few kilobytes of weights. numpy only, so the demo's summary runs on the edge
install. They are honest but modest judges — the privacy numbers we publish come from
``edge-runtime evaluate`` (CNN judges and adaptive attackers) — yet enough to show, on the demo's own
stream, what the raw data gives away and what the forwarded data no longer does.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edge_runtime.window_stats import window_features


@dataclass(frozen=True)
class Judge:
    name: str
    classes: tuple[str, ...]
    mu: np.ndarray
    sigma: np.ndarray
    W: np.ndarray
    b: np.ndarray

    def predict(self, windows: np.ndarray) -> np.ndarray:
        """Class indices for ``[n, window, channels]`` windows."""
        f = (window_features(windows) - self.mu) / self.sigma
        return np.argmax(f @ self.W + self.b, axis=1)


def fit_judge(name: str, classes: tuple[str, ...], windows: np.ndarray, labels: np.ndarray,
              steps: int = 600, lr: float = 0.5, l2: float = 1e-3) -> Judge:
    """Full-batch gradient descent on the softmax cross-entropy (features standardised)."""
    f = window_features(windows).astype(np.float64)
    mu, sigma = f.mean(axis=0), f.std(axis=0) + 1e-9
    z = (f - mu) / sigma
    k = len(classes)
    y = np.eye(k)[labels]
    W = np.zeros((z.shape[1], k))
    b = np.zeros(k)
    for _ in range(steps):
        logits = z @ W + b
        logits -= logits.max(axis=1, keepdims=True)
        p = np.exp(logits)
        p /= p.sum(axis=1, keepdims=True)
        g = (p - y) / len(z)
        W -= lr * (z.T @ g + l2 * W)
        b -= lr * g.sum(axis=0)
    return Judge(name, tuple(classes), mu.astype(np.float32), sigma.astype(np.float32),
                 W.astype(np.float32), b.astype(np.float32))


def save_judges(path: str | Path, judges: list[Judge]) -> None:
    arrays = {}
    for j in judges:
        arrays[f"{j.name}.classes"] = np.array(j.classes)
        for field in ("mu", "sigma", "W", "b"):
            arrays[f"{j.name}.{field}"] = getattr(j, field)
    np.savez_compressed(path, **arrays)


def load_judges(path: str | Path) -> dict[str, Judge]:
    with np.load(path, allow_pickle=False) as z:
        names = sorted({k.split(".")[0] for k in z.files})
        return {n: Judge(n, tuple(str(c) for c in z[f"{n}.classes"]), z[f"{n}.mu"], z[f"{n}.sigma"],
                         z[f"{n}.W"], z[f"{n}.b"]) for n in names}
