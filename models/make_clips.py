"""Build the demo's package data (``edge_runtime/clips/``) from the MotionSense data, once, on the workstation:

    python3 -m models.make_clips [MOTIONSENSE_DIR]

A workstation script, so it lives here and not in the edge package it writes into.

- ``subject_<n>.csv``: one clip per demo subject in our recording format (t, acc xyz in g with
  gravity, gyro xyz in rad/s; 50 Hz): ``SEGMENT_S`` seconds of each activity, from the *test*
  trials (11-16), in the order of ``ACTIVITIES``;
- ``clips.json``: which activity each sample range is, and each subject's gender;
- ``judges.npz``: the numpy judges (activity over 5 classes; gender on the required activities),
  trained on the *train* trials (< 10) of all 24 subjects, mag2 windows of 128, stride 32.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import numpy as np

import edge_runtime
from edge_runtime.demo_judges import fit_judge, save_judges
from edge_runtime.features import MAG2
from edge_runtime.motionsense import SAMPLE_RATE, MotionSense, default_data_dir
from edge_runtime.recording import write_recording

HERE = Path(edge_runtime.__file__).resolve().parent / "clips"  # the package data this script writes
ACTIVITIES = ("wlk", "jog", "ups", "dws", "std")  # jog is the sensitive one
REQUIRED = ("dws", "ups", "wlk")
TEST_TRIALS = {"dws": 11, "ups": 12, "wlk": 15, "jog": 16, "std": 14}
SUBJECTS = (5, 9)  # one female, one male
SEGMENT_S = 12.0
SKIP_S = 4.0  # start a little into each trial, past the phone going into the pocket
WINDOW, STRIDE = 128, 32


def build_clips(ms: MotionSense) -> list[dict]:
    info = ms.subjects()
    clips = []
    n_seg = int(SEGMENT_S * SAMPLE_RATE)
    skip = int(SKIP_S * SAMPLE_RATE)
    for subject in SUBJECTS:
        parts, segments = [], []
        for act in ACTIVITIES:
            raw = ms.read(next(k for k in ms.keys if k.activity == act and k.trial == TEST_TRIALS[act]
                               and k.subject == subject))
            seg = raw[skip: skip + n_seg]
            start = sum(len(p) for p in parts)
            segments.append({"activity": act, "start": start, "end": start + len(seg),
                             "source": f"A_DeviceMotion_data/{act}_{TEST_TRIALS[act]}/sub_{subject}.csv rows "
                                       f"{skip}..{skip + len(seg) - 1}"})
            parts.append(seg)
        raw = np.concatenate(parts).astype(np.float32)
        t = np.arange(len(raw)) / SAMPLE_RATE
        name = f"subject_{subject}.csv"
        write_recording(HERE / name, t, raw)
        gender = "male" if info[subject]["gender"] == 1 else "female"
        clips.append({"file": name, "subject": subject, "gender": gender, "segments": segments,
                      "sha256": hashlib.sha256((HERE / name).read_bytes()).hexdigest()})
    return clips


def train_judges(ms: MotionSense) -> list:
    info = ms.subjects()
    windows, acts, genders = [], [], []
    for key in ms.keys:
        if key.trial >= 10 or key.activity not in ACTIVITIES:
            continue
        x = MAG2.from_raw(ms.read(key))
        for s in range(0, len(x) - WINDOW + 1, STRIDE):
            windows.append(x[s: s + WINDOW])
            acts.append(ACTIVITIES.index(key.activity))
            genders.append(int(info[key.subject]["gender"] == 1))
    X, A, G = np.stack(windows), np.array(acts), np.array(genders)
    req = np.isin(A, [ACTIVITIES.index(a) for a in REQUIRED])
    activity = fit_judge("activity", ACTIVITIES, X, A)
    gender = fit_judge("gender", ("female", "male"), X[req], G[req])
    print(f"trained on {len(X)} windows: activity train acc {np.mean(activity.predict(X) == A):.3f}, "
          f"gender train acc {np.mean(gender.predict(X[req]) == G[req]):.3f}")
    return [activity, gender]


def main() -> None:
    data = Path(sys.argv[1]) if len(sys.argv) > 1 else default_data_dir()
    ms = MotionSense(data)
    clips = build_clips(ms)
    save_judges(HERE / "judges.npz", train_judges(ms))
    (HERE / "clips.json").write_text(json.dumps({
        "sample_rate": SAMPLE_RATE, "activities": list(ACTIVITIES), "required": list(REQUIRED), "sensitive": ["jog"],
        "judges": {"file": "judges.npz", "trained_on": "MotionSense train trials (< 10), all 24 subjects",
                   "window": WINDOW, "stride": STRIDE, "features": "mag2"},
        "clips": clips,
    }, indent=2) + "\n")


if __name__ == "__main__":
    main()
