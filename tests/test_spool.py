"""The store-and-forward spool: order, bounds and drop policies, counters, and kill -9 durability."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edge_runtime.spool import Spool, SpoolBound
from edge_runtime.testing import numbered_envelopes as envs
from edge_runtime.testing import numbered_window as window


def test_fifo_per_sink_and_ack(tmp_path):
    with Spool(tmp_path / "s.db") as spool:
        a, b = envs("a", range(5)), envs("b", range(3))
        interleaved = [a[0], b[0], a[1], a[2], b[1], a[3], b[2], a[4]]
        for e in interleaved:
            spool.put(["mqtt", "http"], [e])
        got = spool.peek("mqtt", limit=100)
        assert [r.envelope.id for r in got] == [e.id for e in interleaved]
        assert got[0].envelope.to_json() == interleaved[0].to_json()
        spool.ack("mqtt", got[:3])
        assert [r.envelope.id for r in spool.peek("mqtt")] == [e.id for e in interleaved[3:]]
        # the other sink's queue is independent
        assert len(spool.peek("http")) == 8
        st = spool.stats("mqtt")
        assert (st.records, st.spooled, st.delivered, st.dropped) == (5, 8, 3, 0)
        assert st.bytes == sum(e.size for e in interleaved[3:])


def test_wal_mode_on_disk(tmp_path):
    Spool(tmp_path / "s.db").close()
    con = sqlite3.connect(tmp_path / "s.db")
    assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_drop_oldest_keeps_newest_within_record_bound(tmp_path):
    with Spool(tmp_path / "s.db", SpoolBound(max_records=10, max_bytes=None)) as spool:
        all_envs = envs("a", range(25))
        dropped = sum(spool.put(["x"], [e]) for e in all_envs)
        assert dropped == 15
        assert [r.envelope.seq for r in spool.peek("x", 100)] == list(range(15, 25))
        assert spool.stats("x").dropped == 15


def test_drop_newest_refuses_new_records(tmp_path):
    with Spool(tmp_path / "s.db", SpoolBound(max_records=10, max_bytes=None, drop_policy="drop-newest")) as spool:
        spool.put(["x"], envs("a", range(25)))
        assert [r.envelope.seq for r in spool.peek("x", 100)] == list(range(10))
        assert spool.stats("x").dropped == 15


def test_byte_bound(tmp_path):
    one = envs("a", [0])[0].size
    with Spool(tmp_path / "s.db", SpoolBound(max_records=None, max_bytes=one * 4 + 10)) as spool:
        for e in envs("a", range(9)):
            spool.put(["x"], [e])
        st = spool.stats("x")
        assert st.records == 4 and st.bytes <= one * 4 + 10 and st.dropped == 5


def test_counters_and_records_survive_reopen(tmp_path):
    with Spool(tmp_path / "s.db", SpoolBound(max_records=3, max_bytes=None)) as spool:
        spool.put(["x"], envs("a", range(5)))
        spool.ack("x", spool.peek("x", 1))
    with Spool(tmp_path / "s.db") as spool:
        st = spool.stats("x")
        assert (st.records, st.spooled, st.delivered, st.dropped) == (2, 5, 1, 2)
        assert spool.sinks() == ["x"]


def test_next_seqs_are_committed_with_the_records(tmp_path):
    with Spool(tmp_path / "s.db") as spool:
        spool.put(["x"], envs("a", range(3)) + envs("b", [7]))
        spool.put([], envs("a", [3]))  # no network sink: still recorded
        spool.put(["x"], envs("a", [1]))  # never goes backwards
    with Spool(tmp_path / "s.db") as spool:
        assert spool.next_seqs() == {"a": 4, "b": 8}


def test_bad_bound_is_refused():
    with pytest.raises(ValueError, match="drop_policy"):
        SpoolBound(drop_policy="drop-random")
    with pytest.raises(ValueError, match="max_records"):
        SpoolBound(max_records=0)


WRITER = textwrap.dedent(
    """
    import sys
    import numpy as np
    from edge_runtime.transformed_window import TransformedWindow
    from edge_runtime.sinks.envelope import Envelope
    from edge_runtime.spool import Spool, SpoolBound

    spool = Spool(sys.argv[1], SpoolBound(max_records=None, max_bytes=None), synchronous=sys.argv[2])
    seq = 0
    while True:
        w = TransformedWindow("dev", seq, seq * 2.56, 50.0, ("a", "b"), ("g", "g"),
                              np.zeros((128, 2), np.float32), "b", "1")
        e = Envelope.wrap(w)
        spool.put(["mqtt"], [e])
        # only printed once put() returned: every printed id must survive kill -9
        sys.stdout.write(e.id + "\\n")
        sys.stdout.flush()
        if seq % 7 == 3:
            spool.ack("mqtt", spool.peek("mqtt", 2))
        seq += 1
    """
)


@pytest.mark.parametrize("synchronous", ["normal", "full"])
def test_kill_9_loses_no_spooled_record(tmp_path, synchronous):
    db = tmp_path / "crash.db"
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(db), synchronous], stdout=subprocess.PIPE)
    printed = []
    deadline = time.monotonic() + 30
    while len(printed) < 300 and time.monotonic() < deadline:
        printed.append(proc.stdout.readline().decode().strip())
    os.kill(proc.pid, signal.SIGKILL)
    rest = proc.stdout.read().decode().split()  # lines written before the kill, still in the pipe
    proc.wait()
    printed += rest
    printed = [p for p in printed if p]
    assert len(printed) >= 300, "the writer did not get going"
    with Spool(db) as spool:
        st = spool.stats("mqtt")
        waiting = {r.envelope.id for r in spool.peek("mqtt", 1_000_000)}
    # every accepted record is either still waiting or was acknowledged (delivered) before the kill
    assert st.spooled >= len(printed)
    assert st.records + st.delivered == st.spooled
    assert len(waiting) == st.records
    acked = st.delivered
    missing = [i for i in printed if i not in waiting]
    assert len(missing) <= acked
    # acknowledged ones are always the oldest: everything after them must be waiting
    assert set(printed[acked:]) <= waiting

OPS = st.lists(
    st.one_of(
        st.tuples(st.just("put"), st.sampled_from(["a", "b"]), st.integers(1, 6)),
        st.tuples(st.just("ack"), st.sampled_from(["x", "y"]), st.integers(0, 8)),
        st.tuples(st.just("reopen"), st.none(), st.none()),
    ),
    max_size=40,
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=OPS, bound=st.one_of(st.none(), st.integers(1, 12)),
       policy=st.sampled_from(["drop-oldest", "drop-newest"]))
def test_spool_matches_a_bounded_fifo_model(tmp_path_factory, ops, bound, policy):
    """Against a plain in-memory model: per-sink FIFO order, the bound and its policy, and the
    counters (spooled = waiting + delivered + dropped) hold through any sequence of operations,
    including closing and reopening the database."""
    path = tmp_path_factory.mktemp("spool") / "s.db"
    spool_bound = SpoolBound(max_records=bound, max_bytes=None, drop_policy=policy)
    spool = Spool(path, spool_bound, synchronous="normal")
    model = {"x": [], "y": []}
    counts = {s: {"spooled": 0, "delivered": 0, "dropped": 0} for s in model}
    seq = {"a": 0, "b": 0}
    try:
        for op, arg, n in ops:
            if op == "put":
                batch = envs(arg, range(seq[arg], seq[arg] + n))
                seq[arg] += n
                spool.put(["x", "y"], batch)
                for s in model:
                    model[s] += [e.id for e in batch]
                    counts[s]["spooled"] += n
                    if bound is not None and len(model[s]) > bound:
                        over = len(model[s]) - bound
                        model[s] = model[s][over:] if policy == "drop-oldest" else model[s][:bound]
                        counts[s]["dropped"] += over
            elif op == "ack":
                got = spool.peek(arg, n)
                assert [r.envelope.id for r in got] == model[arg][:n]
                spool.ack(arg, got)
                model[arg] = model[arg][len(got):]
                counts[arg]["delivered"] += len(got)
            else:
                spool.close()
                spool = Spool(path, spool_bound, synchronous="normal")
            for s in model:
                stats = spool.stats(s)
                assert stats.records == len(model[s])
                assert (stats.spooled, stats.delivered, stats.dropped) == tuple(counts[s].values())
                assert stats.spooled == stats.records + stats.delivered + stats.dropped
        for s in model:
            assert [r.envelope.id for r in spool.peek(s, 10_000)] == model[s]
    finally:
        spool.close()
