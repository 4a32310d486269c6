"""The streaming resampler: grid, jitter, short and long gaps, reordering, chunking invariance."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edge_runtime.resample import _ON_GRID_S, Resampler


def collect(chunks):
    times = np.concatenate([c.times for c in chunks]) if chunks else np.zeros(0)
    values = np.concatenate([c.values for c in chunks]) if chunks else np.zeros((0, 2), np.float32)
    return times, values


def linear(t: np.ndarray) -> np.ndarray:
    """A 2-channel signal linear interpolation reproduces exactly."""
    return np.stack([1.0 + 0.5 * t, 3.0 - 0.25 * t], axis=1)


def test_on_grid_samples_pass_through_unchanged():
    rng = np.random.default_rng(0)
    t = 12.5 + np.arange(300) / 50.0
    x = rng.normal(size=(300, 2)).astype(np.float32)
    r = Resampler(rate=50.0, channels=2)
    times, values = collect(r.push(t[:100], x[:100]) + r.push(t[100:], x[100:]))
    np.testing.assert_allclose(times, t, atol=1e-9)
    np.testing.assert_array_equal(values, x)
    assert r.counters.samples_out == 300 and r.counters.restarts == 0


def test_jittered_timestamps_land_on_the_grid():
    rng = np.random.default_rng(1)
    t = np.arange(500) / 50.0 + rng.uniform(-0.004, 0.004, 500)
    t[0] = 0.0
    r = Resampler(rate=50.0, channels=2)
    times, values = collect(r.push(t, linear(t)))
    np.testing.assert_allclose(np.diff(times), 0.02, atol=1e-9)
    assert times[0] == 0.0 and times[-1] <= t[-1]
    np.testing.assert_allclose(values, linear(times), atol=1e-5)


def test_other_input_rates_are_resampled():
    t = np.arange(1000) / 100.0  # a 100 Hz device, a 50 Hz model
    r = Resampler(rate=50.0, channels=2)
    times, values = collect(r.push(t, linear(t)))
    assert len(times) == 500
    np.testing.assert_allclose(values, linear(times), atol=1e-5)
    t = np.arange(260) / 26.0  # a 26 Hz device
    r = Resampler(rate=50.0, channels=2)
    times, values = collect(r.push(t, linear(t)))
    np.testing.assert_allclose(np.diff(times), 0.02, atol=1e-9)
    np.testing.assert_allclose(values, linear(times), atol=1e-5)


def test_short_gap_is_interpolated_long_gap_restarts():
    t = np.arange(200) / 50.0
    short = np.concatenate([t[:80], t[95:]])  # 0.32 s hole
    r = Resampler(rate=50.0, channels=2, max_gap=0.5)
    chunks = r.push(short, linear(short))
    times, values = collect(chunks)
    assert not any(c.restart for c in chunks) and r.counters.restarts == 0
    np.testing.assert_allclose(times, t, atol=1e-9)
    np.testing.assert_allclose(values, linear(t), atol=1e-5)

    long = np.concatenate([t[:80], t[80:] + 3.0])  # 3 s hole
    r = Resampler(rate=50.0, channels=2, max_gap=0.5)
    chunks = r.push(long, linear(long))
    assert [c.restart for c in chunks] == [False, False, True, False]
    assert r.counters.restarts == 1
    after = [c for c in chunks if c.restart][0]
    assert after.times[0] == pytest.approx(long[80])  # the new grid starts at the first sample after the hole
    times, values = collect(chunks)
    assert len(times) == 200
    np.testing.assert_allclose(values, linear(long), atol=1e-5)


def test_threshold_is_configurable():
    t = np.concatenate([np.arange(50), np.arange(70, 120)]) / 50.0  # 0.42 s hole
    assert Resampler(50.0, 2, max_gap=0.5).push(t, linear(t))[-1].restart is False
    r = Resampler(50.0, 2, max_gap=0.2)
    r.push(t, linear(t))
    assert r.counters.restarts == 1


def test_reordered_duplicate_and_invalid_samples_are_dropped_and_counted():
    t = np.arange(100) / 50.0
    x = linear(t)
    tt, xx = t.copy(), x.copy()
    tt[[40, 41]], xx[[40, 41]] = tt[[41, 40]], xx[[41, 40]]  # a pair arriving swapped
    tt = np.insert(tt, 60, tt[59])  # a duplicate
    xx = np.insert(xx, 60, xx[59], axis=0)
    xx[70, 1] = np.nan
    r = Resampler(rate=50.0, channels=2)
    times, values = collect(r.push(tt, xx))
    assert r.counters.samples_out_of_order == 2  # the late one of the swap, the duplicate
    assert r.counters.samples_invalid == 1
    assert np.isfinite(values).all()
    np.testing.assert_allclose(times, t, atol=1e-9)
    np.testing.assert_allclose(values, linear(t), atol=1e-5)


def test_clock_jumping_back_restarts():
    t = np.concatenate([np.arange(100) / 50.0 + 100.0, np.arange(100) / 50.0])
    r = Resampler(rate=50.0, channels=2)
    chunks = r.push(t, linear(t))
    assert r.counters.restarts == 1
    assert sum(len(c.times) for c in chunks) == 200


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(min_value=1, max_value=60), min_size=1, max_size=30), st.integers(0, 10_000))
def test_chunking_does_not_change_the_output(sizes, seed):
    rng = np.random.default_rng(seed)
    n = 400
    t = np.cumsum(rng.uniform(0.012, 0.03, n))
    t[rng.integers(0, n)] += 1.0  # maybe a long gap somewhere
    x = rng.normal(size=(n, 2))
    whole = Resampler(rate=50.0, channels=2)
    ref_t, ref_x = collect(whole.push(t, x))
    parts = Resampler(rate=50.0, channels=2)
    chunks, i = [], 0
    for s in sizes * (n // max(1, sum(sizes)) + 1):
        if i >= n:
            break
        chunks += parts.push(t[i:i + s], x[i:i + s])
        i += s
    got_t, got_x = collect(chunks)
    np.testing.assert_allclose(got_t, ref_t, atol=1e-9)
    # a sample within _ON_GRID_S of its grid point is taken as it is when it arrives alone, and
    # interpolated when it arrives with its neighbours: they differ by at most its slope times that
    slope = np.abs(np.diff(x, axis=0) / np.diff(t)[:, None]).max()
    np.testing.assert_allclose(got_x, ref_x, atol=1e-5 + slope * _ON_GRID_S)
    assert parts.counters.restarts == whole.counters.restarts
