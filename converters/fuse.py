"""The fused deployed graph: physical window in -> transformed physical window out.

``x_phys -> (x - mean) / std -> transform -> y * std + mean`` as one ``tf.function`` with the named
signature ``transform``, so an app or the runtime feeds sensor magnitudes and gets sensor magnitudes
back with one invoke per window. A layout adapter lets Keras 2 models that take ``[n, channels,
window, 1]`` sit behind the same ``[1, window, channels]`` interface.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from edge_runtime.bundle import SIGNATURE_NAME

INPUT_NAME = "window"
OUTPUT_NAME = "transformed"
STANDARDISE_SCOPE = "standardise"  # the input's standardisation, kept in float32 where the graph detects steps

# How a model's own input is laid out, relative to the bundle's [n, window, channels].
LAYOUTS = ("nwc", "ncw1", "nwc1")


def detect_layout(input_shape: tuple, window: int, channels: int) -> str:
    """The layout of a model input shape (batch first, batch dim ignored), or ValueError."""
    dims = tuple(input_shape[1:])
    candidates = {"nwc": (window, channels), "ncw1": (channels, window, 1), "nwc1": (window, channels, 1)}
    for name, shape in candidates.items():
        if dims == shape:
            return name
    raise ValueError(
        f"model input shape {tuple(input_shape)} fits none of [n, {window}, {channels}], "
        f"[n, {channels}, {window}, 1], [n, {window}, {channels}, 1] (window {window}, {channels} channels)"
    )


def to_layout(tf, x, layout: str, window: int, channels: int):
    """``[n, window, channels]`` -> the model's layout."""
    if layout == "nwc":
        return x
    if layout == "nwc1":
        return tf.reshape(x, [-1, window, channels, 1])
    return tf.reshape(tf.transpose(x, [0, 2, 1]), [-1, channels, window, 1])


def from_layout(tf, y, layout: str, window: int, channels: int):
    """The model's output, in its layout -> ``[n, window, channels]``."""
    if layout == "nwc":
        return tf.reshape(y, [-1, window, channels])
    if layout == "nwc1":
        return tf.reshape(y, [-1, window, channels])
    return tf.transpose(tf.reshape(y, [-1, channels, window]), [0, 2, 1])


def build_module(
    model: Callable,
    mean: np.ndarray,
    std: np.ndarray,
    window: int,
    channels: int,
    layout: str = "nwc",
    input_length: int | None = None,
):
    """A ``tf.Module`` whose ``transform`` is the fused, frozen graph (exported as signature ``transform``).
    ``input_length``: the model takes context around the window (``before + window + after`` samples
    in, ``window`` out; layout ``nwc`` only)."""
    import tensorflow as tf
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    mean_c = tf.constant(np.asarray(mean, np.float32).reshape(1, 1, channels))
    std_c = tf.constant(np.asarray(std, np.float32).reshape(1, 1, channels))

    length = input_length or window
    if length != window and layout != "nwc":
        raise ValueError("a model with context must take the nwc layout")
    spec = tf.TensorSpec([1, length, channels], tf.float32, name=INPUT_NAME)

    @tf.function(input_signature=[spec])
    def fused(window_in):
        with tf.name_scope(STANDARDISE_SCOPE):
            z = (window_in - mean_c) / std_c
        y = model(to_layout(tf, z, layout, length, channels), training=False)
        y = from_layout(tf, y, layout, window, channels)
        return y * std_c + mean_c

    # Weights become constants: the converter then sees a plain graph (no resource variables).
    frozen = convert_variables_to_constants_v2(fused.get_concrete_function())

    class FusedTransform(tf.Module):
        def __init__(self):
            super().__init__(name="fused_transform")
            self.frozen = frozen

        @tf.function(input_signature=[spec])
        def transform(self, window_in):
            return {OUTPUT_NAME: self.frozen(window_in)[0]}

    return FusedTransform()


def keras_pipeline(model: Callable, mean: np.ndarray, std: np.ndarray, window: int, channels: int,
                   layout: str = "nwc", batch: int = 256) -> Callable[[np.ndarray], np.ndarray]:
    """The reference float pipeline in numpy + Keras, batched: physical ``[n, window, channels]`` -> same."""
    import tensorflow as tf

    mean = np.asarray(mean, np.float32).reshape(1, 1, channels)
    std = np.asarray(std, np.float32).reshape(1, 1, channels)

    @tf.function(reduce_retracing=True)
    def run(z):
        y = model(to_layout(tf, z, layout, z.shape[1], channels), training=False)
        return from_layout(tf, y, layout, window, channels)

    def transform_fn(x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, np.float32)
        out = np.empty((len(x), window, channels), np.float32)
        for i in range(0, len(x), batch):
            z = (x[i:i + batch] - mean) / std
            out[i:i + batch] = np.asarray(run(tf.constant(z))) * std + mean
        return out

    return transform_fn


__all__ = ["build_module", "keras_pipeline", "detect_layout", "LAYOUTS", "SIGNATURE_NAME", "INPUT_NAME", "OUTPUT_NAME"]
