"""Statistical and spectral features of windows: what non-neural classifiers read.

Used by the gradient-boosted-tree attackers (``models/attackers.py``: a different model family from
the convolutional nets, so a transform that only fools convolutions is still seen through). numpy only.
"""

from __future__ import annotations

import numpy as np

N_BANDS = 8


def window_features(x: np.ndarray) -> np.ndarray:
    """``[n, window, channels]`` -> ``[n, features]`` float32."""
    x = np.asarray(x, dtype=np.float64)
    n, w, c = x.shape
    mean = x.mean(axis=1)
    centred = x - mean[:, None, :]
    std = centred.std(axis=1) + 1e-12
    z = centred / std[:, None, :]
    pct = np.percentile(x, [5, 25, 50, 75, 95], axis=1).transpose(1, 0, 2).reshape(n, -1)
    diff = np.diff(x, axis=1)
    crossings = (np.diff(np.signbit(centred), axis=1)).sum(axis=1) / w
    spec = np.abs(np.fft.rfft(centred, axis=1)) ** 2  # [n, w//2+1, c]
    edges = np.unique(np.geomspace(1, spec.shape[1], N_BANDS + 1).astype(int))
    bands = np.stack([spec[:, a:b].sum(axis=1) for a, b in zip(edges[:-1], edges[1:])], axis=1)
    total = spec[:, 1:].sum(axis=1) + 1e-12
    bands = np.log1p(bands).reshape(n, -1)
    freqs = np.arange(spec.shape[1])
    centroid = (spec * freqs[None, :, None]).sum(axis=1) / (spec.sum(axis=1) + 1e-12)
    dominant = spec[:, 1:].argmax(axis=1) + 1
    parts = [mean, std, x.min(axis=1), x.max(axis=1), pct,
             (z ** 3).mean(axis=1), (z ** 4).mean(axis=1),
             np.abs(diff).mean(axis=1), diff.std(axis=1), crossings,
             bands, np.log1p(total), centroid, dominant]
    if c > 1:
        corr = np.einsum("nwc,nwd->ncd", z, z) / w
        iu = np.triu_indices(c, 1)
        parts.append(corr[:, iu[0], iu[1]])
    return np.concatenate(parts, axis=1).astype(np.float32)
