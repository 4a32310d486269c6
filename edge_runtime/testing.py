"""Testing utilities: signed bundles without a real signing key, around any TFLite model.

``throwaway_key()`` is an Ed25519 key made once per process and never written anywhere but a
temporary folder; ``sign_for_tests(folder)`` signs a bundle with it and ``trusted_keys_dir(tmp)``
writes its public key into a folder meant for ``$EDGE_RUNTIME_TRUSTED_KEYS``, so the bundles a
test writes load through the real, verifying :func:`edge_runtime.bundle.load_bundle` (in the test
process and in the CLI subprocesses it starts). ``tests/conftest.py`` sets this up for the suite.

``make_bundle(folder, model)`` writes a bundle around a model exactly as the converter does (manifest
+ checksums), signs it with the throwaway key and loads it verified; ``model`` is the flatbuffer's
bytes, a ``.tflite`` path, or a bare name looked up in ``MODEL_DIRS`` (the suite adds its fixture
models, ``tests/fixtures/engine/``). ``numbered_envelopes(device, seqs)``: envelopes around windows whose
values are their sequence number, for sink and spool tests.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from edge_runtime.bundle import Bundle, load_bundle, quantization_of, read_tflite_io, read_tflite_tensor_types
from edge_runtime.features import feature_set
from edge_runtime.signing import PUBLIC_SUFFIX, Trust, generate_key, key_id, sign_bundle, write_public_key

_KEY = None


def throwaway_key():
    global _KEY
    if _KEY is None:
        _KEY = generate_key()
    return _KEY


def throwaway_trust() -> Trust:
    public = throwaway_key().public_key()
    return Trust({key_id(public): public})


def sign_for_tests(folder: str | Path) -> str:
    """Sign the bundle in ``folder`` with the throwaway key (after writing or editing its manifest)."""
    return sign_bundle(folder, throwaway_key())


def trusted_keys_dir(folder: str | Path) -> Path:
    """A keys folder holding the throwaway key's public key (for ``$EDGE_RUNTIME_TRUSTED_KEYS``)."""
    public = throwaway_key().public_key()
    write_public_key(public, Path(folder) / f"throwaway-{key_id(public)}{PUBLIC_SUFFIX}")
    return Path(folder)


def throwaway_key_file(folder: str | Path) -> Path:
    """The throwaway private key as a file in ``folder`` (for ``convert --sign`` / ``sign --key`` in tests)."""
    from edge_runtime.signing import write_private_key

    path = Path(folder) / "throwaway.key"
    return path if path.exists() else write_private_key(throwaway_key(), path)


MODEL_DIRS: list[Path] = []  # where make_bundle / model_bytes look up a bare model name


def model_bytes(model: str | Path | bytes) -> bytes:
    """A model's flatbuffer: ``bytes`` as given, a ``.tflite`` path, or a bare name found in ``MODEL_DIRS``."""
    if isinstance(model, bytes):
        return model
    if Path(model).suffix == ".tflite":
        return Path(model).read_bytes()
    for folder in MODEL_DIRS:
        if (folder / f"{model}.tflite").is_file():
            return (folder / f"{model}.tflite").read_bytes()
    raise FileNotFoundError(f"no model {model!r} in {[str(d) for d in MODEL_DIRS]}")


def make_bundle(
    folder: str | Path,
    model: str | Path | bytes,
    *,
    feature_set_name: str = "mag2",
    bundle_id: str = "test-bundle",
    version: str = "1.0.test",
    sample_rate: float = 50.0,
    stride: int = 10,
    quantization: str | None = None,
    context: tuple[int, int] | None = None,
) -> Bundle:
    """Write a bundle folder around ``model``, sign it with the throwaway key and load it (verified).
    ``quantization`` defaults to what the model's tensors are; ``context`` ``(before, after)`` for a
    model that takes its window with context."""
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
        "description": f"test bundle around {model if isinstance(model, str) else 'a model'}",
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
        "conversion": {"tool": "edge_runtime.testing.make_bundle"},
    }
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=2))
    sign_for_tests(folder)
    return load_bundle(folder)


def numbered_window(device: str, seq: int):
    """A transformed mag2 window of 128 samples whose every value is ``seq``."""
    import numpy as np

    from edge_runtime.transformed_window import TransformedWindow

    values = np.full((128, 2), seq, dtype=np.float32)
    return TransformedWindow(device, seq, seq * 2.56, 50.0, ("gyro_magnitude", "acc_magnitude"), ("rad/s", "g"),
                             values, "test-bundle", "1")


def numbered_envelopes(device: str, seqs) -> list:
    """One envelope per sequence number in ``seqs`` (``numbered_window``)."""
    from edge_runtime.sinks.envelope import Envelope

    return [Envelope.wrap(numbered_window(device, s)) for s in seqs]


def wait_until(condition, timeout: float = 120.0, interval: float = 0.05, what=lambda: ""):
    """Poll ``condition()`` until it returns something truthy, and return that: a test waits on the
    event itself, never a fixed sleep. ``timeout`` only bounds a hang, so it is generous (a loaded
    two-core machine); on expiry an AssertionError carries ``what()`` (e.g. a log tail)."""
    import time

    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not reached in {timeout:g} s" + (f": {what()}" if what() else ""))
        time.sleep(interval)


async def async_wait_until(condition, timeout: float = 120.0, interval: float = 0.05, what=lambda: ""):
    """``wait_until`` inside an event loop: the loop keeps running while it polls; ``condition`` may
    be a coroutine function."""
    import asyncio
    import inspect

    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        value = condition()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return value
        if loop.time() > deadline:
            raise AssertionError(f"not reached in {timeout:g} s" + (f": {what()}" if what() else ""))
        await asyncio.sleep(interval)
