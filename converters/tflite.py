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
    per_channel: bool = False,
    signature: str = SIGNATURE_NAME,
) -> bytes:
    """``module`` (from :func:`converters.fuse.build_module`) -> TFLite bytes.

    ``calibration`` are physical windows ``[n, window, channels]`` (needed for ``int8``).
    int8 weights are quantized per tensor unless ``per_channel``: per-channel scale and zero-point
    arrays (8-byte zero points) are a large share of a small model's file (gender run: 0.39x vs 0.30x
    the float32 size) and bought no measurable parity on the trained transforms; the judge table at
    conversion is what decides. Tensor debug names are dropped in every case. ``signature`` names
    the exported ``module.transform`` (a bundle's is ``transform``; the demo's judges use ``classify``).
    """
    import tensorflow as tf

    if quantize not in QUANTIZATIONS:
        raise ValueError(f"unknown quantization {quantize!r}; known: {', '.join(QUANTIZATIONS)}")
    if int8_io and quantize != "int8":
        raise ValueError("integer I/O needs --quantize int8")
    with tempfile.TemporaryDirectory(prefix="edge-runtime-convert-") as tmp:
        saved = os.path.join(tmp, "saved_model")
        tf.saved_model.save(module, saved, signatures={signature: module.transform.get_concrete_function()})
        converter = tf.lite.TFLiteConverter.from_saved_model(saved, signature_keys=[signature])
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
            if not per_channel:
                converter._experimental_disable_per_channel = True  # no public switch in TF 2.21
            if int8_io:
                converter.inference_input_type = tf.int8
                converter.inference_output_type = tf.int8
        return strip_tensor_names(bytes(converter.convert()))


def strip_tensor_names(model: bytes) -> bytes:
    """Drop the TensorFlow debug names of tensors (often most of a small model's non-weight bytes).

    The signature keeps its own input/output names (``window``/``transformed``), which is what
    callers use; the interpreter does not need tensor names. Uses LiteRT's own flatbuffer utilities.
    """
    from converters.flatbuffer import read_model, write_model

    obj = read_model(model)
    for subgraph in obj.subgraphs:
        for i, tensor in enumerate(subgraph.tensors):
            tensor.name = f"t{i}"
    return write_model(obj)


def _representative(windows: np.ndarray):
    windows = np.asarray(windows, dtype=np.float32)

    def gen() -> Iterable[list[np.ndarray]]:
        for w in windows:
            yield [w[None]]

    return gen
