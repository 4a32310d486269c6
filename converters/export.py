"""Mobile export: what an Android or iOS app team needs to run a bundle, and to check it runs right.

``DIR/<id>.tflite``        the bundle's model with the manifest embedded as TFLite metadata
                           (entry ``edge_runtime_manifest``, JSON), readable with any flatbuffer reader
``DIR/input_contract.json`` machine-readable input/output contract
``DIR/parity_check.json``   check windows and the outputs this model must give (with a tolerance)
``DIR/INTEGRATION.md``      a short integration guide for the target platform

Needs only LiteRT and numpy (no TensorFlow): the check outputs come from the LiteRT interpreter.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np

from converters.metadata import embed_metadata
from edge_runtime.bundle import METADATA_NAME, Bundle, embedded_manifest

TARGETS = ("android", "ios")
CONTRACT_VERSION = 1
N_CHECK_WINDOWS = 3


def check_windows(bundle: Bundle, n: int = N_CHECK_WINDOWS) -> np.ndarray:
    """Deterministic, plausible model inputs ``[n, input_length, channels]`` (the window with its context,
    if the bundle has one): around the training mean, within ~1 std."""
    t = np.arange(bundle.input_length, dtype=np.float64) / bundle.sample_rate
    out = np.empty((n, bundle.input_length, bundle.n_channels), dtype=np.float32)
    for i in range(n):
        for c in range(bundle.n_channels):
            f = 1.0 + 0.5 * i + 0.25 * c  # 1-2.5 Hz: gait-like
            wave = 0.8 * np.sin(2 * np.pi * f * t + 0.7 * c) + 0.2 * np.sin(2 * np.pi * 3 * f * t)
            out[i, :, c] = bundle.norm_mean[c] + bundle.norm_std[c] * wave
    return out


def tolerance(bundle: Bundle) -> list[float]:
    """Per-channel absolute tolerance for an app's outputs vs ours (other kernels round differently)."""
    rel = {"float32": 1e-4, "float16": 1e-2, "dynamic": 1e-2, "int8": 5e-2}[bundle.quantization]
    return [float(max(rel * s, 1e-5)) for s in bundle.norm_std]


def contract(bundle: Bundle, model_file: str, model_sha256: str) -> dict[str, Any]:
    m = bundle.manifest
    fs = bundle.feature_set

    def side(spec, name: str) -> dict[str, Any]:
        return {
            "name": spec.name,
            "shape": list(spec.shape),
            "layout": f"[batch=1, time={spec.shape[1]} samples (oldest first), channel]",
            "dtype": spec.dtype,
            "quantization": None if spec.dtype == "float32" else
            {"scale": spec.scale, "zero_point": spec.zero_point, "real_value": "scale * (q - zero_point)"},
            "channels": [{"index": i, "name": c, "unit": u} for i, (c, u) in enumerate(zip(bundle.channels, bundle.units))],
            "what": name,
        }

    return {
        "contract_version": CONTRACT_VERSION,
        "bundle_id": bundle.id,
        "bundle_version": bundle.version,
        "model_file": model_file,
        "model_sha256": model_sha256,
        "embedded_manifest_metadata": METADATA_NAME,
        "signature": bundle.signature,
        "sample_rate_hz": bundle.sample_rate,
        "window_samples": bundle.window,
        "window_seconds": bundle.window / bundle.sample_rate,
        "release_stride_samples": bundle.stride,
        # the input is the window with this many samples before and after it; the output is the window
        "context_before_samples": bundle.context_before,
        "context_after_samples": bundle.context_after,
        "release_delay_seconds": bundle.context_after / bundle.sample_rate,
        "feature_set": {"name": fs.name, "description": fs.description},
        "input": side(bundle.input, "sensor features in physical units, NOT standardised (the graph standardises)"),
        "output": side(bundle.output, "transformed window, same units, shape and channel order as the input"),
        "quantization": bundle.quantization,
        "activities": m["activities"],
        "protected": m["protected"],
        "parity_check": "parity_check.json",
    }


def export_bundle(bundle: Bundle, target: str, out: str | Path) -> dict[str, Path]:
    """Write the export for ``target`` into folder ``out``; returns {kind: path}."""
    from converters.parity import LiteRTTransform

    if target not in TARGETS:
        raise ValueError(f"unknown target {target!r}; known: {', '.join(TARGETS)}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    manifest_bytes = json.dumps(bundle.manifest, sort_keys=True, separators=(",", ":")).encode()
    model = embed_metadata(bundle.read_model(), METADATA_NAME, manifest_bytes)
    if embedded_manifest(model) != bundle.manifest:  # read it back the way an app would
        raise RuntimeError("the embedded manifest does not read back identically")
    model_name = f"{bundle.id}.tflite"
    sha = hashlib.sha256(model).hexdigest()

    x = check_windows(bundle)
    y = LiteRTTransform(model, bundle.signature)(x)
    reference = LiteRTTransform(bundle.read_model(), bundle.signature)(x)
    if not np.array_equal(y, reference):
        raise RuntimeError("the exported model's outputs differ from the bundle's")
    check = {
        "bundle_id": bundle.id,
        "bundle_version": bundle.version,
        "note": "synthetic windows around the training mean; outputs from the LiteRT CPU interpreter",
        "tolerance_abs_per_channel": tolerance(bundle),
        "inputs": np.round(x.astype(np.float64), 7).tolist(),
        "expected_outputs": np.round(y.astype(np.float64), 7).tolist(),
    }
    paths = {
        "model": out / model_name,
        "contract": out / "input_contract.json",
        "parity_check": out / "parity_check.json",
        "guide": out / "INTEGRATION.md",
    }
    paths["model"].write_bytes(model)
    paths["contract"].write_text(json.dumps(contract(bundle, model_name, sha), indent=2) + "\n")
    paths["parity_check"].write_text(json.dumps(check) + "\n")
    paths["guide"].write_text(integration_guide(bundle, target, model_name))
    return paths


def integration_guide(bundle: Bundle, target: str, model_name: str) -> str:
    w, c, n_in = bundle.window, bundle.n_channels, bundle.input_length
    before, after = bundle.context_before, bundle.context_after
    order = "\n".join(f"{i}. `{n}` in **{u}**" for i, (n, u) in enumerate(zip(bundle.channels, bundle.units)))
    io_note = (
        "Input and output are **float32**: feed physical values, get physical values back."
        if bundle.input.dtype == "float32" else
        f"Input and output are **{bundle.input.dtype}**: quantize the input as "
        f"`q = round(x / {bundle.input.scale:.8g}) + {bundle.input.zero_point}` and dequantize the output as "
        f"`y = {bundle.output.scale:.8g} * (q - {bundle.output.zero_point})` (also in `input_contract.json`)."
    )
    context_note = "" if not (before or after) else f"""
- Context: the input is the window **with {before} samples before it and {after} after it**
  ({before} + {w} + {after} = {n_in}); the output is the window alone. So a window is released
  {after / bundle.sample_rate:g} s after its last sample, once its look-ahead has arrived. At the start and end of a
  stream, hold the stream's edge sample for the missing samples (numpy's `edge`: sample `-k` is sample `0`,
  sample `n - 1 + k` is sample `n - 1`), so every window is released, the first and the last included. Do not
  mirror the stream there: a mirror image puts a step on the stream's first sample."""
    common = f"""# Integrating `{bundle.id}` {bundle.version} ({target})

`{model_name}` is one TFLite graph: a raw window of sensor features in, the privacy-transformed window
out, same units and channel order. Standardisation and de-standardisation are inside the graph, and so is
everything that decides what leaves: the app releases the output and nothing else.

## Input contract

- Signature **`{bundle.signature}`**: input `{bundle.input.name}` of shape `[1, {n_in}, {c}]`, output
  `{bundle.output.name}` of shape `[1, {w}, {c}]` = `[batch, time, channel]`, time oldest sample first. The graph
  has exactly one input and one output, so input/output tensor 0 are the signature's too.{context_note}
- Channels, in this order:
{order}
- Feature set `{bundle.feature_set.name}`: {bundle.feature_set.description}.
  Acceleration is in g **including gravity**, angular rate in rad/s.
- Sample rate **{bundle.sample_rate:g} Hz** (resample to it); window **{w} samples** ({w / bundle.sample_rate:g} s);
  run one window every **{bundle.stride} samples** (release stride) and release only the output.
- {io_note}
- Quantization: `{bundle.quantization}`.

The full bundle manifest (training data checksum, parity measured at conversion, activities, protected
attributes) is embedded in the model as TFLite metadata named `{METADATA_NAME}` (UTF-8 JSON): read
`Model.metadata[i]` with that name and its `buffers[metadata.buffer].data` using the flatbuffer classes
generated from the TFLite `schema.fbs` (Java/Kotlin `org.tensorflow.lite.schema`, or `flatc`-generated
Swift), or on a workstation `edge_runtime.bundle.embedded_manifest(open(path, "rb").read())`.
"""
    if target == "android":
        code = f"""
## Android (Kotlin, LiteRT)

```kotlin
// build.gradle.kts: implementation("com.google.ai.edge.litert:litert:1.4.0")  (or org.tensorflow:tensorflow-lite)
import org.tensorflow.lite.Interpreter

val bytes = context.assets.open("{model_name}").readBytes()
val model = java.nio.ByteBuffer.allocateDirect(bytes.size).order(java.nio.ByteOrder.nativeOrder()).put(bytes)
val interpreter = Interpreter(model)

val input = arrayOf(Array({n_in}) {{ FloatArray({c}) }})   // [1][{n_in}][{c}], channels in the order above
val output = arrayOf(Array({w}) {{ FloatArray({c}) }})
interpreter.runSignature(mapOf("{bundle.input.name}" to input), mapOf("{bundle.output.name}" to output), "{bundle.signature}")
```

Put `{model_name}` under `app/src/main/assets/` and keep it uncompressed (`androidResources {{ noCompress += "tflite" }}`).
"""
    else:
        code = f"""
## iOS (Swift, LiteRT / TensorFlowLiteSwift)

```swift
// Podfile: pod 'TensorFlowLiteSwift'
import TensorFlowLite

let path = Bundle.main.path(forResource: "{bundle.id}", ofType: "tflite")!
let interpreter = try Interpreter(modelPath: path)
try interpreter.allocateTensors()
var window = [Float](repeating: 0, count: {n_in} * {c})   // row-major [time][channel], channels in the order above
let data = window.withUnsafeBufferPointer {{ Data(buffer: $0) }}
try interpreter.copy(data, toInputAt: 0)
try interpreter.invoke()
let out = try interpreter.output(at: 0)
let transformed = out.data.withUnsafeBytes {{ Array($0.bindMemory(to: Float.self)) }}  // {w} * {c} floats
```

Add `{model_name}` to the app target's resources.
"""
    check = f"""
## Checking parity on the device

`parity_check.json` holds {N_CHECK_WINDOWS} inputs (`inputs`, `[n][{n_in}][{c}]`) and the outputs this model gives on
the LiteRT CPU interpreter (`expected_outputs`). Run each input through the app's interpreter and compare
element-wise: every `|app - expected|` must be within `tolerance_abs_per_channel[channel]` (other kernels and
delegates round differently; a larger difference means wrong channel order, units, layout or a broken model).
Also check the file: its SHA-256 must be `model_sha256` from `input_contract.json`.
"""
    return common + code + check
