"""Our recording format: round trip, MotionSense input, and clear errors on bad files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from firmware_bridge.errors import RecordingError
from firmware_bridge.recording import (HEADER, RecordingWriter, load_samples, parse_motionsense_csv, read_recording,
                                       write_recording)

CLIP = Path(__file__).parent / "fixtures" / "motionsense_clip_jog9_sub1.csv"


def test_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    t = np.arange(100) / 50.0 + 12.5
    raw = rng.normal(0, 2, (100, 6)).astype(np.float32)
    write_recording(tmp_path / "r.csv", t, raw)
    rec = read_recording(tmp_path / "r.csv")
    np.testing.assert_allclose(rec.t, t, atol=1e-6)
    np.testing.assert_allclose(rec.raw, raw, rtol=1e-6, atol=1e-7)
    assert rec.sample_rate == pytest.approx(50.0)
    assert (tmp_path / "r.csv").read_text().splitlines()[0] == HEADER


def test_streaming_writer_equals_batch_writer(tmp_path):
    t = np.arange(10) / 50.0
    raw = np.arange(60, dtype=np.float32).reshape(10, 6) / 7
    write_recording(tmp_path / "a.csv", t, raw)
    with RecordingWriter(tmp_path / "b.csv") as w:
        w.write(t[:4], raw[:4])
        w.write(t[4:], raw[4:])
    assert w.rows == 10
    assert (tmp_path / "a.csv").read_text() == (tmp_path / "b.csv").read_text()


def test_load_samples_reads_motionsense_csv():
    rec = load_samples(CLIP)
    expected = parse_motionsense_csv(CLIP.read_text())
    assert len(rec) == 400 and rec.raw.shape == (400, 6)
    np.testing.assert_array_equal(rec.raw, expected)
    np.testing.assert_allclose(rec.t, np.arange(400) / 50.0)


@pytest.mark.parametrize("content, needle", [
    ("", "empty file"),
    ("t,acc_x,acc_y\n0,1,2\n", "wrong header"),
    (HEADER + "\n0,1,2,3,4,5\n", "columns"),
    (HEADER + "\n0,1,2,3,4,5,x\n", "malformed row"),
    (HEADER + "\n0,1,2,3,4,5,nan\n", "non-finite"),
    (HEADER + "\n1,0,0,0,0,0,0\n0.5,0,0,0,0,0,0\n", "backwards"),
])
def test_bad_files_raise_data_error_naming_the_file(tmp_path, content, needle):
    path = tmp_path / "bad.csv"
    path.write_text(content)
    with pytest.raises(RecordingError) as err:
        read_recording(path)
    assert str(path) in str(err.value) and needle in str(err.value)


def test_missing_file(tmp_path):
    with pytest.raises(RecordingError, match="no such recording"):
        read_recording(tmp_path / "nope.csv")
    with pytest.raises(RecordingError, match="no such recording"):
        load_samples(tmp_path / "nope.csv")


def test_header_only_is_an_empty_recording(tmp_path):
    (tmp_path / "e.csv").write_text(HEADER + "\n")
    rec = read_recording(tmp_path / "e.csv")
    assert len(rec) == 0 and rec.raw.shape == (0, 6)


def test_the_runtime_reads_recordings_through_its_door_with_its_own_error(tmp_path):
    """edge_runtime.recording is the same format; a bad file is the runtime's DataError there."""
    from edge_runtime import recording as door
    from edge_runtime.errors import DataError

    write_recording(tmp_path / "r.csv", np.arange(3) / 50.0, np.ones((3, 6), np.float32))
    np.testing.assert_array_equal(door.read_recording(tmp_path / "r.csv").raw, read_recording(tmp_path / "r.csv").raw)
    (tmp_path / "bad.csv").write_text("t,x\n1,2\n")
    with pytest.raises(DataError, match="wrong header"):
        door.load_samples(tmp_path / "bad.csv")
