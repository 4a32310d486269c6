"""Custom Keras layers of the privacy transforms, registered so saved runs load anywhere.

Load saved transforms with :func:`load_transform`, which has them registered (the converter and the
evaluation do).
"""

from __future__ import annotations

import keras
import numpy as np


@keras.saving.register_keras_serializable(package="privacy_transforms")
class ClassTemplates(keras.layers.Layer):
    """Class probabilities ``[n, classes]`` -> the template window of the most probable class.

    The templates ``[classes, window, channels]`` are fixed weights (saved with the model); only the
    argmax of the probabilities reaches the output, so nothing else of the input can.
    """

    def __init__(self, classes: int, window: int, channels: int, **kwargs):
        super().__init__(**kwargs)
        self.classes, self.window, self.channels = classes, window, channels
        self.templates = self.add_weight(shape=(classes, window, channels), initializer="zeros",
                                         trainable=False, name="templates")

    def call(self, probs):
        # TensorFlow's own ops: Keras' argmax/take add sign-of-zero and negative-index handling that
        # converts to ops outside the TFLite builtins; these two convert to ARG_MAX and GATHER
        import tensorflow as tf

        return tf.gather(self.templates, tf.argmax(probs, axis=-1, output_type=tf.int32))

    def get_config(self):
        return {**super().get_config(), "classes": self.classes, "window": self.window, "channels": self.channels}


def load_transform(path):
    """A saved transform model (``transform.keras``), its custom layers registered by this module."""
    return keras.models.load_model(path, compile=False)


@keras.saving.register_keras_serializable(package="privacy_transforms")
class StepResynthesis(keras.layers.Layer):
    """(standardised context ``[n, before + window + after, channels]``, class probabilities ``[n, K]``)
    -> a standardised window ``[n, window, channels]`` made of population stride data.

    What reaches the output is only (a) the most probable class and (b) the wearer's step events:
    band-pass the |acc| channel (a fixed FIR), take local maxima over +-``peak_radius`` samples
    above an absolute and a relative threshold, and for every output sample find the step before and
    after it. The output sample is then row ``base[class] + bucket(step duration) * cycle_len + phase``
    of a fixed table of real train step cycles, or, where there is no step (standing, or a class with
    no cycles), the same sample of a real still window. Everything after the threshold is integer
    arithmetic (cumsum, scatter, gather), so int8 quantization cannot move a step.

    ``timing="cadence"`` keeps less: the steps are laid on a regular grid at the context's mean step
    period, from its first detected step, so the output carries the wearer's cadence (and where steps
    are) but not each step's own duration, whose stride-to-stride variation tells people apart.
    """

    BIG = 1 << 20

    def __init__(self, before: int, window: int, after: int, channels: int, classes: int, rows: int,
                 cycle_len: int, buckets: int, bucket_min: int, bucket_width: int, peak_radius: int,
                 fir_taps: int, acc_channel: int, threshold: float, relative: float, min_period: int,
                 max_period: int, max_gap: int, timing: str = "steps", **kwargs):
        super().__init__(**kwargs)
        if timing not in ("steps", "cadence"):
            raise ValueError(f"timing must be 'steps' or 'cadence', not {timing!r}")
        self.timing = timing
        self.before, self.window, self.after, self.channels = before, window, after, channels
        self.classes, self.rows, self.cycle_len, self.buckets = classes, rows, cycle_len, buckets
        self.bucket_min, self.bucket_width, self.peak_radius = bucket_min, bucket_width, peak_radius
        self.fir_taps, self.acc_channel = fir_taps, acc_channel
        self.threshold, self.relative = threshold, relative
        self.min_period, self.max_period, self.max_gap = min_period, max_period, max_gap
        self.table = self.add_weight(shape=(rows, channels), initializer="zeros", trainable=False, name="table")
        self.fir = self.add_weight(shape=(fir_taps, 1, 1), initializer="zeros", trainable=False, name="fir")
        # per class: first table row of its cycles (-1: emits the still window), default step period
        self.base = self.add_weight(shape=(classes,), initializer="zeros", dtype="int32", trainable=False,
                                    name="base")
        self.default_period = self.add_weight(shape=(classes,), initializer="zeros", dtype="int32",
                                              trainable=False, name="default_period")

    @property
    def length(self) -> int:
        return self.before + self.window + self.after

    def detect(self, z):
        """Step events ``[n, length]`` bool of standardised contexts ``z``."""
        import tensorflow as tf

        r = self.peak_radius
        f = tf.nn.conv1d(z[:, :, self.acc_channel:self.acc_channel + 1], self.fir, stride=1, padding="SAME")
        local_max = tf.nn.max_pool1d(f, ksize=2 * r + 1, strides=1, padding="SAME")
        rising = f > tf.concat([f[:, :1], f[:, :-1]], axis=1)  # first sample of a plateau only
        top = tf.reduce_max(f, axis=1, keepdims=True)
        peak = (f >= local_max) & rising & (f > self.threshold) & (f > self.relative * top)
        inner = tf.constant(np.arange(self.length) >= r) & tf.constant(np.arange(self.length) < self.length - r)
        return peak[:, :, 0] & inner[None, :]

    def call(self, z, probs):
        import tensorflow as tf

        n_ctx, b0, w, cl = self.length, self.before, self.window, self.cycle_len
        big = self.BIG
        peak = self.detect(z)
        pos = tf.range(n_ctx, dtype=tf.int32)[None, :]
        c = tf.cumsum(tf.cast(peak, tf.int32), axis=1)  # steps up to and including each sample
        # positions[k] = sample of the k-th step (1-based); non-steps land in a trash slot
        n = tf.shape(c)[0]
        slot = tf.where(peak, c, n_ctx + 1)
        batch = tf.broadcast_to(tf.range(n)[:, None], tf.shape(slot))
        positions = tf.scatter_nd(tf.stack([batch, slot], -1), tf.where(peak, pos, 0), tf.stack([n, n_ctx + 2]))
        count = c[:, -1:]
        ct = c[:, b0:b0 + w]
        t = tf.constant(np.arange(b0, b0 + w, dtype=np.int32)[None, :])
        has_prev, has_next = ct >= 1, ct < count
        prev = tf.where(has_prev, tf.gather(positions, ct, batch_dims=1), -big)
        nxt = tf.where(has_next, tf.gather(positions, tf.minimum(ct + 1, n_ctx + 1), batch_dims=1), big)

        cls = tf.argmax(probs, axis=-1, output_type=tf.int32)
        first, last = positions[:, 1:2], tf.gather(positions, count, batch_dims=1)
        measured = tf.math.floordiv(last - first, tf.maximum(count - 1, 1))
        period = tf.where(count >= 2, tf.clip_by_value(measured, self.min_period, self.max_period),
                          tf.gather(self.default_period, cls)[:, None])
        gap = nxt - prev
        both = has_prev & has_next & (gap <= self.max_gap)
        # one step edge only (stream start/end, a pause): extrapolate whole periods from it
        from_prev = prev + tf.math.floordiv(t - prev, period) * period
        from_next = nxt - tf.math.floordiv(nxt - t + period - 1, period) * period
        if self.timing == "cadence":  # a regular grid at the mean period, from the context's first step
            start = first + tf.math.floordiv(t - first, period) * period
            duration = period + 0 * gap
        else:
            start = tf.where(both, prev, tf.where(has_prev, from_prev, from_next))
            duration = tf.where(both, gap, period + 0 * gap)
        near = (has_prev & (t - prev <= self.max_gap)) | (has_next & (nxt - t <= self.max_gap))
        stepping = both | (~(has_prev & has_next) & near)

        phase = tf.clip_by_value(tf.math.floordiv((t - start) * cl, tf.maximum(duration, 1)), 0, cl - 1)
        # clip the duration, not the bucket: a 0..6 clip of int32 would fuse to RELU6, which has no int32 kernel
        top = self.bucket_min + self.buckets * self.bucket_width - 1
        bucket = tf.math.floordiv(tf.clip_by_value(duration, self.bucket_min, top) - self.bucket_min, self.bucket_width)
        base = tf.gather(self.base, cls)[:, None]
        still = self.rows - w + (t - b0)
        row = tf.where(stepping & (base >= 0), base + bucket * cl + phase, still)
        return tf.gather(self.table, row)

    def get_config(self):
        keys = ("before", "window", "after", "channels", "classes", "rows", "cycle_len", "buckets", "bucket_min",
                "bucket_width", "peak_radius", "fir_taps", "acc_channel", "threshold", "relative", "min_period",
                "max_period", "max_gap", "timing")
        return {**super().get_config(), **{k: getattr(self, k) for k in keys}}
