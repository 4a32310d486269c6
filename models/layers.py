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


DETECTOR_SCOPE = "step_detector"  # the detector's ops: the converter keeps them in float32 (converters.tflite)


def steps_per_cell(timing: str) -> int:
    return 1 if timing == "steps" else 2


def rolling_max(x, width: int):
    """``VALID`` sliding max of ``width`` samples of ``x`` ``[n, length, channels]``: the larger of two
    overlapping halves' maxima, halved again while wide. Exact; for one channel, where XNNPACK pools
    sample by sample, a pool of at most 4 and ~``log2 width`` vector maxima replace ``width`` compares
    per sample."""
    import tensorflow as tf

    if width <= 4:
        return tf.nn.max_pool1d(x, ksize=width, strides=1, padding="VALID")
    half, n_out = (width + 1) // 2, x.shape[1] - width + 1
    m = rolling_max(x, half)  # m[i] = max x[i .. i + half - 1]
    return tf.maximum(m[:, :n_out], m[:, width - half:width - half + n_out])


def _rolling_rows(width: int, n_out: int) -> tuple[int, int, int]:
    """``(k, width / k, rows)``: ``k`` the largest factor of ``width`` up to its square root (1: prime),
    and the rows of ``k`` pooled means that ``n_out`` outputs read."""
    k = next((k for k in range(int(width ** 0.5), 1, -1) if width % k == 0), 1)
    return k, width // k, -(-n_out // k) + width // k - 1


def rolling_mean_input(width: int, n_out: int) -> int:
    """Samples :func:`rolling_mean` reads for ``n_out`` means without padding (``n_out + width - 1``
    rounded up to its rows of ``k``): a caller with them at hand passes them, and no PAD op runs."""
    k, _, rows = _rolling_rows(width, n_out)
    return n_out + width - 1 if k == 1 else rows * k + k - 1


def rolling_mean(x, width: int, n_out: int | None = None):
    """The first ``n_out`` (default: all) ``VALID`` sliding means of ``width`` samples of ``x``
    ``[n, length, 1]``, as two narrow pools where ``width`` factors (``k`` samples, then ``width / k`` of
    those ``k`` apart, read as ``k`` channels): XNNPACK vectorises a pool over channels, so one wide pool
    over one channel costs ``width`` scalar adds per sample, the two ``k + width / k`` vector ones (alone,
    at batch 64: 25 -> 10 us a window, docs/transforms.md). The rows of ``k`` are padded only where ``x``
    is shorter than :func:`rolling_mean_input` (a PAD costs ~2.4 us a window)."""
    import tensorflow as tf

    n_out = x.shape[1] - width + 1 if n_out is None else n_out
    k, j, rows = _rolling_rows(width, n_out)
    if k == 1:
        return tf.nn.avg_pool1d(x, ksize=width, strides=1, padding="VALID")[:, :n_out]
    a = tf.nn.avg_pool1d(x, ksize=k, strides=1, padding="VALID")  # a[i] = mean x[i .. i + k - 1]
    if a.shape[1] < rows * k:  # the padding is never read into an output
        a = tf.pad(a, [[0, 0], [0, rows * k - a.shape[1]], [0, 0]])
    elif a.shape[1] > rows * k:
        a = a[:, :rows * k]
    m = tf.nn.avg_pool1d(tf.reshape(a, [-1, rows, k]), ksize=j, strides=1, padding="VALID")
    return tf.reshape(m, [-1, m.shape[1] * k, 1])[:, :n_out]  # m[r, c] = mean a[(r + t) k + c], t < j


@keras.saving.register_keras_serializable(package="privacy_transforms")
class StepResynthesis(keras.layers.Layer):
    """(standardised context ``[n, before + window + after, channels]``, class probabilities ``[n, K]``)
    -> a standardised window ``[n, window, channels]`` made of population stride data.

    What reaches the output is only (a) the most probable class and (b) the wearer's step events:
    band-pass the |acc| channel (a fixed FIR), take local maxima over +-``peak_radius`` samples
    above an absolute and a relative threshold and, with ``prominence``, standing out of the troughs
    either side by a share of the local RMS (``_prominent``), and for every output sample find the step
    before and after it. The output sample is then row ``base[class] + bucket(step duration) * cycle_len + phase``
    of a fixed table of real train step cycles, or, where there is no step (standing, or a class with
    no cycles), the same sample of a real still window. The detector's ops (``DETECTOR_SCOPE``) stay
    float32 in an int8 graph and everything after them is integer arithmetic, so int8 quantization
    cannot move a step.

    Cost and batching shape the graph (docs/transforms.md): the FIR runs polyphase (``POLYPHASE``
    samples per row as channels, the same weights and sums as the single-channel convolution, which
    XNNPACK runs about 10x slower), with ``timing="steps"`` the step before/after each sample
    is a sliding max over ``max_gap + 1`` samples (a step farther away never makes a sample stepping), and every
    op works on each window alone, so the converted graph takes any batch.

    ``timing="cadence"`` keeps less: each window's steps are spaced evenly between the wearer's steps
    either side of it (``_cadence_rows``), so the output carries the wearer's cadence (each window's steps
    and mean step period; consecutive windows meet at a real step, so none is lost or doubled at their
    edges) but not each step's own duration, whose stride-to-stride variation tells people apart. Each
    table cell then holds a real *stride* (two consecutive steps, ``cycle_len`` rows each) and the lay
    alternates its two steps, as a person's left and right steps alternate: one step repeated is a
    signal no one makes, and raw-trained classifiers read it as another activity. That lay needs no
    per-sample step search: a few per-window integers (four positions found by one max, a count) and a
    handful of per-sample ops, which is what a small graph's invoke time is made of.

    ``timing="count"`` keeps less again: only each window's own step count ``k`` (``_count_rows``), its
    steps laid evenly across the window. A window's mean period tells gender of people it never saw
    (the frontier of activity + cadence is above that goal); its count, ``k`` in a handful of values,
    hardly does, and step counts and the steps' windows survive.
    """

    BIG = 1 << 20
    POLYPHASE = 8
    EDGE = 5  # cadence: steps are laid at least this many samples inside the window, so a counter whose
    # peaks sit a few samples off the laid step still counts it in its own window (5 of 3..9: most train
    # windows counted alike by a standard counter)

    def __init__(self, before: int, window: int, after: int, channels: int, classes: int, rows: int,
                 cycle_len: int, buckets: int, bucket_min: int, bucket_width: int, peak_radius: int,
                 fir_taps: int, acc_channel: int, threshold: float, relative: float, min_period: int,
                 max_period: int, max_gap: int, timing: str = "steps", prominence: float = 0.0,
                 prominence_floor: float = 0.0, prominence_base: int = 17, rms_window: int = 100, **kwargs):
        super().__init__(**kwargs)
        if timing not in ("steps", "cadence", "count"):
            raise ValueError(f"timing must be 'steps', 'cadence' or 'count', not {timing!r}")
        self.timing = timing
        self.before, self.window, self.after, self.channels = before, window, after, channels
        self.classes, self.rows, self.cycle_len, self.buckets = classes, rows, cycle_len, buckets
        self.bucket_min, self.bucket_width, self.peak_radius = bucket_min, bucket_width, peak_radius
        self.fir_taps, self.acc_channel = fir_taps, acc_channel
        self.threshold, self.relative = threshold, relative
        self.min_period, self.max_period, self.max_gap = min_period, max_period, max_gap
        # prominence > 0: a step also stands out of the troughs either side of it (within prominence_base
        # samples) by max(prominence_floor, prominence x the local RMS over rms_window samples), and is at
        # least half that high
        self.prominence, self.prominence_floor = prominence, prominence_floor
        self.prominence_base, self.rms_window = prominence_base, rms_window
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

    @property
    def steps_per_cell(self) -> int:
        """Steps in one table cell: a stride (2) on the cadence grid, a single step (1) otherwise."""
        return steps_per_cell(self.timing)

    def _fir(self, a):
        """'same' FIR of ``a`` ``[n, length, 1]``; polyphase when the length allows (identical sums)."""
        import tensorflow as tf

        p, n, taps = self.POLYPHASE, self.length, self.fir_taps
        if n % p or taps % 2 == 0:
            return tf.nn.conv1d(a, self.fir, stride=1, padding="SAME")
        # f[p m + q] = sum_k h[k] a[p m + q + k - c] = sum_{d, j} W[d, j, q] a[p (m + d) + j]
        c, half = (taps - 1) // 2, ((taps - 1) // 2 + p - 1) // p
        d, j, q = np.meshgrid(np.arange(-half, half + 1), np.arange(p), np.arange(p), indexing="ij")
        k = p * d + j - q + c
        valid = (k >= 0) & (k < taps)
        h = tf.reshape(self.fir, [-1])
        w = tf.gather(h, np.where(valid, k, 0).astype(np.int32)) * valid.astype(np.float32)
        f = tf.nn.conv1d(tf.reshape(a, [-1, n // p, p]), w, stride=1, padding="SAME")
        return tf.reshape(f, [-1, n, 1])

    def _peaks(self, z):
        """Step events ``[n, length, 1]`` bool of standardised contexts ``z``."""
        inner = (np.arange(self.length) >= self.peak_radius) & (np.arange(self.length) < self.length - self.peak_radius)
        return self._local_maxima(z) & inner[None, :, None]

    def _local_maxima(self, z, lo: int = 0, hi: int | None = None):
        """Step events of context samples ``[lo, hi)`` ``[n, hi - lo, 1]``, before dropping those within
        ``peak_radius`` of the context's ends (where a local maximum cannot be told; the graph folds that
        into its constants). The relative threshold is always taken over the whole context."""
        import tensorflow as tf

        r, n_ctx = self.peak_radius, self.length
        hi = n_ctx if hi is None else hi
        with tf.name_scope(DETECTOR_SCOPE):
            full = self._fir(z[:, :, self.acc_channel:self.acc_channel + 1])
            if lo >= r + 1 and hi <= n_ctx - r:  # the samples around [lo, hi) are real: no padding needed
                around = full[:, lo - r - 1:hi + r]
                local_max = rolling_max(around[:, 1:], 2 * r + 1)
                f, previous = around[:, r + 1:-r], around[:, r:-r - 1]
            else:
                local_max = tf.nn.max_pool1d(full, ksize=2 * r + 1, strides=1, padding="SAME")[:, lo:hi]
                f, previous = full[:, lo:hi], tf.concat([full[:, :1], full[:, :-1]], axis=1)[:, lo:hi]
            peak = (f >= local_max) & (f > previous)  # the first sample of a plateau only
            if self.threshold or self.relative or self.prominence <= 0:  # with prominence, 2 f >= p > 0 implies it
                peak &= f > tf.maximum(self.relative * tf.reduce_max(full, axis=1, keepdims=True), self.threshold)
            return peak & self._prominent(full, lo, hi) if self.prominence > 0 else peak

    def _prominent(self, f, lo: int, hi: int):
        """Samples ``[lo, hi)`` of band-passed ``f`` ``[n, length, 1]`` that rise out of the lower of the
        minima over ``prominence_base`` samples before and after them (ending / starting there) by at least
        ``p = max(prominence_floor, prominence x local RMS)``, and are at least ``p / 2`` high: a ripple
        between steps, or on a soft step's slope, is no step; the RMS follows changes of amplitude."""
        import tensorflow as tf

        b, m, n_ctx = self.prominence_base, self.rms_window, self.length
        before, after = (m - 1) // 2, m // 2  # 'SAME' pooling's window around a sample
        if lo >= max(b - 1, before) and hi + max(b - 1, after) <= n_ctx:  # real samples all around: slice, no padding
            low = -rolling_max(-f[:, lo - b + 1:hi + b - 1], b)
            trough = tf.maximum(low[:, :hi - lo], low[:, b - 1:])
            square = f[:, lo - before:min(n_ctx, lo - before + rolling_mean_input(m, hi - lo))]
            rms = tf.sqrt(rolling_mean(square * square, m, hi - lo))
        else:  # edge samples repeated for the troughs; the RMS averages only the samples that exist
            padded = tf.concat([tf.tile(f[:, :1], [1, b - 1, 1]), f, tf.tile(f[:, -1:], [1, b - 1, 1])], axis=1)
            low = -tf.nn.max_pool1d(-padded, ksize=b, strides=1, padding="VALID")  # low[j] = min f[j - b + 1 .. j]
            trough = tf.maximum(low[:, lo:hi], low[:, lo + b - 1:hi + b - 1])  # the higher of the two minima
            rms = tf.sqrt(tf.nn.avg_pool1d(f * f, ksize=m, strides=1, padding="SAME"))[:, lo:hi]
        p = tf.maximum(self.prominence * rms, self.prominence_floor)
        f = f[:, lo:hi]
        return (f - trough >= p) & (2.0 * f >= p)

    def detect(self, z):
        """Step events ``[n, length]`` bool of standardised contexts ``z``."""
        return self._peaks(z)[:, :, 0]

    def _nearest_steps(self, peak):
        """For each window sample t: the last step in ``[t - max_gap, t]`` and the first in
        ``[t + 1, t + max_gap + 1]`` (``[n, window]`` int32 each); a step farther away, or none, is
        read as one more than ``max_gap`` samples off, which never makes t stepping.

        A sliding max over ``width`` >= max_gap + 1 samples in int8: channel 0 holds ``s - c0`` where
        a step is at sample ``s``, channel 1 ``c1 - s``, -128 elsewhere, so a window's max is its last
        / first step. Every value read is an integer in [-127, 127] and the tensor always holds -128
        and 127 (pinned at samples never read), so int8 calibration gives it scale 1, zero point 0:
        exact. The max runs as two cheap pools (8 samples, then ``width / 8`` rows of 8 phases) instead
        of one wide pool over two channels, which XNNPACK runs slowly.
        """
        import tensorflow as tf

        n_ctx, b0, w, p = self.length, self.before, self.window, self.POLYPHASE
        rows = -(-(self.max_gap + 1) // p)
        width = rows * p
        if n_ctx % p or w + width > 256 or b0 < width or self.after < width + 1:
            raise ValueError(f"step search needs a context of a multiple of {p} samples, window + {width} <= 256, "
                             f"and {width} samples before, {width + 1} after the window")
        c0, c1 = b0 - width + 1 + 127, b0 + 1 + 127
        s = np.arange(n_ctx)
        at_step = np.clip(np.stack([s - c0, c1 - s], -1), -128, 127).astype(np.float32)
        elsewhere = np.full((n_ctx, 2), -128.0, np.float32)
        at_step[0, 0] = elsewhere[0, 0] = at_step[-1, 1] = elsewhere[-1, 1] = 127.0  # never read
        v = tf.where(peak, tf.constant(at_step[None]), tf.constant(elsewhere[None]))  # [n, L, 2]
        m = tf.nn.max_pool1d(v, ksize=p, strides=1, padding="SAME")  # m[i] = max v[i - p/2 + 1 .. i + p/2]
        m = tf.nn.max_pool1d(tf.reshape(m, [-1, n_ctx // p, 2 * p]), ksize=rows, strides=1, padding="VALID")
        m = tf.reshape(m, [-1, 2 * p * (n_ctx // p - rows + 1)])  # [i, c] at 2 i + c: max v[i - lead .. i - lead + width - 1]
        lead = (p - 1) // 2  # samples before i in a window
        t = np.arange(b0, b0 + w)
        before = tf.gather(m, (2 * (t - width + 1 + lead)).astype(np.int32), axis=1)  # window ending at t
        after = tf.gather(m, (2 * (t + 1 + lead) + 1).astype(np.int32), axis=1)  # window starting at t + 1
        return tf.cast(before, tf.int32) + c0, c1 - tf.cast(after, tf.int32)

    def call(self, z, probs):
        import tensorflow as tf

        # per class: table base (-1: the class never steps) and default step period
        per_class = tf.gather(tf.stack([self.base, tf.maximum(self.default_period, 1)], -1),
                              tf.argmax(probs, axis=-1, output_type=tf.int32))  # [n, 2]
        if self.timing == "count":
            row, stepping = self._count_rows(z, per_class)
        elif self.timing == "cadence":
            row, stepping = self._cadence_rows(z, per_class)
        else:
            row, stepping = self._step_rows(self._peaks(z), per_class)
        still = self.rows - self.window + np.arange(self.window, dtype=np.int32)  # rank 1: a broadcasting select
        return tf.gather(self.table, tf.where(stepping, row, still))

    def _cell_offset(self, duration):
        """Table row offset of the cadence bucket of step ``duration`` (samples, int32, any shape)."""
        import tensorflow as tf

        top = self.bucket_min + self.buckets * self.bucket_width - 1
        offset = np.clip((np.arange(top + 1) - self.bucket_min) // self.bucket_width, 0, None).astype(np.int32)
        return tf.gather(tf.constant(offset * self.cycle_len * self.steps_per_cell), tf.minimum(duration, top))

    def _count_rows(self, z, per_class):
        """Each window's own ``k`` steps (``z``: the standardised contexts; ``per_class``: each window's
        table base and default period), laid evenly across it: step ``j`` on the first sample at or
        after ``(2 j + 1) window / (2 k)``, so consecutive windows with the same count meet one period
        apart. Nothing but ``k`` and the class reach the output; the window steps throughout (no step
        in it, or a class that never steps: still). Each table cell is a stride: the lay alternates its
        two steps, from half a step before the first."""
        import tensorflow as tf

        b0, w, cl = self.before, self.window, self.cycle_len
        peak = self._local_maxima(z, b0, b0 + w)  # the window's own samples: real neighbours either side
        k = tf.reduce_sum(tf.cast(peak[:, :, 0], tf.int32), axis=1, keepdims=True)  # [n, 1]
        t = np.arange(w, dtype=np.int32)[None, :]
        u = 2 * k * t - w  # step j at u = 2 j w; a stride (2 cl rows) per 4 w
        phase = tf.math.floordiv(tf.math.floormod(u, 4 * w) * cl, 2 * w)
        row = per_class[:, 0:1] + self._cell_offset(tf.math.floordiv(w, tf.maximum(k, 1))) + phase
        return row, (k + 0 * t >= 1) & (per_class[:, 0:1] >= 0)  # k + 0 t: [n, window], as the select wants

    def _cadence_rows(self, z, per_class):
        """Each window's steps spaced evenly between the wearer's steps either side of it (``z``: the
        standardised contexts; ``per_class``: each window's table base and default period).

        Only the window's own step count ``k`` and its neighbours survive: the steps are laid at
        ``A + i (B - A) / (k + 1)``, ``i = 1..k``, where ``A`` is the wearer's last step before the
        window (or, with none within ``max_gap``, one mean period before its first step) and ``B`` the
        first step at or after its end (or one period after its last). So every window keeps its step
        count and mean period, consecutive windows meet at a real step, and no step keeps its own
        duration. A first (last) step that even spacing would put within ``EDGE`` samples of the window's
        edge, or outside it, is laid ``EDGE`` samples inside, so the count stays. Without a step on one
        side the window is stepping from half a period before its first step (to half a period after its
        last); without a step in the window it is still. Each table cell is a stride: the lay alternates
        its two steps. Everything is per-window scalars plus a handful of per-sample integer ops: the
        graph's cost is its op count, not its arithmetic.
        """
        import tensorflow as tf

        n_ctx, b0, w, cl, big, g = self.length, self.before, self.window, self.cycle_len, self.BIG, self.max_gap
        # only steps within max_gap + 1 of the window matter (a farther one counts as none)
        s = np.arange(max(b0 - g - 1, 0), min(b0 + w + g + 1, n_ctx))
        peak = self._local_maxima(z, s[0], s[-1] + 1)
        inside = (s >= b0) & (s < b0 + w)
        edge = (s < self.peak_radius) | (s >= n_ctx - self.peak_radius)  # not a step: what ``_peaks`` drops
        # one select + one max: last step before the window, minus the first at or after its end, minus the
        # first in it, the last in it (-BIG where none)
        marks = np.stack([np.where(s < b0, s, -big), np.where(s >= b0 + w, -s, -big), np.where(inside, -s, -big),
                          np.where(inside, s, -big)], -1)
        marks = np.where(edge[:, None], -big, marks).astype(np.int32)
        e = tf.reduce_max(tf.where(peak, tf.constant(marks[None]), -big), axis=1)  # [n, 4]
        lo, hi, first, last = e[:, 0:1], -e[:, 1:2], -e[:, 2:3], e[:, 3:4]
        k = tf.reduce_sum(tf.cast(peak[:, b0 - s[0]:b0 - s[0] + w, 0], tf.int32), axis=1, keepdims=True)
        base, period_default = per_class[:, 0:1], per_class[:, 1:2]
        measured = tf.clip_by_value(tf.math.floordiv(last - first, tf.maximum(k - 1, 1)), self.min_period,
                                    self.max_period)
        d = tf.where(k >= 2, measured, period_default)
        near_lo, near_hi = lo >= b0 - g, hi <= b0 + w + g
        a, b, q = tf.where(near_lo, lo, first - d), tf.where(near_hi, hi, last + d), k + 1
        start = tf.where((k >= 1) & (base >= 0), tf.where(near_lo, -big, first - d // 2), big)  # still: never
        stop = tf.where(near_hi, big, last + d // 2)
        e0, e1 = b0 + self.EDGE, b0 + w - 1 - self.EDGE  # the first / last sample a step is laid on
        first_out = q * (e0 - a) > b - a  # a + (b - a) / q < e0
        a, q = tf.where(first_out, e0, a), q - tf.cast(first_out, tf.int32)
        last_out = q * (b - e1) > b - a  # b - (b - a) / q > e1
        b, q = tf.where(last_out, e1, b), q - tf.cast(last_out, tf.int32)
        first_out = ~first_out & (q * (e0 - a) > b - a)  # moved in by the last one's move
        a, q = tf.where(first_out, e0, a), q - tf.cast(first_out, tf.int32)
        span, q = tf.maximum(b - a, 1), tf.maximum(q, 1)
        t = np.arange(b0, b0 + w, dtype=np.int32)[None, :]
        # stride phase: steps at u = (t - a) q = i span; two steps (2 cl rows) per 2 span
        phase = tf.math.floordiv(tf.math.floormod((t - a) * q, 2 * span) * cl, span)
        row = base + self._cell_offset(tf.math.floordiv(span, q)) + phase
        return row, (t >= start) & (t <= stop)

    def _step_rows(self, peak, per_class):
        """Each step's own duration picks its cell (``timing="steps"``)."""
        import tensorflow as tf

        n_ctx, b0, w, cl, big = self.length, self.before, self.window, self.cycle_len, self.BIG
        # last step / minus the first step of the whole context (-BIG where none)
        pos = np.arange(n_ctx, dtype=np.int32)
        ends = tf.reduce_max(tf.where(peak, tf.constant(np.stack([pos, -pos], -1)[None]), -big), axis=1)  # [n, 2]
        last, neg_first = ends[:, 0:1], ends[:, 1:2]
        count = tf.reduce_sum(tf.cast(peak, tf.int32), axis=1)  # [n, 1]
        prev, nxt = self._nearest_steps(peak)  # the steps before/after each window sample, if near
        base, period_default = per_class[:, 0:1], per_class[:, 1:2]
        limit = tf.where(base >= 0, self.max_gap, -1)  # -1: the class never steps
        measured = tf.math.floordiv(last + neg_first, tf.maximum(count - 1, 1))
        period = tf.where(count >= 2, tf.clip_by_value(measured, self.min_period, self.max_period), period_default)

        t = np.arange(b0, b0 + w, dtype=np.int32)[None, :]
        since, until = t - prev, t - nxt  # t - previous step (>= 0), t - next step (< 0)
        gap = since - until
        both = gap <= limit  # a step on each side, close enough: inside a step
        near = (since <= limit) | (until >= -limit)
        inside = (neg_first >= -t) & (last > t)  # some step before t and some after it
        stepping = tf.where(inside, both, near)  # with only one side, extrapolate from the near one
        duration = tf.where(both, gap, period)
        phase = tf.math.floordiv(tf.math.floormod(tf.where(neg_first >= -t, since, until), duration) * cl, duration)
        return base + self._cell_offset(duration) + phase, stepping

    def get_config(self):
        keys = ("before", "window", "after", "channels", "classes", "rows", "cycle_len", "buckets", "bucket_min",
                "bucket_width", "peak_radius", "fir_taps", "acc_channel", "threshold", "relative", "min_period",
                "max_period", "max_gap", "timing", "prominence", "prominence_floor", "prominence_base", "rms_window")
        return {**super().get_config(), **{k: getattr(self, k) for k in keys}}
