"""The small 1-D CNN behind the judges, attackers and on-device classifiers: a first stride of 2 halves
the length every later layer works on (the identity recipe's on-device classifier), and it still learns."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("tensorflow")

from models.classifiers import ClassifierConfig, build_classifier, fit_classifier, predict  # noqa: E402


def conv_lengths(model) -> list[int]:
    return [layer.output.shape[1] for layer in model.layers if layer.__class__.__name__ == "Conv1D"]


def test_first_stride_halves_every_convolutions_length():
    one = build_classifier(3, 384, 2, np.zeros(2), np.ones(2), ClassifierConfig(filters=(8, 8, 8)))
    two = build_classifier(3, 384, 2, np.zeros(2), np.ones(2), ClassifierConfig(filters=(8, 8, 8), first_stride=2))
    assert conv_lengths(one) == [384, 192, 96]
    assert conv_lengths(two) == [192, 96, 48]
    assert two.output_shape == one.output_shape == (None, 3)


def test_a_strided_classifier_learns_frequency_classes():
    rng = np.random.default_rng(0)
    t = np.arange(128)
    y = rng.integers(0, 2, 1280)
    x = np.sin(2 * np.pi * t[None, :] * np.where(y, 0.12, 0.03)[:, None] + rng.uniform(0, 6, (1280, 1)))
    x = np.stack([x, rng.normal(0, 0.1, x.shape)], -1).astype(np.float32)
    cfg = ClassifierConfig(filters=(8, 8), epochs=10, batch=64, first_stride=2)
    model = fit_classifier(x[:1024], y[:1024], 2, np.zeros(2), np.ones(2), cfg)
    assert (predict(model, x[1024:]).argmax(1) == y[1024:]).mean() >= 0.9
