"""Small, real artefacts for tests and smoke checks of the converters (no training).

``tiny_run_dir`` writes a run directory exactly as ``docs/run_dir.md`` describes: an untrained Keras 3
conv autoencoder (with a residual path, so its outputs stay signal-like) and ``run.json``.
``keras2_model`` saves a Keras 2 model in the published ``[n, channels, window, 1]`` layout with tf_keras.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

MAG2_MEAN = [1.2, 1.05]  # roughly MotionSense's gyro magnitude (rad/s) and acc magnitude (g)
MAG2_STD = [1.3, 0.4]


def conv_autoencoder(window: int = 128, channels: int = 2, dense: int = 128, seed: int = 0):
    """An untrained conv autoencoder, standardised window in -> out. ``dense=0``: convolutions only."""
    import keras

    keras.utils.set_random_seed(seed)
    inp = keras.Input((window, channels), name="z")
    h = keras.layers.Conv1D(8, 5, padding="same", activation="relu")(inp)
    if dense:
        h = keras.layers.MaxPooling1D(4)(h)
        h = keras.layers.Flatten()(h)
        h = keras.layers.Dense(dense, activation="relu")(h)
        h = keras.layers.Dense((window // 4) * 8, activation="relu")(h)
        h = keras.layers.Reshape((window // 4, 8))(h)
        h = keras.layers.UpSampling1D(4)(h)
    h = keras.layers.Conv1D(channels, 5, padding="same",
                            kernel_initializer=keras.initializers.RandomNormal(stddev=0.05, seed=seed))(h)
    out = keras.layers.Add()([inp, h])
    return keras.Model(inp, out, name="tiny_transform")


def tiny_run_dir(path: str | Path, dense: int = 128, recipe: str = "tiny-test", seed: int = 0) -> Path:
    """A run directory (``run.json`` + ``transform.keras``) with an untrained mag2 model, window 128."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    conv_autoencoder(128, 2, dense, seed).save(path / "transform.keras")
    info = {
        "recipe": recipe,
        "config": {"note": "untrained test model", "seed": seed},
        "feature_set": "mag2",
        "channels": ["gyro_magnitude", "acc_magnitude"],
        "units": ["rad/s", "g"],
        "sample_rate": 50.0,
        "window": 128,
        "stride": 10,
        "activities": {"all": ["dws", "ups", "wlk", "jog", "std"], "required": ["dws", "ups", "wlk"],
                       "sensitive": ["jog"], "neutral": ["std"]},
        "protected": ["gender"],
        "norm": {"mean": MAG2_MEAN, "std": MAG2_STD},
        "data_sha256": "0" * 64,
        "metrics": {"untrained": 1.0},
    }
    (path / "run.json").write_text(json.dumps(info, indent=2))
    return path


def keras2_model(path: str | Path, form: str = "json+h5", window: int = 128, channels: int = 2, seed: int = 0) -> str:
    """Save a small tf_keras (Keras 2) conv AE taking ``[n, channels, window, 1]``; returns the --keras2 argument.

    ``form``: ``"json+h5"`` (architecture JSON + weights HDF5) or ``"hdf5"`` (one full model file).
    """
    import tf_keras

    tf_keras.utils.set_random_seed(seed)
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    inp = tf_keras.Input((channels, window, 1))
    h = tf_keras.layers.Conv2D(8, (1, 5), padding="same", activation="relu")(inp)
    h = tf_keras.layers.Conv2D(8, (channels, 1), padding="same", activation="relu")(h)
    h = tf_keras.layers.Conv2D(1, (1, 5), padding="same")(h)
    out = tf_keras.layers.Add()([inp, h])
    model = tf_keras.Model(inp, out)
    if form == "hdf5":
        f = path / "model.hdf5"
        model.save(str(f), save_format="h5")
        return str(f)
    arch, weights = path / "model.json", path / "weights.h5"
    arch.write_text(model.to_json())
    model.save_weights(str(weights))
    return f"{arch}+{weights}"


def standardised_reference(model, x: np.ndarray, mean, std, layout: str = "nwc") -> np.ndarray:
    """What a fused bundle must compute, done by hand in numpy around ``model``."""
    mean = np.asarray(mean, np.float32)
    std = np.asarray(std, np.float32)
    z = (np.asarray(x, np.float32) - mean) / std
    if layout == "ncw1":
        y = np.asarray(model(np.transpose(z, (0, 2, 1))[..., None], training=False))[..., 0].transpose(0, 2, 1)
    else:
        y = np.asarray(model(z, training=False))
    return (y * std + mean).astype(np.float32)
