"""Keras classifiers over windows in physical units: the judges and the neural-net attackers.

Standardisation is a fixed layer inside each model, so every classifier takes sensor windows in the
feature set's units and no caller can forget to normalise.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class ClassifierConfig:
    filters: tuple[int, ...] = (32, 64, 64)
    kernel: int = 5
    dense: int = 64
    dropout: float = 0.3
    epochs: int = 12
    batch: int = 128
    learning_rate: float = 2e-3
    seed: int = 0
    first_stride: int = 1  # 2: the first convolution keeps every other sample, halving every later layer's cost


def build_classifier(n_classes: int, window: int, channels: int, mean, std,
                     cfg: ClassifierConfig = ClassifierConfig(), name: str = "classifier", steps_per_epoch: int = 1):
    """A small 1-D CNN; the learning rate decays to nearly zero over training, so the last epoch is stable."""
    import keras
    from keras import layers

    keras.utils.set_random_seed(cfg.seed)
    inp = keras.Input((window, channels), name="window")
    x = layers.Normalization(mean=np.asarray(mean), variance=np.asarray(std) ** 2, axis=-1)(inp)
    for i, f in enumerate(cfg.filters):
        x = layers.Conv1D(f, cfg.kernel, strides=cfg.first_stride if i == 0 else 1, padding="same", use_bias=False)(x)
        x = layers.BatchNormalization()(x)
        x = layers.ReLU()(x)
        x = layers.MaxPool1D(2)(x)
    x = layers.GlobalAveragePooling1D()(x)
    x = layers.Dense(cfg.dense, activation="relu")(x)
    x = layers.Dropout(cfg.dropout)(x)
    out = layers.Dense(n_classes, activation="softmax", name="probs")(x)
    model = keras.Model(inp, out, name=name)
    steps = cfg.epochs * steps_per_epoch
    lr = keras.optimizers.schedules.CosineDecay(cfg.learning_rate, decay_steps=max(steps, 1), alpha=0.02)
    model.compile(optimizer=keras.optimizers.Adam(lr),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def fit_classifier(x: np.ndarray, y: np.ndarray, n_classes: int, mean, std,
                   cfg: ClassifierConfig = ClassifierConfig(), name: str = "classifier", verbose: int = 0,
                   validation: tuple[np.ndarray, np.ndarray] | None = None):
    """Train a fresh classifier; class-balanced sample weights so small classes are not ignored."""

    steps = int(np.ceil(len(x) / cfg.batch))
    model = build_classifier(n_classes, x.shape[1], x.shape[2], mean, std, cfg, name, steps)
    counts = np.bincount(y, minlength=n_classes).astype(np.float64)
    weights = (len(y) / (n_classes * np.maximum(counts, 1)))[y]
    model.fit(x, y, sample_weight=weights, epochs=cfg.epochs, batch_size=cfg.batch, shuffle=True,
              verbose=verbose, validation_data=validation)
    return model


def predict(model, x: np.ndarray, batch: int = 1024) -> np.ndarray:
    """Class probabilities, computed in batches without Keras' per-call overhead."""
    out = [np.asarray(model(x[i:i + batch], training=False)) for i in range(0, len(x), batch)]
    return np.concatenate(out) if out else np.zeros((0, model.output_shape[-1]), np.float32)
