"""The demo's judges: the frozen raw-trained CNNs of ``edge-runtime evaluate``, as small TFLite files.

``models/make_clips.py`` converts the Keras judges of ``models/frozen_judges.py`` (trained once on
raw MotionSense train windows, then frozen) into ``edge_runtime/clips/judge_<name>.tflite`` and
records in ``clips.json`` what each is, its classes, its raw test accuracy and its sha256. Here they
run on the edge runtime's own interpreter (LiteRT), so the demo's summary asks the same question as
the published figures ("what does a server that learned from ordinary data infer?") with the same
judges, on the edge install and without TensorFlow.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edge_runtime.errors import BundleError
from edge_runtime.interpreter import TFLiteInterpreter, native_stderr_silenced

CLIPS = Path(__file__).resolve().parent / "clips"  # package data: the demo clips and the judge files


@dataclass(frozen=True)
class Judge:
    name: str
    classes: tuple[str, ...]
    windows_of: tuple[str, ...]  # the activities it was trained and tested on
    raw_test_accuracy: float  # of this file, on the raw MotionSense test windows (clips.json)
    interpreter: TFLiteInterpreter

    def predict(self, windows: np.ndarray) -> np.ndarray:
        """Class indices for ``[n, 128, 2]`` mag2 windows in physical units."""
        if len(windows) == 0:
            return np.zeros(0, np.int64)
        return self.interpreter.run_batch(np.ascontiguousarray(windows, np.float32)).argmax(axis=1)


def load_judges(names: tuple[str, ...] | None = None, clips_dir: str | Path = CLIPS) -> dict[str, Judge]:
    """The judges ``clips.json`` lists (or those of ``names``), each file checked against its recorded sha256."""
    entries = json.loads((Path(clips_dir) / "clips.json").read_text())["judges"]["judges"]
    out = {}
    for name in names or tuple(entries):
        entry = entries[name]
        path = Path(clips_dir) / entry["file"]
        try:
            content = path.read_bytes()
        except OSError as exc:
            raise BundleError(f"{path}: demo judge missing ({exc.strerror})") from None
        if hashlib.sha256(content).hexdigest() != entry["sha256"]:
            raise BundleError(f"{path}: sha256 does not match clips.json (a damaged or replaced judge)")
        with native_stderr_silenced():  # LiteRT's C++ INFO line on creating its CPU delegate
            interp = TFLiteInterpreter(content, signature=entry["signature"], batch="dynamic", where=str(path))
        if interp.output_shape[-1] != len(entry["classes"]):
            raise BundleError(f"{path}: {interp.output_shape[-1]} outputs for {len(entry['classes'])} classes")
        out[name] = Judge(name, tuple(entry["classes"]), tuple(entry["windows_of"]),
                          float(entry["raw_test_accuracy_tflite"]), interp)
    return out
