"""Fused module -> TFLite flatbuffer, in one of four quantizations, builtin ops only.

The module is saved as a SavedModel with the single signature ``transform`` and converted from
there, so the TFLite model carries that signature name. ``int8`` is full-integer quantization
calibrated on real windows (the representative dataset); its I/O stays float32 unless ``int8_io``
asks for integer I/O, whose scales then go into the manifest.
"""

from __future__ import annotations

import os
import tempfile
from typing import Iterable

import numpy as np

from edge_runtime.bundle import QUANTIZATIONS, SIGNATURE_NAME


def convert_module(
    module,
    quantize: str,
    calibration: np.ndarray | None = None,
    int8_io: bool = False,
) -> bytes:
    """``module`` (from :func:`converters.fuse.build_module`) -> TFLite bytes.

    ``calibration`` are physical windows ``[n, window, channels]`` (needed for ``int8``).
    """
    import tensorflow as tf

    if quantize not in QUANTIZATIONS:
        raise ValueError(f"unknown quantization {quantize!r}; known: {', '.join(QUANTIZATIONS)}")
    if int8_io and quantize != "int8":
        raise ValueError("integer I/O needs --quantize int8")
    with tempfile.TemporaryDirectory(prefix="edge-runtime-convert-") as tmp:
        saved = os.path.join(tmp, "saved_model")
        tf.saved_model.save(module, saved, signatures={SIGNATURE_NAME: module.transform.get_concrete_function()})
        converter = tf.lite.TFLiteConverter.from_saved_model(saved, signature_keys=[SIGNATURE_NAME])
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
        if quantize == "float16":
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
            converter.target_spec.supported_types = [tf.float16]
        elif quantize == "dynamic":
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
        elif quantize == "int8":
            if calibration is None or len(calibration) == 0:
                raise ValueError("int8 quantization needs calibration windows (a representative dataset)")
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
            converter.representative_dataset = _representative(calibration)
            converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
            if int8_io:
                converter.inference_input_type = tf.int8
                converter.inference_output_type = tf.int8
        return bytes(converter.convert())


def _representative(windows: np.ndarray):
    windows = np.asarray(windows, dtype=np.float32)

    def gen() -> Iterable[list[np.ndarray]]:
        for w in windows:
            yield [w[None]]

    return gen
