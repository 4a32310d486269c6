"""Windowing: exact counts, stride, and no window straddling a recording."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from models.data import cut_windows, window_starts


@given(n=st.integers(0, 2000), window=st.integers(1, 300), stride=st.integers(1, 200))
@settings(max_examples=300, deadline=None)
def test_window_starts_count_stride_and_bounds(n, window, stride):
    starts = window_starts(n, window, stride)
    expected = 0 if n < window else (n - window) // stride + 1
    assert len(starts) == expected
    if expected:
        assert starts[0] == 0
        assert np.all(np.diff(starts) == stride)
        assert starts[-1] + window <= n  # the last window ends inside the recording
        assert starts[-1] + stride + window > n  # and no further full window fits


@given(lengths=st.lists(st.integers(0, 400), min_size=1, max_size=6), window=st.integers(2, 64),
       stride=st.integers(1, 32))
@settings(max_examples=150, deadline=None)
def test_windows_never_straddle_recordings(lengths, window, stride):
    # each recording's samples carry its own id; a straddling window would mix ids
    windows = [cut_windows(np.full((n, 1), rec, dtype=np.float32), window, stride) for rec, n in enumerate(lengths)]
    for rec, w in enumerate(windows):
        assert w.shape[1:] == (window, 1)
        assert np.all(w == rec)


def test_windows_hold_the_right_samples():
    series = np.arange(30, dtype=np.float32)[:, None]
    w = cut_windows(series, window=8, stride=5)
    assert w.shape == (5, 8, 1)
    assert w[1, 0, 0] == 5 and w[-1, -1, 0] == 27
