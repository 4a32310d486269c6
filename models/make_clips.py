"""Build the demo's package data (``edge_runtime/clips/``) from the MotionSense data, once, on the workstation:

    python3 -m models.make_clips [MOTIONSENSE_DIR]

A workstation script, so it lives here and not in the edge package it writes into.

- ``subject_<n>.csv``: one clip per demo subject in our recording format (t, acc xyz in g with
  gravity, gyro xyz in rad/s; 50 Hz): ``SEGMENT_S`` seconds of each activity, from the *test*
  trials (11-16), in the order of ``ACTIVITIES``;
- ``judge_<name>.tflite``: the frozen raw-trained judges of ``edge-runtime evaluate``
  (``models/frozen_judges.py``; trained first if the cache lacks them), converted for the edge
  interpreter: the smallest of ``QUANTIZATIONS`` whose accuracy on the raw test windows is within
  ``MAX_ACCURACY_LOSS`` of the Keras judge's;
- ``clips.json``: which activity each sample range is, each subject's gender, and what each judge
  file is (classes, trained on what, raw test accuracy of the Keras judge and of the file, size, sha256).
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import numpy as np

import edge_runtime
from edge_runtime.motionsense import SAMPLE_RATE, MotionSense, default_data_dir
from edge_runtime.recording import write_recording

HERE = Path(edge_runtime.__file__).resolve().parent / "clips"  # the package data this script writes
ACTIVITIES = ("wlk", "jog", "ups", "dws", "std")  # jog is the sensitive one
REQUIRED = ("dws", "ups", "wlk")
TEST_TRIALS = {"dws": 11, "ups": 12, "wlk": 15, "jog": 16, "std": 14}
SUBJECTS = (5, 9)  # one female, one male
SEGMENT_S = 12.0
SKIP_S = 4.0  # start a little into each trial, past the phone going into the pocket

DEMO_JUDGES = ("activity5", "gender", "identity")  # of models.frozen_judges.JUDGES
SIGNATURE = "classify"  # the judge files' one signature: mag2 window(s) [n, 128, 2] in, class probabilities out
# (name, int8 per-channel): smallest first; per-channel int8 carries a scale and zero point per filter
QUANTIZATIONS = (("int8", False), ("int8", True), ("float16", False), ("float32", False))
MAX_ACCURACY_LOSS = 0.01  # of raw test accuracy, against the Keras judge: under one of the demo's ~45 windows
N_CALIBRATION = 1000


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


def judge_module(model, window: int, channels: int):
    """A ``tf.Module`` whose ``transform`` is the Keras judge with its weights frozen (any batch size)."""
    import tensorflow as tf
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    spec = tf.TensorSpec([None, window, channels], tf.float32, name="window")
    frozen = convert_variables_to_constants_v2(
        tf.function(lambda x: model(x, training=False), input_signature=[spec]).get_concrete_function())

    class FrozenJudge(tf.Module):
        @tf.function(input_signature=[spec])
        def transform(self, window_in):
            return {"probs": frozen(window_in)[0]}

    return FrozenJudge()


def tflite_accuracy(model: bytes, x: np.ndarray, y: np.ndarray) -> float:
    """Accuracy of a judge file on ``x``, run by the edge runtime's interpreter (as the demo runs it)."""
    from edge_runtime.interpreter import TFLiteInterpreter

    interp = TFLiteInterpreter(model, signature=SIGNATURE, batch="dynamic")
    return float((interp.run_batch(x.astype(np.float32)).argmax(1) == y).mean())


def export_judges(data: Path, log=print) -> dict:
    """Convert the frozen judges to ``judge_<name>.tflite`` here; their entries for clips.json."""
    from converters.tflite import convert_module
    from converters.windows import extreme_windows
    from models.data import N_SUBJECTS, load_dataset
    from models.frozen_judges import JUDGES, Judges, labels

    ds = load_dataset(data)
    judges = Judges(ds)
    meta = judges.train_missing(log)
    entries = {}
    for spec in sorted((s for s in JUDGES if s.name in DEMO_JUDGES), key=lambda s: DEMO_JUDGES.index(s.name)):
        x_train, _ = labels(ds, "train", spec)
        x_test, y_test = labels(ds, "test", spec)
        rng = np.random.default_rng(0)
        pool = x_train[::4]
        calibration = np.concatenate([x_train[np.sort(rng.choice(len(x_train), N_CALIBRATION, replace=False))],
                                      pool[extreme_windows(pool, pool)]])
        module = judge_module(judges[spec.name], ds.config.window, len(ds.features.channels))
        keras_acc = meta[spec.name]["raw_test_accuracy"]
        tried = {}
        for quantize, per_channel in QUANTIZATIONS:
            model = convert_module(module, quantize, calibration if quantize == "int8" else None,
                                   per_channel=per_channel, signature=SIGNATURE)
            acc = tflite_accuracy(model, x_test, y_test)
            quantize += " per-channel" if per_channel else ""
            tried[quantize] = {"raw_test_accuracy": round(acc, 4), "bytes": len(model)}
            log(f"  {spec.name} {quantize}: {len(model)} bytes, raw test accuracy {acc:.4f} "
                f"(Keras {keras_acc:.4f})")
            if acc >= keras_acc - MAX_ACCURACY_LOSS:
                break
        name = f"judge_{spec.name}.tflite"
        (HERE / name).write_bytes(model)
        if spec.label == "activity":
            classes = list(spec.activities)
        elif spec.label == "gender":
            classes = ["female", "male"]
        else:
            classes = [str(s) for s in range(1, N_SUBJECTS + 1)]  # MotionSense subject numbers
        entries[spec.name] = {
            "file": name, "signature": SIGNATURE, "classes": classes, "label": spec.label,
            "windows_of": list(spec.activities), "quantization": quantize,
            "raw_test_accuracy_keras": round(keras_acc, 4), "raw_test_accuracy_tflite": round(acc, 4),
            "tried": tried, "train_windows": meta[spec.name]["train_windows"],
            "test_windows": int(len(x_test)), "bytes": len(model), "sha256": hashlib.sha256(model).hexdigest(),
        }
    return {
        "source": f"models/frozen_judges.py ({judges.dir.name}): the Keras CNNs of 'edge-runtime evaluate'",
        "trained_on": f"raw MotionSense mag2 train windows (all trials but the test ones, all 24 subjects), window {ds.config.window}, "
                      f"stride {ds.config.stride}; standardisation inside the model; frozen",
        "tested_on": f"raw test windows (trials {','.join(map(str, ds.config.test_trials))})",
        "judges": entries,
    }


def main() -> None:
    data = Path(sys.argv[1]) if len(sys.argv) > 1 else default_data_dir()
    ms = MotionSense(data)
    clips = build_clips(ms)
    judges = export_judges(data)
    (HERE / "clips.json").write_text(json.dumps({
        "sample_rate": SAMPLE_RATE, "activities": list(ACTIVITIES), "required": list(REQUIRED), "sensitive": ["jog"],
        "judges": judges, "clips": clips,
    }, indent=2) + "\n")


if __name__ == "__main__":
    main()
