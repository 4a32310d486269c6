"""The TensorFlow baseline in its own process, for ``edge-runtime benchmark``: per-window time of the
Keras model (``model(x)``, one window per call) or, without one, of tf.lite inside TensorFlow, and the
process's peak RSS. Prints ``{"skipped": why}`` where TensorFlow is not installed (the edge install).

Run as ``python -m models.tensorflow_baseline PARAMS_JSON``; prints one JSON line.
"""

from __future__ import annotations

import json
import sys
import time

from edge_runtime.commands.cold_start import maxrss_mb


def _keras_step(params: dict, mean, std):
    import keras
    import numpy as np

    try:
        import models.layers  # noqa: F401  (the transforms' custom layers)
    except ImportError:
        pass
    model = keras.models.load_model(params["keras"], compile=False)

    def step(v):
        return np.asarray(model((v - mean) / std, training=False)) * std + mean
    return step, "Keras model(x), one window per call"


def _tflite_step(params: dict, tf):
    interp = tf.lite.Interpreter(model_path=params["model_path"], num_threads=1)
    interp.allocate_tensors()
    i_idx = interp.get_input_details()[0]["index"]
    o_idx = interp.get_output_details()[0]["index"]
    dtype = interp.get_input_details()[0]["dtype"]

    def step(v):
        interp.set_tensor(i_idx, v.astype(dtype))
        interp.invoke()
        return interp.get_tensor(o_idx)
    return step, "tf.lite interpreter inside TensorFlow (no Keras model given)"


def main(params: dict) -> dict:
    try:
        import tensorflow as tf
    except ImportError as exc:
        return {"skipped": f"TensorFlow is not installed ({exc})"}
    import numpy as np

    mean, std = np.asarray(params["mean"], np.float32), np.asarray(params["std"], np.float32)
    x = np.abs(np.random.default_rng(0).normal(1.0, 0.4, (1, params["window"], params["channels"]))).astype(np.float32)
    out = {"tensorflow": tf.__version__}
    step, out["what"] = _keras_step(params, mean, std) if params["keras"] else _tflite_step(params, tf)
    for _ in range(5):
        step(x)
    samples = []
    for _ in range(params["rounds"]):
        start = time.perf_counter()
        for _ in range(params["windows"]):
            step(x)
        samples.append((time.perf_counter() - start) / params["windows"])
    samples.sort()
    out["per_window_us"] = samples[len(samples) // 2] * 1e6
    out["maxrss_mb"] = maxrss_mb()
    return out


if __name__ == "__main__":
    print(json.dumps(main(json.loads(sys.argv[1]))))
