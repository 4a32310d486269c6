"""Shared helpers for the engine tests: tiny real bundles around the fixture models (no tests here).

The models in ``tests/fixtures/engine/`` are real TFLite flatbuffers made by ``make_models.py``; a
bundle is written around one exactly as the converter does (manifest + checksums), so the engine
under test loads it through the real, verifying :func:`edge_runtime.bundle.load_bundle`.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

from edge_runtime.bundle import Bundle, load_bundle, quantization_of, read_tflite_io, read_tflite_tensor_types
from edge_runtime.features import feature_set
from edge_runtime.testing import sign_for_tests

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "engine"
MAGIC_LIMIT = 100.0  # acc magnitude above which the gather_oob / dynamic models fail


def model_bytes(name: str) -> bytes:
    return (FIXTURES / f"{name}.tflite").read_bytes()


def make_bundle(
    folder: Path,
    model: str,
    *,
    feature_set_name: str = "mag2",
    bundle_id: str = "test-bundle",
    version: str = "1.0.test",
    sample_rate: float = 50.0,
    stride: int = 10,
    quantization: str | None = None,
    context: tuple[int, int] | None = None,
) -> Bundle:
    """Write a bundle folder around fixture model ``model``, sign it with the tests' throwaway key and
    load it (verified). ``quantization`` defaults to what the model's tensors are; ``context``
    ``(before, after)`` for a model that takes its window with context."""
    data = model_bytes(model)
    (inp,), (out,) = read_tflite_io(data)["transform"]
    fs = feature_set(feature_set_name)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "model.tflite").write_bytes(data)

    def spec(t):
        return {"name": t.name, "shape": list(t.shape), "dtype": t.dtype, "scale": t.scale, "zero_point": t.zero_point}

    manifest = {
        "schema_version": 1,
        "id": bundle_id,
        "version": version,
        "description": f"engine test bundle around {model}",
        "feature_set": fs.name,
        "channels": list(fs.channels),
        "units": list(fs.units),
        "sample_rate": sample_rate,
        "window": int(out.shape[1]) if context else int(inp.shape[1]),
        **({"context": {"before": context[0], "after": context[1]}} if context else {}),
        "stride": stride,
        "activities": {"required": ["dws", "ups", "wlk"], "sensitive": ["jog"], "neutral": ["std"]},
        "protected": ["gender"],
        "norm": {"mean": [1.0] * fs.n_channels, "std": [0.5] * fs.n_channels},
        "quantization": quantization or quantization_of(*read_tflite_tensor_types(data)),
        "model": {"file": "model.tflite", "signature": "transform", "input": spec(inp), "output": spec(out)},
        "files": {"model.tflite": hashlib.sha256(data).hexdigest()},
        "training": {"recipe": "test", "data_sha256": "0" * 64, "config": {}, "metrics": {}},
        "conversion": {"tool": "tests/test_engine_support.py"},
    }
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=2))
    sign_for_tests(folder)
    return load_bundle(folder)


def affine_mag2(features: np.ndarray) -> np.ndarray:
    """What ``affine_mag2_w128`` computes, in numpy."""
    return features * np.array([0.5, 2.0], np.float32) + np.array([0.25, -1.0], np.float32)


def walking_raw(n: int, rate: float = 50.0, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``t[n]``, ``raw[n, 6]``: a plausible pocket IMU signal (g with gravity, rad/s)."""
    rng = np.random.default_rng(seed)
    t = np.arange(n) / rate
    phase = 2 * np.pi * 1.8 * t
    acc = np.stack([0.3 * np.sin(phase), -1.0 + 0.4 * np.cos(phase), 0.2 * np.sin(2 * phase)], axis=1)
    gyro = np.stack([1.5 * np.sin(phase + 0.3), 0.8 * np.cos(phase), 0.5 * np.sin(0.5 * phase)], axis=1)
    raw = np.concatenate([acc, gyro], axis=1) + rng.normal(0, 0.02, (n, 6))
    return t, raw.astype(np.float32)
