"""Keras architectures of the privacy transforms. Small on purpose: every multiply-accumulate is paid
on the device for every window.

Both autoencoders map standardised windows ``[window, channels]`` to standardised windows.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class AutoencoderShape:
    conv: tuple[int, ...] = (32, 16)  # encoder conv filters (mirrored in the decoder)
    kernel: int = 5
    dense: tuple[int, ...] = (64, 32)  # dense encoder widths; the last is the bottleneck


def conv_autoencoder(window: int, channels: int, shape: AutoencoderShape, name: str):
    """conv -> 1-channel squeeze -> dense bottleneck -> dense -> conv back up (the published layout)."""
    import keras
    from keras import layers

    inp = keras.Input((window, channels), name="window")
    x = inp
    for f in shape.conv:
        x = layers.Conv1D(f, shape.kernel, padding="same", activation="relu")(x)
    x = layers.Conv1D(1, shape.kernel, padding="same", activation="relu")(x)
    x = layers.Flatten()(x)
    for d in shape.dense:
        x = layers.Dense(d, activation="relu")(x)
    for d in reversed(shape.dense[:-1]):
        x = layers.Dense(d, activation="relu")(x)
    x = layers.Dense(window, activation="relu")(x)
    x = layers.Reshape((window, 1))(x)
    for f in reversed(shape.conv):
        x = layers.Conv1D(f, shape.kernel, padding="same", activation="relu")(x)
    out = layers.Conv1D(channels, shape.kernel, padding="same", name="reconstruction")(x)
    return keras.Model(inp, out, name=name)


def macs(model) -> int:
    """Multiply-accumulates per window of a Conv1D/Dense model (what the device pays)."""
    total = 0
    for layer in model.layers:
        kind = type(layer).__name__
        if kind == "Conv1D":
            steps = layer.output.shape[1]
            k, cin, cout = layer.kernel.shape
            total += steps * k * cin * cout
        elif kind == "Dense":
            cin, cout = layer.kernel.shape
            total += cin * cout
    return int(total)
