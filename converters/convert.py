"""A trained transform -> a verified bundle, with parity measured before anything is written.

Steps: fuse (standardise, transform, de-standardise) -> convert to TFLite in the asked quantization
(int8 calibrated on real train windows) -> run the converted graph with the LiteRT interpreter on
held-out real windows and, with the judges, recompute the privacy/utility table on its outputs and on
the Keras outputs -> check the targets -> write the bundle (manifest with every number). A missed
target raises :class:`ParityMiss` (with the table) unless explicitly allowed.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from converters.batch import parse_batch, rebatch
from converters.bundle_writer import write_bundle
from converters.flatbuffer import constant_bytes
from converters.fuse import INPUT_NAME, OUTPUT_NAME, build_module, keras_pipeline
from converters.parity import LiteRTTransform, MetricsFn, ParityReport, array_parity, compare_metrics
from converters.run_dir import RunSpec
from converters.tflite import convert_module
from converters.windows import extreme_windows
from edge_runtime.bundle import MODEL_NAME, SCHEMA_VERSION, SIGNATURE_NAME, Bundle, TensorSpec, read_tflite_io
from edge_runtime.errors import UserError


class ParityMiss(UserError):
    """The converted graph missed a parity target; the message carries the numbers."""


@dataclass
class ConversionResult:
    bundle: Bundle | None  # None when a missed target stopped the conversion
    report: ParityReport


def default_version(model: bytes) -> str:
    return f"{_dt.datetime.now(_dt.timezone.utc):%Y%m%d}.{hashlib.sha256(model).hexdigest()[:8]}"


def _io(spec: TensorSpec) -> dict[str, Any]:
    return {"name": spec.name, "shape": list(spec.shape), "dtype": spec.dtype,
            "scale": spec.scale if spec.dtype != "float32" else None,
            "zero_point": spec.zero_point if spec.dtype != "float32" else None}


def convert(
    model: Callable,
    spec: RunSpec,
    *,
    quantize: str,
    out: str | Path,
    bundle_id: str,
    holdout: np.ndarray,
    calibration: np.ndarray | None = None,
    calibration_pool: np.ndarray | None = None,
    metrics_fn: MetricsFn | None = None,
    metrics_note: str = "",
    layout: str = "nwc",
    version: str | None = None,
    description: str = "",
    source: str = "",
    data_source: str = "",
    int8_io: bool = False,
    per_channel: bool = False,
    allow_parity_miss: bool = False,
    batch: int | str = "dynamic",
    sign_key: Any = None,
    log: Callable[[str], None] = print,
) -> ConversionResult:
    """Convert ``model`` (standardised -> standardised windows) into the bundle folder ``out``.

    ``holdout`` are held-out physical windows for the difference numbers; ``calibration`` physical
    train windows (int8), to which the windows of ``calibration_pool`` (more train windows) with the
    most extreme inputs and float outputs are added. ``metrics_fn(transform_fn) -> {name: value}`` runs the judges on what a
    transform makes of the evaluation data; it is called once for Keras and once for TFLite.
    """
    import tensorflow as tf

    window, channels, length = spec.window, spec.feature_set.n_channels, spec.input_length
    holdout = np.asarray(holdout, np.float32)
    if holdout.ndim != 3 or holdout.shape[1:] != (length, channels) or len(holdout) == 0:
        raise UserError(f"held-out windows must be [n, {length}, {channels}], got {holdout.shape}")
    if calibration is not None:
        calibration = np.asarray(calibration, np.float32)
        if calibration.ndim != 3 or calibration.shape[1:] != (length, channels):
            raise UserError(f"calibration windows must be [n, {length}, {channels}], got {calibration.shape}")

    keras_fn = keras_pipeline(model, spec.norm_mean, spec.norm_std, window, channels, layout)
    n_extremes = 0
    if quantize == "int8" and calibration is not None and calibration_pool is not None and len(calibration_pool):
        pool = np.asarray(calibration_pool, np.float32)
        extremes = extreme_windows(pool, keras_fn(pool))
        calibration = np.concatenate([calibration, pool[extremes]])
        n_extremes = int(len(extremes))

    log(f"fusing standardisation + transform + de-standardisation ({spec.feature_set.name}, window {window})")
    module = build_module(model, spec.norm_mean, spec.norm_std, window, channels, layout, length)
    log(f"converting to TFLite ({quantize}"
        + (f", calibrated on {len(calibration)} real train windows" if quantize == "int8" and calibration is not None else "")
        + ")")
    tflite = convert_module(module, quantize, calibration, int8_io=int8_io, per_channel=per_channel)
    float32 = tflite if quantize == "float32" else convert_module(module, "float32")
    batch, batch_note = parse_batch(batch), None
    if batch != 1:
        try:
            tflite = rebatch(tflite, batch)
            log(f"gave the graph a batch dimension ({batch}): the same weights, outputs proven bit-identical")
        except UserError as exc:  # not provably row-wise: the bundle keeps one window per invoke
            batch, batch_note = 1, str(exc)
            log(f"keeping one window per invoke ({exc})")

    log(f"measuring parity with the LiteRT interpreter on {len(holdout)} held-out windows")
    tflite_fn = LiteRTTransform(tflite)
    parity = array_parity(keras_fn(holdout), tflite_fn(holdout))
    rows = {}
    if metrics_fn is not None:
        log("recomputing the privacy/utility table with the judges (Keras outputs, then TFLite outputs)")
        rows = compare_metrics(metrics_fn(keras_fn), metrics_fn(tflite_fn), tuple(spec.activities.get("sensitive", [])))
        if not rows:
            raise UserError("the judges returned no numeric metrics for both pipelines; nothing to compare")
    report = ParityReport(quantize, parity, len(tflite), len(float32), rows,
                          metrics_note if metrics_fn is None else "",
                          constant_bytes(tflite), constant_bytes(float32))
    log(report.format())
    if not report.targets_met and not allow_parity_miss:
        raise ParityMiss(
            "parity target(s) missed: " + "; ".join(report.missed())
            + " (numbers above; pass --allow-parity-miss to write the bundle anyway)"
        )

    (inp,), (outp,) = read_tflite_io(tflite)[SIGNATURE_NAME]
    if inp.name != INPUT_NAME or outp.name != OUTPUT_NAME:
        raise RuntimeError(f"converted signature has I/O {inp.name!r}/{outp.name!r}, expected {INPUT_NAME!r}/{OUTPUT_NAME!r}")
    from edge_runtime import __version__

    manifest = {
        "schema_version": SCHEMA_VERSION,
        "id": bundle_id,
        "version": version or default_version(tflite),
        "description": description,
        "feature_set": spec.feature_set.name,
        "channels": list(spec.channels),
        "units": list(spec.units),
        "sample_rate": spec.sample_rate,
        "window": window,
        "stride": spec.stride,
        **({"context": {"before": spec.context[0], "after": spec.context[1]}} if spec.context != (0, 0) else {}),
        **({"keeps": list(spec.keeps)} if spec.keeps else {}),
        "activities": spec.activities,
        "protected": spec.protected,
        "norm": {"mean": [float(v) for v in spec.norm_mean], "std": [float(v) for v in spec.norm_std]},
        "quantization": quantize,
        "model": {"file": MODEL_NAME, "signature": SIGNATURE_NAME, "input": _io(inp), "output": _io(outp),
                  **({"batch": batch} if batch != 1 else {})},
        "files": {},
        "training": {"recipe": spec.recipe, "data_sha256": spec.data_sha256, "config": spec.config,
                     "metrics": spec.metrics},
        "conversion": {
            "created": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "tool": f"edge-runtime {__version__}",
            "tensorflow": tf.__version__,
            "source": source,
            "layout": layout,
            "int8_weights": ("per-channel" if per_channel else "per-tensor") if quantize == "int8" else None,
            "calibration": {"windows": 0 if calibration is None or quantize != "int8" else int(len(calibration)),
                            "extreme_windows": n_extremes, "source": data_source},
            **report.to_manifest(),
            **({"batch": {"batch": 1, "why": batch_note}} if batch_note else {}),
        },
    }
    bundle = write_bundle(out, manifest, {MODEL_NAME: tflite}, sign_key=sign_key)
    log(f"wrote bundle {bundle.id} {bundle.version} -> {bundle.path}, "
        + (f"signed by {bundle.signer}" if sign_key is not None else
           "UNSIGNED: the runtime refuses it until 'edge-runtime sign BUNDLE --key KEY' signs it"))
    return ConversionResult(bundle, report)
