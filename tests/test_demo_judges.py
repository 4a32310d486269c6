"""The demo's judges: the frozen raw-trained CNNs shipped as TFLite files in ``edge_runtime/clips``, run by
the edge interpreter (never TensorFlow), checked against clips.json, and reading the raw demo clips."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from edge_runtime.demo_judges import CLIPS, load_judges
from edge_runtime.errors import BundleError
from edge_runtime.features import MAG2
from edge_runtime.recording import load_samples

MANIFEST = json.loads((CLIPS / "clips.json").read_text())
# Accuracy on the raw clips' windows lying inside one activity segment (stride 32), floors a few points under
# what the shipped files measured (activity5 0.925 of 146, gender 1.0 of 87, identity 0.871 of 116)
FLOORS = {"activity5": 0.88, "gender": 0.95, "identity": 0.80}


def test_shipped_judge_files_match_clips_json():
    entries = MANIFEST["judges"]["judges"]
    assert set(entries) == {"activity5", "gender", "identity"}
    for name, entry in entries.items():
        content = (CLIPS / entry["file"]).read_bytes()
        assert hashlib.sha256(content).hexdigest() == entry["sha256"] and len(content) == entry["bytes"]
        assert entry["raw_test_accuracy_tflite"] > 0.95  # the frozen judges' own figure, on the raw test windows
    assert set(entries["activity5"]["classes"]) == set(MANIFEST["activities"])
    assert entries["gender"]["classes"] == ["female", "male"]
    assert {str(c["subject"]) for c in MANIFEST["clips"]} <= set(entries["identity"]["classes"])
    assert not (CLIPS / "judges.npz").exists()  # the numpy judges are gone, not kept beside


def _segment_windows():
    x, truth = [], {"activity": [], "gender": [], "subject": []}
    for clip in MANIFEST["clips"]:
        series = MAG2.from_raw(load_samples(CLIPS / clip["file"]).raw)
        for seg in clip["segments"]:
            for s in range(seg["start"], seg["end"] - 128 + 1, 32):
                x.append(series[s:s + 128])
                truth["activity"].append(seg["activity"])
                truth["gender"].append(clip["gender"])
                truth["subject"].append(str(clip["subject"]))
    return np.stack(x).astype(np.float32), {k: np.array(v) for k, v in truth.items()}


@pytest.mark.parametrize("name,label", [("activity5", "activity"), ("gender", "gender"), ("identity", "subject")])
def test_judges_read_the_raw_demo_clips(name, label):
    judge = load_judges((name,))[name]
    assert judge.interpreter.backend != "tensorflow"
    x, truth = _segment_windows()
    on = np.isin(truth["activity"], judge.windows_of)
    got = np.array(judge.classes)[judge.predict(x[on])]
    assert np.mean(got == truth[label][on]) >= FLOORS[name]
    if name == "activity5":  # not one class for everything: each activity of the clips is read somewhere
        assert set(got) == set(MANIFEST["activities"])


def test_loading_and_running_the_judges_imports_no_tensorflow():
    probe = ("import sys, numpy as np\n"
             "from edge_runtime.demo_judges import load_judges\n"
             "j = load_judges()\n"
             "print(j['activity5'].predict(np.ones((3, 128, 2), np.float32)).shape)\n"
             "print(sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras', 'tf_keras')))\n")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split("\n")[:2] == ["(3,)", "[]"]


def test_a_damaged_judge_file_is_refused(tmp_path):
    clips = tmp_path / "clips"
    shutil.copytree(CLIPS, clips)
    path = clips / MANIFEST["judges"]["judges"]["gender"]["file"]
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(BundleError, match="sha256 does not match clips.json"):
        load_judges(clips_dir=clips)
    assert set(load_judges(("activity5",), clips_dir=clips)) == {"activity5"}  # the others still load


def test_make_clips_records_what_the_shipped_files_are():
    from models import make_clips  # TensorFlow only inside its functions

    entries = MANIFEST["judges"]["judges"]
    assert {e["signature"] for e in entries.values()} == {make_clips.SIGNATURE}
    assert set(entries) == set(make_clips.DEMO_JUDGES)
    for entry in entries.values():  # the smallest conversion within MAX_ACCURACY_LOSS of the Keras judge
        assert entry["raw_test_accuracy_tflite"] >= entry["raw_test_accuracy_keras"] - make_clips.MAX_ACCURACY_LOSS
        assert entry["quantization"] == list(entry["tried"])[-1]
    assert Path(make_clips.HERE) == CLIPS
