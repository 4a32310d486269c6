"""The step-timing transform's graph: its output is a function of (recognised class, step events)
only, steps land where the wearer's were, a sensitive class is emitted as its neutral one, and the
int8 TFLite conversion keeps every output row."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("tensorflow")

from analysis.steps import count_steps  # noqa: E402
from models.data import ACTIVITIES  # noqa: E402
from models.stepsynth import DetectorConfig, StepSynthConfig, detector_kwargs, fir_bandpass, tile_cycle  # noqa: E402
from models.data import DataConfig  # noqa: E402

B = A = 128
W = 128
CL, NB = 64, 7
RATE = 50.0


def make_layer(timing: str = "steps", d: DetectorConfig = DetectorConfig()):
    from models.layers import StepResynthesis

    cell = CL * (1 if timing == "steps" else 2)  # a stride per cell on the cadence and count grids
    rows = 3 * NB * cell + W
    layer = StepResynthesis(B, W, A, 2, 5, rows, CL, NB, 18, 3, acc_channel=1, timing=timing,
                            **detector_kwargs(d, acc_std=0.6))
    layer.build(None)
    layer.fir.assign(fir_bandpass(d, RATE).reshape(-1, 1, 1))
    rng = np.random.default_rng(0)
    phase = np.linspace(0, 2 * np.pi, CL, endpoint=False)
    table = np.zeros((rows, 2), np.float32)
    for k in range(3 * NB * cell // CL):  # a step-shaped cycle per step: one clear |acc| peak at phase 0
        table[k * CL:(k + 1) * CL, 1] = 1.5 * np.cos(phase) + 0.1 * rng.normal(size=CL)
        table[k * CL:(k + 1) * CL, 0] = 0.5 * np.sin(phase) + 0.1 * k
    table[-W:] = rng.normal(0, 0.05, (W, 2))  # the still window
    layer.table.assign(table)
    layer.base.assign(np.array([0, NB * cell, 2 * NB * cell, -1, -1], np.int32))  # jog (3) and std (4): still
    layer.default_period.assign(np.full(5, 28, np.int32))
    return layer


def walking_model(layer):
    """A Keras model of ``layer`` whose classifier always says walking (class 2)."""
    import keras

    inp = keras.Input((B + W + A, 2))
    probs = keras.layers.Lambda(lambda z: keras.ops.one_hot(keras.ops.full((keras.ops.shape(z)[0],), 2, "int32"), 5))(inp)
    return keras.Model(inp, layer(inp, probs))


def walk(n: int, step_period: float, amplitude: float, seed: int = 0) -> np.ndarray:
    """A standardised [n, 2] context with steps every ``step_period`` samples (peaks at known places)."""
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    acc = amplitude * np.cos(2 * np.pi * t / step_period) + 0.05 * rng.normal(size=n)
    gyro = amplitude * np.sin(np.pi * t / step_period) + 0.05 * rng.normal(size=n)
    return np.stack([gyro, acc], -1).astype(np.float32)


def onehot(c: int, n: int = 1) -> np.ndarray:
    return np.eye(5, dtype=np.float32)[np.full(n, c)]


def test_output_depends_on_step_timing_and_class_only():
    layer = make_layer()
    a = walk(B + W + A, 26.0, 1.0, seed=1)[None]
    b = walk(B + W + A, 26.0, 2.5, seed=2)[None]  # another person: stronger, other noise, same steps
    np.testing.assert_array_equal(np.asarray(layer.detect(a)), np.asarray(layer.detect(b)))
    np.testing.assert_array_equal(np.asarray(layer(a, onehot(2))), np.asarray(layer(b, onehot(2))))
    assert not np.array_equal(np.asarray(layer(a, onehot(2))), np.asarray(layer(a, onehot(0))))


def test_steps_of_the_output_are_the_wearers_steps():
    layer = make_layer()
    n = 8 * W
    series = walk(n + 2 * 128, 24.0, 1.0)
    out = []
    for s in range(128, 128 + n, W):  # non-overlapping windows, each with its context, as streamed
        out.append(np.asarray(layer(series[None, s - B:s + W + A], onehot(2)))[0])
    y = np.concatenate(out)
    raw_steps = count_steps(series[128:128 + n, 1] * 0.3 + 1.0, RATE)
    out_steps = count_steps(y[:, 1] * 0.3 + 1.0, RATE)
    assert abs(len(out_steps) - len(raw_steps)) <= 1
    d = np.abs(out_steps[:, None] - raw_steps[None, :]).min(axis=1)
    assert np.median(d) <= 2  # at the same samples, within a couple of samples


def uneven_walk(n: int, periods, amplitude: float = 1.0) -> np.ndarray:
    """Like ``walk`` but each step has its own duration (cycling through ``periods``)."""
    t, phase, k = 0, [], 0
    while t < n:
        p = periods[k % len(periods)]
        phase.append(np.arange(p) / p)
        t, k = t + p, k + 1
    ph = np.concatenate(phase)[:n]
    acc = amplitude * np.cos(2 * np.pi * ph)
    return np.stack([0.3 * np.sin(np.pi * ph), acc], -1).astype(np.float32)


def test_cadence_timing_keeps_the_mean_period_and_drops_each_steps_own_duration():
    """``timing="cadence"``: a wearer who alternates short and long steps (22, 30 samples) is sent as
    even steps at the mean period (one cadence cell); with ``"steps"`` each step's own duration picks
    its cell, so the alternation (a trait of the person) is sent. The step count survives either way."""
    n = 8 * W
    series = uneven_walk(n + 2 * 128, [22, 30])
    raw_steps = count_steps(series[128:128 + n, 1] * 0.3 + 1.0, RATE)
    cells = {}
    for timing in ("steps", "cadence"):
        layer = make_layer(timing)
        table = np.asarray(layer.table).copy()
        table[:-W, 0] = np.repeat(np.arange(3 * NB), CL * layer.steps_per_cell)  # channel 0 names the cell
        layer.table.assign(table)
        y = np.concatenate([np.asarray(layer(series[None, s - B:s + W + A], onehot(2)))[0]
                            for s in range(128, 128 + n, W)])
        assert abs(len(count_steps(y[:, 1] * 0.3 + 1.0, RATE)) - len(raw_steps)) <= 2, timing
        cells[timing] = set(np.unique(y[:, 0]).tolist())
    walking = 2 * NB  # class 2's cells start at 2 * NB
    assert len(cells["steps"]) >= 2, cells  # short and long steps (as the band-passed detector sees them)
    assert cells["cadence"] == {walking + 2}, cells  # the 26-sample mean: bucket 2


def test_cadence_keeps_each_windows_step_count_but_not_its_steps_own_durations():
    """``timing="cadence"`` spaces each window's steps evenly between the wearer's steps either side of
    it: a counter finds the wearer's steps per window (so steps per recording and per window survive,
    and consecutive windows meet at a real step, no step lost or doubled at their edges), while the
    durations within a window, which vary from step to step for the wearer, come out equal."""
    n = 8 * W
    series = uneven_walk(n + 2 * 128 + 10, [23, 29, 25, 28, 22, 27])[10:]  # no step on the stream's first sample
    layer = make_layer("cadence")
    y = np.concatenate([np.asarray(layer(series[None, s - B:s + W + A], onehot(2)))[0]
                        for s in range(128, 128 + n, W)])
    raw = count_steps(series[128:128 + n, 1] * 0.3 + 1.0, RATE)
    out = count_steps(y[:, 1] * 0.3 + 1.0, RATE)
    assert len(out) == len(raw)
    assert np.abs(out - raw).max() <= 4  # each near the wearer's step, never a step behind or ahead, so
    per_window = np.bincount(out // W, minlength=8) - np.bincount(raw // W, minlength=8)
    assert np.abs(per_window).max() <= 1 and (per_window != 0).sum() <= 2  # a step on an edge may change sides
    spread = [np.ptp(np.diff(s[(s // W) == k])) for s in (raw, out) for k in range(8)]
    assert min(spread[:8]) >= 4 and max(spread[8:]) <= 2, spread  # the wearer's 22-29 samples; sent: equal


def test_cadence_grid_alternates_the_two_steps_of_a_stride():
    """On the cadence grid each cell is a real stride: consecutive output steps play its first and
    second step in turn (left, right), never one step over and over."""
    layer = make_layer("cadence")
    assert layer.steps_per_cell == 2
    table = np.asarray(layer.table).copy()
    table[:-W, 0] = np.tile(np.repeat([0.0, 1.0], CL), 3 * NB)  # channel 0: which step of the stride
    layer.table.assign(table)
    series = walk(B + W + A, 26.0, 1.0)
    y = np.asarray(layer(series[None], onehot(2)))[0, :, 0]
    halves = y[np.r_[True, np.diff(y) != 0]]  # the step halves in playing order
    assert len(halves) >= 4 and set(halves.tolist()) == {0.0, 1.0}
    assert (np.diff(halves) != 0).all()  # they alternate


def test_sensitive_and_still_classes_emit_the_still_window():
    layer = make_layer()
    x = walk(B + W + A, 26.0, 1.0)[None]
    still = np.asarray(layer.table)[-W:]
    np.testing.assert_array_equal(np.asarray(layer(x, onehot(3)))[0], still)  # jog -> std
    flat = np.random.default_rng(0).normal(0, 0.01, (1, B + W + A, 2)).astype(np.float32)
    np.testing.assert_array_equal(np.asarray(layer(flat, onehot(2)))[0], still)  # walking class, no steps


def test_int8_conversion_keeps_the_steps(tmp_path):
    """The detector runs in float32 inside the int8 graph (its ops and the standardisation before it), so
    int8 TFLite puts the output's steps where Keras does, and the rest of each window is within the output
    quantization."""
    from ai_edge_litert.interpreter import Interpreter

    from converters.fuse import build_module
    from converters.parity import LiteRTTransform
    from converters.tflite import convert_module

    layer = make_layer()
    model = walking_model(layer)
    mean, std = np.array([1.0, 1.0], np.float32), np.array([0.5, 0.3], np.float32)
    xs = np.stack([walk(B + W + A, p, 1.0, seed=i) for i, p in enumerate(np.linspace(20, 34, 24))]) * std + mean
    module = build_module(model, mean, std, W, 2, "nwc", B + W + A)
    model_bytes = convert_module(module, "int8", xs.astype(np.float32))
    interp = Interpreter(model_content=model_bytes)
    conv_types = {interp._get_tensor_details(op["outputs"][0], 0)["dtype"] for op in interp._get_ops_details()
                  if op["op_name"] == "CONV_2D"}
    kinds = {interp._get_tensor_details(op["outputs"][0], 0)["dtype"] for op in interp._get_ops_details()}
    assert conv_types == {np.float32} and np.int8 in kinds  # the FIR float32; the lay and its table int8
    tfl = LiteRTTransform(model_bytes)
    keras_out = np.asarray(model((xs - mean) / std)) * std + mean
    lite_out = tfl(xs.astype(np.float32))
    step = np.abs(keras_out).max() / 127
    assert np.median(np.abs(lite_out - keras_out)) <= step
    for k, l in zip(keras_out, lite_out):
        sk, sl = count_steps(np.tile(k[:, 1], 3), RATE), count_steps(np.tile(l[:, 1], 3), RATE)
        assert len(sk) == len(sl) and np.abs(sk - sl).max() <= 1


def test_tiled_cycle_has_the_cycle_period():
    cyc = np.stack([np.zeros(CL), np.cos(np.linspace(0, 2 * np.pi, CL, endpoint=False))], -1)
    w = tile_cycle(cyc, 25, W)
    assert w.shape == (W, 2)
    np.testing.assert_allclose(w[0], w[25], atol=1e-6)


def reference_rows(layer, peaks: np.ndarray, cls: np.ndarray) -> np.ndarray:
    """The table rows the step arithmetic picks, written out per sample as first specified (every step
    of the context, its position table, extrapolation from one edge): what the graph's sliding-max
    form must reproduce exactly."""
    n_ctx, b0, w, cl = layer.length, layer.before, layer.window, layer.cycle_len
    base, default = np.asarray(layer.base), np.asarray(layer.default_period)
    rows = np.empty((len(peaks), w), np.int64)
    for k, (p, c) in enumerate(zip(peaks, cls)):
        steps = np.flatnonzero(p)
        if len(steps) >= 2:
            period = int(np.clip((steps[-1] - steps[0]) // (len(steps) - 1), layer.min_period, layer.max_period))
        else:
            period = int(default[c])
        for j, t in enumerate(range(b0, b0 + w)):
            before, after = steps[steps <= t], steps[steps > t]
            prev = before[-1] if len(before) else None
            nxt = after[0] if len(after) else None
            both = prev is not None and nxt is not None and nxt - prev <= layer.max_gap
            if both:
                start, duration = prev, nxt - prev
            elif prev is not None:
                start, duration = prev + (t - prev) // period * period, period
            elif nxt is not None:
                start, duration = nxt - -(-(nxt - t) // period) * period, period
            near = (prev is not None and t - prev <= layer.max_gap) or (nxt is not None and nxt - t <= layer.max_gap)
            stepping = both or (not (prev is not None and nxt is not None) and near)
            if stepping and base[c] >= 0:
                phase = min(max((t - start) * cl // max(duration, 1), 0), cl - 1)
                top = layer.bucket_min + layer.buckets * layer.bucket_width - 1
                bucket = (min(max(duration, layer.bucket_min), top) - layer.bucket_min) // layer.bucket_width
                rows[k, j] = base[c] + bucket * cl + phase
            else:
                rows[k, j] = layer.rows - w + j
    return rows


def test_step_arithmetic_matches_the_per_sample_definition_in_a_batch():
    """Many windows in one call (the graph is row-wise): regular walks, sparse and irregular steps,
    steps only on one side of the window, pauses longer than max_gap, no steps, each class."""
    layer = make_layer()
    rng = np.random.default_rng(3)
    n = B + W + A
    xs = [walk(n, p, a, seed=i) for i, (p, a) in enumerate(zip(rng.uniform(14, 60, 24), rng.uniform(0.3, 3, 24)))]
    for k in range(24):  # irregular: bursts of steps with pauses, steps on one side only
        x = rng.normal(0, 0.05, (n, 2)).astype(np.float32)
        on = rng.integers(0, n, size=2)
        lo, hi = on.min(), on.max()
        tt = np.arange(lo, hi)
        x[lo:hi, 1] += np.cos(2 * np.pi * tt / rng.uniform(16, 45))
        xs.append(x)
    xs.append(np.zeros((n, 2), np.float32))  # no step at all
    x = np.stack(xs)
    cls = np.arange(len(x)) % 5
    probs = np.eye(5, dtype=np.float32)[cls]
    table = np.asarray(layer.table)
    got = np.asarray(layer(x, probs))
    want = table[reference_rows(layer, np.asarray(layer.detect(x)), cls)]
    np.testing.assert_array_equal(got, want)
    kinds = {(len(np.flatnonzero(p)) > 0) for p in np.asarray(layer.detect(x))}
    assert kinds == {True, False}  # windows with and without steps were exercised


def mixed_contexts(seed: int = 5, bursts: int = 30) -> tuple[np.ndarray, np.ndarray]:
    """Contexts ``[n, B + W + A, 2]`` and a class each: 30 regular walks of every cadence, ``bursts`` with
    steps only in part of the context (some only before or after the window), a lone step in the window,
    none; the classes cycle through all five."""
    rng = np.random.default_rng(seed)
    n = B + W + A
    xs = [walk(n, p, a, seed=i) for i, (p, a) in enumerate(zip(rng.uniform(12, 60, 30), rng.uniform(0.3, 3, 30)))]
    for _ in range(bursts):
        x = rng.normal(0, 0.05, (n, 2)).astype(np.float32)
        lo, hi = np.sort(rng.integers(0, n, size=2))
        x[lo:hi, 1] += np.cos(2 * np.pi * np.arange(lo, hi) / rng.uniform(14, 45))
        xs.append(x)
    lone = np.zeros((n, 2), np.float32)
    lone[B + 60 - 6:B + 60 + 7, 1] = np.hanning(13)  # one step in the window
    xs += [lone, np.zeros((n, 2), np.float32)]
    return np.stack(xs), np.arange(len(xs)) % 5


def cadence_reference_rows(layer, peaks: np.ndarray, cls: np.ndarray) -> np.ndarray:
    """The table rows of the cadence lay written out per window in plain Python (the docstring of
    ``StepResynthesis._cadence_rows``): what the graph's branch-free integer form must reproduce exactly."""
    b0, w, cl, g, edge = layer.before, layer.window, layer.cycle_len, layer.max_gap, layer.EDGE
    base, default = np.asarray(layer.base), np.maximum(np.asarray(layer.default_period), 1)
    top = layer.bucket_min + layer.buckets * layer.bucket_width - 1
    t = np.arange(b0, b0 + w)
    still = layer.rows - w + np.arange(w)
    rows = np.empty((len(peaks), w), np.int64)
    for k, (p, c) in enumerate(zip(peaks, cls)):
        steps = np.flatnonzero(p)
        own = steps[(steps >= b0) & (steps < b0 + w)]
        before, after = steps[steps < b0], steps[steps >= b0 + w]
        m = len(own)
        if m == 0 or base[c] < 0:
            rows[k] = still
            continue
        d = int(np.clip((own[-1] - own[0]) // (m - 1), layer.min_period, layer.max_period)) if m >= 2 else int(default[c])
        near_lo = len(before) > 0 and before[-1] >= b0 - g
        near_hi = len(after) > 0 and after[0] <= b0 + w + g
        a = before[-1] if near_lo else own[0] - d  # the sides: the wearer's steps, else a period beyond
        b = after[0] if near_hi else own[-1] + d
        start = -np.inf if near_lo else own[0] - d // 2
        stop = np.inf if near_hi else own[-1] + d // 2
        q, e0, e1 = m + 1, b0 + edge, b0 + w - 1 - edge
        moved_first = a + (b - a) / q < e0
        if moved_first:
            a, q = e0, q - 1
        if b - (b - a) / q > e1:
            b, q = e1, q - 1
        if not moved_first and a + (b - a) / q < e0:
            a, q = e0, q - 1
        span, q = max(b - a, 1), max(q, 1)
        phase = ((t - a) * q % (2 * span)) * cl // span
        bucket = max((min(span // q, top) - layer.bucket_min) // layer.bucket_width, 0)
        rows[k] = np.where((t >= start) & (t <= stop), base[c] + bucket * 2 * cl + phase, still)
    return rows


def count_reference_rows(layer, peaks: np.ndarray, cls: np.ndarray) -> np.ndarray:
    """The table rows of the count lay written out per window in plain Python with exact fractions (the
    docstring of ``StepResynthesis._count_rows``): the window's ``k`` steps at ``(2 j + 1) w / (2 k)``,
    each step ``w / k`` long, alternating the stride's two steps, from half a step before the first."""
    from fractions import Fraction

    b0, w, cl = layer.before, layer.window, layer.cycle_len
    base = np.asarray(layer.base)
    top = layer.bucket_min + layer.buckets * layer.bucket_width - 1
    still = layer.rows - w + np.arange(w)
    rows = np.empty((len(peaks), w), np.int64)
    for n, (p, c) in enumerate(zip(peaks, cls)):
        k = int(p[b0:b0 + w].sum())
        if k == 0 or base[c] < 0:
            rows[n] = still
            continue
        bucket = max((min(w // k, top) - layer.bucket_min) // layer.bucket_width, 0)
        step = Fraction(w, k)
        for t in range(w):
            j = (Fraction(t) - step / 2) // step  # the step t is in (-1: half a step before the first)
            into = (Fraction(t) - step / 2 - j * step) / step  # how far into it, in [0, 1)
            rows[n, t] = base[c] + bucket * 2 * cl + (j % 2) * cl + int(into * cl)
    return rows


@pytest.mark.parametrize("timing", ["cadence", "count"])
def test_lay_arithmetic_matches_the_per_window_definition_in_a_batch(timing):
    """Each lay on many windows in one call equals its plain-Python reference: regular walks of every
    cadence, steps on one side of the window only, bursts with pauses, a lone step, no steps, each class."""
    reference = {"cadence": cadence_reference_rows, "count": count_reference_rows}[timing]
    layer = make_layer(timing)
    x, cls = mixed_contexts()
    got = np.asarray(layer(x, np.eye(5, dtype=np.float32)[cls]))
    peaks = np.asarray(layer.detect(x))
    np.testing.assert_array_equal(got, np.asarray(layer.table)[reference(layer, peaks, cls)])
    own = peaks[:, B:B + W].sum(1)
    assert (own == 0).any() and (own == 1).any() and (own >= 4).any()  # no step, a lone step, walks
    near = [(np.flatnonzero(p[:B]) >= B - layer.max_gap).any() for p in peaks]
    assert any(near) and not all(near)  # with and without the wearer's step before the window


def test_count_timing_keeps_each_windows_step_count():
    """``timing="count"``: a counter finds each window's own steps again (so steps per recording and per
    window survive); within a window the steps are even, whatever the wearer's own durations."""
    n = 8 * W
    series = uneven_walk(n + 2 * 128 + 10, [23, 29, 25, 28, 22, 27])[10:]
    layer = make_layer("count")
    y = np.concatenate([np.asarray(layer(series[None, s - B:s + W + A], onehot(2)))[0]
                        for s in range(128, 128 + n, W)])
    raw = count_steps(series[128:128 + n, 1] * 0.3 + 1.0, RATE)
    out = count_steps(y[:, 1] * 0.3 + 1.0, RATE)
    per_window = np.bincount(out // W, minlength=8) - np.bincount(raw // W, minlength=8)
    assert np.abs(per_window).max() <= 1 and (per_window != 0).sum() <= 2  # a raw step on an edge may change sides
    assert abs(len(out) - len(raw)) <= 1
    spread = [np.ptp(np.diff(out[(out // W) == k])) for k in range(8)]
    assert max(spread) <= 2, spread  # even within each window (the wearer's: 22-29 samples)


def test_polyphase_fir_is_the_single_channel_filter():
    layer = make_layer()
    z = np.random.default_rng(4).normal(size=(3, B + W + A, 2)).astype(np.float32)
    h = np.asarray(layer.fir)[:, 0, 0]
    want = np.stack([np.convolve(zz[:, 1], h[::-1], mode="same") for zz in z])
    np.testing.assert_allclose(np.asarray(layer._fir(z[:, :, 1:2]))[:, :, 0], want, atol=1e-5)


@pytest.mark.parametrize("length", [384, 227, 160, 101])
def test_narrow_pools_are_the_wide_ones(length):
    """The detector's sliding max (troughs, local maxima) and RMS mean run as narrow pools for XNNPACK:
    the max exactly the wide pool's, the mean within float rounding, at every width and length."""
    import tensorflow as tf
    from models.layers import rolling_max, rolling_mean, rolling_mean_input

    x = np.random.default_rng(length).normal(size=(3, length, 1)).astype(np.float32)
    for width in (1, 2, 4, 5, 9, 17, 19, 33, 100):
        if width > length:
            continue
        want = tf.nn.max_pool1d(x, ksize=width, strides=1, padding="VALID").numpy()
        np.testing.assert_array_equal(rolling_max(tf.constant(x), width).numpy(), want)
        want = tf.nn.avg_pool1d(x * x, ksize=width, strides=1, padding="VALID").numpy()
        got = rolling_mean(tf.constant(x * x), width).numpy()
        assert got.shape == want.shape
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
        n_out = max(want.shape[1] - 7, 1)  # fewer means, from samples that need no padding where there are enough
        span = min(length, rolling_mean_input(width, n_out))
        fewer = rolling_mean(tf.constant(x[:, :span] * x[:, :span]), width, n_out).numpy()
        np.testing.assert_array_equal(fewer, got[:, :n_out])  # the same sums, padded or not


def test_int8_graph_takes_any_batch_with_the_one_window_outputs():
    """Converted to int8, the graph is row-wise: `rebatch` accepts it, and every window's output in a
    batch is bit-identical to its one-window output (rebatch checks that too, on its own windows)."""
    from ai_edge_litert.interpreter import Interpreter
    from converters.batch import check_rebatched, rebatch
    from converters.fuse import build_module
    from converters.tflite import convert_module

    layer = make_layer()
    model = walking_model(layer)
    mean, std = np.array([1.0, 1.0], np.float32), np.array([0.5, 0.3], np.float32)
    xs = (np.stack([walk(B + W + A, p, 1.0, seed=i) for i, p in enumerate(np.linspace(16, 48, 40))]) * std + mean)
    one = convert_module(build_module(model, mean, std, W, 2, "nwc", B + W + A), "int8", xs[:24].astype(np.float32))
    batched = rebatch(one, "dynamic")
    check_rebatched(one, batched, "dynamic", xs.astype(np.float32))
    interp = Interpreter(model_content=batched, num_threads=1)
    interp.resize_tensor_input(interp.get_input_details()[0]["index"], [len(xs), B + W + A, 2])
    interp.allocate_tensors()
    interp.set_tensor(interp.get_input_details()[0]["index"], xs.astype(np.float32))
    interp.invoke()
    out = interp.get_tensor(interp.get_output_details()[0]["index"])
    assert out.shape == (len(xs), W, 2) and len({o.tobytes() for o in out}) > 10  # windows differ


def test_fir_is_the_zero_phase_butterworth_band_pass():
    h = fir_bandpass(DetectorConfig(), RATE)
    assert len(h) == DetectorConfig().taps and np.allclose(h, h[::-1])  # symmetric: no delay
    gain = np.abs(np.fft.rfft(h, 4096))
    at = {hz: gain[int(round(hz / RATE * 4096))] for hz in (0.0, 0.5, 2.0, 3.5, 8.0)}
    assert abs(at[2.0] - 1) < 0.02 and at[0.0] < 0.02 and at[8.0] < 0.02
    assert abs(at[0.5] - 0.5) < 0.05 and abs(at[3.5] - 0.5) < 0.05  # forward and backward: -3 dB twice


def test_a_ripple_between_steps_is_not_a_step():
    """Steps every 40 samples (pulses), and half-way between them a pulse 0.3 as high: a local maximum
    above every threshold, but not prominent. The detector finds the steps and only them; without the
    prominence rule it takes the ripples too."""
    import dataclasses

    t = np.arange(B + W + A)
    acc = sum(h * np.exp(-0.5 * ((t - c) / 2.0) ** 2) for h, first in ((1.0, 0), (0.3, 20))
              for c in range(first, B + W + A + 40, 40))
    z = np.stack([np.zeros_like(acc), acc], -1)[None].astype(np.float32)
    found = {}
    for name, d in (("prominent", DetectorConfig()), ("any maximum", dataclasses.replace(DetectorConfig(), prominence=0.0))):
        found[name] = np.flatnonzero(np.asarray(make_layer(d=d).detect(z))[0, B:B + W]) + B
    steps = [s for s in range(B, B + W) if s % 40 == 0]
    assert np.abs(found["prominent"] - np.array(steps)).max() <= 1 and len(found["prominent"]) == len(steps)
    assert len(found["any maximum"]) > len(steps)


def test_integer_io_is_refused_for_a_graph_that_detects_steps():
    from converters.fuse import build_module
    from converters.tflite import convert_module
    from edge_runtime.errors import UserError

    layer = make_layer()
    model = walking_model(layer)
    mean, std = np.array([1.0, 1.0], np.float32), np.array([0.5, 0.3], np.float32)
    xs = (np.stack([walk(B + W + A, 26.0, 1.0, seed=i) for i in range(4)]) * std + mean).astype(np.float32)
    with pytest.raises(UserError, match="integer I/O is not available"):
        convert_module(build_module(model, mean, std, W, 2, "nwc", B + W + A), "int8", xs, int8_io=True)


def test_prominence_inside_the_context_matches_the_whole_context_rule():
    """The lay asks for the window's own samples, where real samples surround each one: the sliced
    troughs and RMS (no padding, the cheap ops) decide as the whole-context rule does there."""
    layer = make_layer("count")
    f = np.random.default_rng(5).normal(size=(8, B + W + A, 1)).astype(np.float32)
    inside = np.asarray(layer._prominent(f, B, B + W))
    whole = np.asarray(layer._prominent(f, 0, B + W + A))[:, B:B + W]
    assert inside.shape == (8, W, 1) and 0 < inside.mean() < 1
    np.testing.assert_array_equal(inside, whole)


def test_the_first_sample_of_a_stream_is_no_step():
    """A stream's first window gets the missing context held (``edge_runtime.context``): the detector
    finds the stream's steps and nothing on its first sample. A mirrored context (what the engine did
    until 2026-12-02) is symmetric about that sample, so band-passed it has a peak there, taken for a step."""
    from edge_runtime.context import context_window

    t = np.arange(2 * W)
    acc = 0.5 * np.cos(2 * np.pi * (t + 2) / 26)  # a step every 26 samples, the first at 24: falling at 0
    series = np.stack([np.zeros_like(acc), acc], -1).astype(np.float32)
    layer = make_layer()
    held = context_window(series, 0, W, B, A)[None]
    mirrored = np.pad(series, ((B, 0), (0, 0)), mode="reflect")[None, :B + W + A]
    found = {name: np.flatnonzero(np.asarray(layer.detect(z))[0, B:B + W]) for name, z in
             (("held", held), ("mirrored", mirrored))}
    assert np.abs(found["held"] - np.arange(24, W, 26)).max() <= 1 and len(found["held"]) == 4
    assert found["mirrored"][0] <= 1 and len(found["mirrored"]) == 5


def test_the_frontier_lays_the_cadence_steps_where_the_graph_does():
    """``models.frontier.cadence_channels`` restates the graph's cadence lay in numpy (the frontier runs
    without TensorFlow). On the detector's own steps, window by window, given the class's default period
    for a lone step (as the graph has it): the same samples in every window, whether the wearer has a
    step within ``max_gap`` on both sides or not."""
    from models import frontier

    layer = make_layer("cadence")
    base, cl, g, lone = np.asarray(layer.base), layer.cycle_len, layer.max_gap, np.asarray(layer.default_period)
    seen = {"both sides": 0, "one side or none": 0}
    for seed in (5, 6):
        x, cls = mixed_contexts(seed=seed, bursts=60)
        peaks = np.asarray(layer.detect(x))
        rows = cadence_reference_rows(layer, peaks, cls)  # the graph's rows (held equal to it above)
        for p, c, r in zip(peaks, cls, rows):
            if base[c] < 0:  # a class that does not step
                continue
            steps = np.flatnonzero(p)
            m = int(((steps >= B) & (steps < B + W)).sum())
            laid = frontier.cadence_channels(steps, B + W + A, W, B, (B, A), RATE, int(lone[c]))
            laid = laid[1, :, frontier.IMPULSE] > 0.5
            assert laid.sum() == m  # the window's own count, wherever the steps go
            stepping = r < layer.rows - W
            both = stepping[1:] & stepping[:-1]  # a step starts where the lay's half-cycle flips
            graph = np.flatnonzero(both & (((r[1:] - base[c]) // cl) % 2 != ((r[:-1] - base[c]) // cl) % 2)) + 1
            ours = np.flatnonzero(both & laid[1:]) + 1
            near = (steps < B).any() and steps[steps < B][-1] >= B - g and \
                (steps >= B + W).any() and steps[steps >= B + W][0] <= B + W + g
            seen["both sides" if near else "one side or none"] += m > 0
            np.testing.assert_array_equal(ours, graph)
    assert min(seen.values()) >= 20, seen
