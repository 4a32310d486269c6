"""Model bundles: a folder with ``manifest.json`` and the fused ``model.tflite``, verified before use.

A bundle is how a privacy transform leaves the workstation. The manifest says exactly what the model
expects (feature set, channel order and units, sample rate, window, release stride), what it was
trained for, how it was quantized and what parity was measured at conversion; it also holds the
SHA-256 of every other file, and ``manifest.sig`` signs the manifest's bytes (``edge_runtime.signing``).
:func:`load_bundle` refuses anything that does not check out (no signature by a trusted key, a wrong
checksum, a missing file, an unknown schema version, a manifest that disagrees with its feature set
or with what the model's flatbuffer holds: tensor shapes, dtypes, quantization, size), so the runtime
can fail closed. A bare name only ever means a shipped bundle (or one under a configured bundles
folder); a local folder must be given as a path. The model's tensors are read straight from the
TFLite flatbuffer with the standard library (LiteRT's generated ``schema_py_generated`` costs ~20 ms
of import and is absent where only ``tflite_runtime`` installs, e.g. armv7; a test checks this reader
against it), so verification needs no interpreter and no TensorFlow. The schema is documented in
``docs/bundles.md``.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edge_runtime.errors import BundleError
from edge_runtime.features import FEATURE_SETS, FeatureSet
from edge_runtime.signing import (SIGNATURE_FILE, UNSIGNED_WARNING, Signer, Trust, default_trust, trust_from_args,
                                  verify_signature)

SCHEMA_VERSION = 1
SUPPORTED_SCHEMA_VERSIONS = (1,)
MANIFEST_NAME = "manifest.json"
MODEL_NAME = "model.tflite"
SIGNATURE_NAME = "transform"
METADATA_NAME = "edge_runtime_manifest"  # the TFLite metadata entry that mobile exports embed
QUANTIZATIONS = ("float32", "float16", "dynamic", "int8")
IO_DTYPES = ("float32", "int8", "uint8")
SHIPPED_DIR = Path(__file__).resolve().parent / "bundles"
MAX_MANIFEST_BYTES = 1 << 20  # real manifests are ~10 kB; anything this big is not one
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


# --------------------------------------------------------------------------------------------
# The bundle


@dataclass(frozen=True)
class TensorSpec:
    """One model input or output as the manifest declares it (and the model must agree)."""

    name: str
    shape: tuple[int, ...]
    dtype: str  # "float32", or "int8"/"uint8" for integer I/O
    scale: float | None = None  # real = scale * (q - zero_point), integer I/O only
    zero_point: int | None = None
    batch_dim: int | None = None  # the model's own batch dimension: -1 when dynamic (model side only)

    def quantize(self, x: np.ndarray) -> np.ndarray:
        """Physical float values -> what this tensor takes (identity for float I/O)."""
        x = np.asarray(x, dtype=np.float32)
        if self.dtype == "float32":
            return x
        info = np.iinfo(self.dtype)
        q = np.round(x / self.scale) + self.zero_point
        return np.clip(q, info.min, info.max).astype(self.dtype)

    def dequantize(self, q: np.ndarray) -> np.ndarray:
        """What this tensor holds -> physical float values (identity for float I/O)."""
        if self.dtype == "float32":
            return np.asarray(q, dtype=np.float32)
        return ((np.asarray(q, dtype=np.float32) - self.zero_point) * self.scale).astype(np.float32)


@dataclass(frozen=True)
class Bundle:
    """A verified bundle. Construct it with :func:`load_bundle`, never by hand."""

    path: Path
    manifest: dict[str, Any]
    signer: Signer | None = None  # who signed it (key id), or Signer(None) if let through unsigned

    @property
    def model_path(self) -> Path:
        return self.path / self.manifest["model"]["file"]

    @property
    def id(self) -> str:
        return self.manifest["id"]

    @property
    def version(self) -> str:
        return self.manifest["version"]

    @property
    def feature_set(self) -> FeatureSet:
        return FEATURE_SETS[self.manifest["feature_set"]]

    @property
    def sample_rate(self) -> float:
        return float(self.manifest["sample_rate"])

    @property
    def window(self) -> int:
        return int(self.manifest["window"])

    @property
    def stride(self) -> int:
        return int(self.manifest["stride"])

    @property
    def context_before(self) -> int:
        """Samples the graph sees before the window (0 for a window-only model)."""
        return int(self.manifest.get("context", {}).get("before", 0))

    @property
    def context_after(self) -> int:
        """Samples the graph sees after the window: the look-ahead a window waits for."""
        return int(self.manifest.get("context", {}).get("after", 0))

    @property
    def input_length(self) -> int:
        return self.context_before + self.window + self.context_after

    @property
    def keeps(self) -> tuple[str, ...]:
        """What the output is declared to carry of the wearer (e.g. activity, step_timing)."""
        return tuple(self.manifest.get("keeps", ()))

    @property
    def channels(self) -> tuple[str, ...]:
        return tuple(self.manifest["channels"])

    @property
    def units(self) -> tuple[str, ...]:
        return tuple(self.manifest["units"])

    @property
    def n_channels(self) -> int:
        return len(self.manifest["channels"])

    @property
    def signature(self) -> str:
        return self.manifest["model"]["signature"]

    @property
    def quantization(self) -> str:
        return self.manifest["quantization"]

    @property
    def input(self) -> TensorSpec:
        return _tensor_spec(self.manifest["model"]["input"])

    @property
    def output(self) -> TensorSpec:
        return _tensor_spec(self.manifest["model"]["output"])

    @property
    def batch(self) -> int | str:
        """Windows per invoke the model takes: 1, a fixed ``N``, or ``"dynamic"`` (any number)."""
        return self.manifest["model"].get("batch", 1)

    @property
    def norm_mean(self) -> np.ndarray:
        return np.asarray(self.manifest["norm"]["mean"], dtype=np.float32)

    @property
    def norm_std(self) -> np.ndarray:
        return np.asarray(self.manifest["norm"]["std"], dtype=np.float32)

    def read_model(self) -> bytes:
        """The model's bytes, re-checked against the manifest (the file may change after loading)."""
        data = self.model_path.read_bytes()
        want = self.manifest["files"][self.manifest["model"]["file"]]
        if hashlib.sha256(data).hexdigest() != want:
            raise BundleError(f"{self.model_path}: checksum changed since the bundle was verified; refusing it")
        return data


def _tensor_spec(d: dict[str, Any]) -> TensorSpec:
    return TensorSpec(
        name=d["name"],
        shape=tuple(int(v) for v in d["shape"]),
        dtype=d["dtype"],
        scale=None if d.get("scale") is None else float(d["scale"]),
        zero_point=None if d.get("zero_point") is None else int(d["zero_point"]),
    )


def shipped_bundles() -> list[str]:
    """Names of the bundles shipped inside the package (``edge_runtime/bundles/<name>/``)."""
    if not SHIPPED_DIR.is_dir():
        return []
    return sorted(p.name for p in SHIPPED_DIR.iterdir() if _NAME.match(p.name) and (p / MANIFEST_NAME).is_file())


def looks_like_path(ref: str | Path) -> bool:
    """``./x``, ``/x``, ``~/x``, ``a/b``: a folder. A bare ``x`` is a bundle name, never a local folder."""
    if isinstance(ref, Path):
        return True
    ref = str(ref)
    return ref.startswith((".", "~")) or "/" in ref or os.sep in ref or (os.altsep or "/") in ref


def resolve_bundle_path(name_or_path: str | Path, bundles_dir: str | Path | None = None) -> Path:
    """A bundle folder (or its manifest.json) given as a path, else a bundle name -> its folder.

    A name is looked up under ``bundles_dir`` (an operator's bundles folder, when configured) and
    then among the shipped bundles, and nowhere else: a folder of the same name in the working
    directory is never used, so a writable working directory cannot shadow a shipped bundle.
    """
    if looks_like_path(name_or_path):
        p = Path(name_or_path).expanduser()
        if p.name == MANIFEST_NAME and p.is_file():
            return p.parent
        if not p.is_dir():
            raise BundleError(f"{name_or_path}: no such bundle folder")
        return p
    name = str(name_or_path)
    shipped = shipped_bundles()
    known = f"shipped bundles: {', '.join(shipped)}" if shipped else "no bundles are shipped in this install"
    if not _NAME.match(name):
        raise BundleError(f"{name!r}: not a bundle name ({known}); give a folder as a path, e.g. ./{name}")
    for root in ([Path(bundles_dir).expanduser()] if bundles_dir else []) + [SHIPPED_DIR]:
        if (root / name / MANIFEST_NAME).is_file():
            return root / name
    where = f"{bundles_dir} or the " if bundles_dir else ""
    hint = f"; to use the local folder, give it as a path: ./{name}" if Path(name).is_dir() else ""
    raise BundleError(f"{name}: no bundle of that name in {where}shipped bundles ({known}){hint}")


def read_manifest_bytes(path: Path) -> bytes:
    """The manifest's bytes, refusing anything larger than :data:`MAX_MANIFEST_BYTES`."""
    manifest_path = path / MANIFEST_NAME
    if not manifest_path.is_file():
        raise BundleError(f"{path}: not a bundle, {MANIFEST_NAME} is missing")
    with open(manifest_path, "rb") as fh:
        data = fh.read(MAX_MANIFEST_BYTES + 1)
    if len(data) > MAX_MANIFEST_BYTES:
        raise BundleError(f"{manifest_path}: larger than {MAX_MANIFEST_BYTES} bytes; not a bundle manifest")
    return data


def manifest_text(manifest: dict[str, Any]) -> str:
    """The one text form of a manifest (what the converter writes and what a signature covers)."""
    return json.dumps(manifest, indent=2, allow_nan=False) + "\n"


def write_manifest(folder: Path, manifest: dict[str, Any]) -> None:
    """Replace ``folder``'s manifest atomically (its old signature no longer matches: sign it again)."""
    tmp = folder / (MANIFEST_NAME + ".tmp")
    tmp.write_text(manifest_text(manifest), encoding="utf-8")
    os.replace(tmp, folder / MANIFEST_NAME)


def parse_manifest(data: bytes, where: str = MANIFEST_NAME) -> dict[str, Any]:
    """Bytes -> a validated manifest dict; anything malformed is a :class:`BundleError`."""
    try:
        manifest = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:  # ValueError: JSON, huge integers
        raise BundleError(f"{where}: not valid JSON ({str(exc)[:200]})") from None
    if not isinstance(manifest, dict):
        raise BundleError(f"{where}: the manifest must be a JSON object")
    try:
        validate_manifest(manifest, where=where)
    except BundleError:
        raise
    except (TypeError, ValueError, KeyError, AttributeError, OverflowError, RecursionError) as exc:
        raise BundleError(f"{where}: malformed manifest ({type(exc).__name__}: {str(exc)[:200]})") from None
    return manifest


def load_bundle(name_or_path: str | Path, trust: Trust | None = None,
                bundles_dir: str | Path | None = None) -> Bundle:
    """Resolve, read and fully verify a bundle; raise :class:`BundleError` naming the first problem.

    ``trust`` says whose signatures are accepted (default: :func:`edge_runtime.signing.default_trust`,
    the shipped project key and the keys folder; unsigned bundles refused). The signature is checked
    first, over the very bytes that are then parsed.
    """
    path = resolve_bundle_path(name_or_path, bundles_dir)
    data = read_manifest_bytes(path)
    signer = verify_signature(path, data, default_trust() if trust is None else trust)
    return Bundle(path=path, manifest=verify_contents(path, data), signer=signer)


def load_bundle_from_args(ref, args, prog: str):
    """Bundle ``ref`` verified against the trust that ``args`` (:func:`add_trust_arguments`) asks for;
    an unsigned one let through by ``--allow-unsigned`` is said on stderr, prefixed with ``prog``."""
    import sys

    bundle = load_bundle(ref, trust=trust_from_args(args))
    if bundle.signer.key_id is None:
        print(f"{prog}: {UNSIGNED_WARNING.format(bundle=bundle.id)}", file=sys.stderr)
    return bundle


def verify_contents(path: Path, manifest_bytes: bytes) -> dict[str, Any]:
    """Everything but the signature: the manifest, every file's checksum, the model's flatbuffer.
    (``edge-runtime sign`` checks this before signing; everything else goes through :func:`load_bundle`.)"""
    where = str(path / MANIFEST_NAME)
    manifest = parse_manifest(manifest_bytes, where)
    _verify_files(path, manifest, where)
    model_file = path / manifest["model"]["file"]
    _verify_model(model_file.read_bytes(), manifest, where=str(model_file))
    return manifest


# --------------------------------------------------------------------------------------------
# Manifest checks (also used by the converter before it writes one)


def validate_manifest(m: dict[str, Any], where: str = MANIFEST_NAME) -> None:
    """Check the manifest's schema version, types and internal consistency (no file access)."""

    def fail(msg: str) -> None:
        raise BundleError(f"{where}: {msg}")

    def need(key: str, types: type | tuple[type, ...], d: dict[str, Any] = m, ctx: str = "") -> Any:
        if key not in d:
            fail(f"missing field '{ctx}{key}'")
        if isinstance(d[key], bool) or not isinstance(d[key], types):
            fail(f"field '{ctx}{key}' has the wrong type ({type(d[key]).__name__})")
        return d[key]

    version = m.get("schema_version")
    if version not in SUPPORTED_SCHEMA_VERSIONS:
        fail(
            f"unknown schema_version {version!r}; this edge-runtime reads "
            f"{', '.join(map(str, SUPPORTED_SCHEMA_VERSIONS))} (upgrade edge-runtime or reconvert the bundle)"
        )
    for key in ("id", "version", "feature_set", "quantization"):
        if not need(key, str):
            fail(f"field '{key}' is empty")
    if not _NAME.match(m["id"]):
        fail(f"id {m['id']!r} must be letters, digits, '.', '_' or '-'")
    if m["quantization"] not in QUANTIZATIONS:
        fail(f"unknown quantization {m['quantization']!r}; known: {', '.join(QUANTIZATIONS)}")
    fs = FEATURE_SETS.get(m["feature_set"])
    if fs is None:
        fail(f"unknown feature set {m['feature_set']!r}; known: {', '.join(FEATURE_SETS)}")
    channels = need("channels", list)
    units = need("units", list)
    if tuple(channels) != fs.channels:
        fail(f"channels {channels} do not match feature set {fs.name} {list(fs.channels)}")
    if tuple(units) != fs.units:
        fail(f"units {units} do not match feature set {fs.name} {list(fs.units)}")
    rate = need("sample_rate", (int, float))
    if not (math.isfinite(rate) and rate > 0):
        fail(f"sample_rate must be a positive number, got {rate}")
    window = need("window", int)
    stride = need("stride", int)
    if window < 1 or stride < 1:
        fail(f"window ({window}) and stride ({stride}) must be positive")

    acts = need("activities", dict)
    for key in ("required", "sensitive", "neutral"):
        vals = need(key, list, acts, "activities.")
        if not all(isinstance(v, str) for v in vals):
            fail(f"activities.{key} must be a list of activity codes")
    need("protected", list)

    norm = need("norm", dict)
    for key in ("mean", "std"):
        vals = need(key, list, norm, "norm.")
        if len(vals) != len(channels):
            fail(f"norm.{key} has {len(vals)} values for {len(channels)} channels")
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in vals):
            fail(f"norm.{key} must be finite numbers")
    if not all(v > 0 for v in norm["std"]):
        fail("norm.std must be positive")

    model = need("model", dict)
    mfile = need("file", str, model, "model.")
    if not _NAME.match(mfile) or mfile == MANIFEST_NAME:
        fail(f"model.file {mfile!r} must be a plain file name inside the bundle")
    need("signature", str, model, "model.")
    before = after = 0
    if "context" in m:
        context = need("context", dict)
        before, after = need("before", int, context, "context."), need("after", int, context, "context.")
        if before < 0 or after < 0 or isinstance(before, bool) or isinstance(after, bool):
            fail(f"context.before ({before}) and context.after ({after}) must be non-negative integers")
    if "keeps" in m and not (isinstance(m["keeps"], list) and all(isinstance(k, str) for k in m["keeps"])):
        fail("keeps must be a list of feature names")
    if "measured" in m and not isinstance(m["measured"], dict):
        fail("measured must be an object (the figures edge-runtime evaluate measured on this version)")
    batch = model.get("batch", 1)
    if not (batch == "dynamic" or (isinstance(batch, int) and not isinstance(batch, bool) and batch >= 1)):
        fail(f"model.batch must be 'dynamic' or a positive number of windows, got {batch!r}")
    rows = batch if isinstance(batch, int) else 1
    for side in ("input", "output"):
        t = need(side, dict, model, "model.")
        ctx = f"model.{side}."
        need("name", str, t, ctx)
        shape = need("shape", list, t, ctx)
        length = before + window + after if side == "input" else window
        expect_shape = [rows, length, len(channels)]
        if shape != expect_shape:
            length_name = "before + window + after" if side == "input" and (before or after) else "window"
            what = f"[{rows}, {length_name}, channels]"
            fail(f"model.{side}.shape {shape} does not match {what} = {expect_shape}")
        dtype = need("dtype", str, t, ctx)
        if dtype not in IO_DTYPES:
            fail(f"model.{side}.dtype {dtype!r} unsupported; known: {', '.join(IO_DTYPES)}")
        for key in ("scale", "zero_point"):
            v = t.get(key)
            if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v)):
                fail(f"model.{side}.{key} must be a finite number or null")
        if dtype != "float32":
            scale, zp = t.get("scale"), t.get("zero_point")
            if not (isinstance(scale, (int, float)) and scale > 0 and isinstance(zp, int)):
                fail(f"model.{side} is {dtype} but has no valid scale/zero_point")

    files = need("files", dict)
    if mfile not in files:
        fail(f"files has no checksum for the model file {mfile!r}")
    for name, digest in files.items():
        if not _NAME.match(name) or name in (MANIFEST_NAME, SIGNATURE_FILE):
            fail(f"files entry {name!r} must be a plain file name other than {MANIFEST_NAME} and {SIGNATURE_FILE}")
        if not (isinstance(digest, str) and _SHA256.match(digest)):
            fail(f"files[{name!r}] is not a lowercase hex SHA-256")
    need("training", dict)
    need("conversion", dict)


def _verify_files(path: Path, manifest: dict[str, Any], where: str) -> None:
    for name, want in manifest["files"].items():
        f = path / name
        if not f.is_file():
            raise BundleError(f"{where}: file {name} listed in the manifest is missing from {path}")
        got = sha256_file(f)
        if got != want:
            raise BundleError(
                f"{f}: SHA-256 mismatch (manifest {want[:12]}..., file {got[:12]}...): "
                "the bundle is corrupt or was modified; refusing it"
            )


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _verify_model(data: bytes, manifest: dict[str, Any], where: str) -> None:
    """What the flatbuffer holds must be what the manifest claims: signature, I/O shapes, dtypes and
    integer scales, the quantization (from the tensors' types) and the size."""
    try:
        info = read_tflite_io(data)
        constants, activations = read_tflite_tensor_types(data)
    except (ValueError, struct.error, IndexError, UnicodeDecodeError, RecursionError) as exc:
        raise BundleError(f"{where}: not a readable TFLite model ({exc})") from None
    sig = manifest["model"]["signature"]
    if sig not in info:
        raise BundleError(f"{where}: no signature {sig!r} in the model (it has {sorted(info) or 'none'})")
    ins, outs = info[sig]
    if len(ins) != 1 or len(outs) != 1:
        raise BundleError(f"{where}: signature {sig!r} must have one input and one output, has {len(ins)}/{len(outs)}")
    for side, actual in (("input", ins[0]), ("output", outs[0])):
        declared = _tensor_spec(manifest["model"][side])
        if actual.name != declared.name:
            raise BundleError(f"{where}: model {side} is named {actual.name!r} in signature {sig!r}, the manifest says {declared.name!r}")
        if actual.shape != declared.shape:
            raise BundleError(
                f"{where}: model {side} shape {list(actual.shape)} does not match the manifest's "
                f"{list(declared.shape)}"
            )
        if actual.dtype != declared.dtype:
            raise BundleError(f"{where}: model {side} dtype {actual.dtype} does not match the manifest's {declared.dtype}")
        if declared.dtype != "float32" and (
            actual.scale is None
            or not math.isclose(actual.scale, declared.scale, rel_tol=1e-6)
            or actual.zero_point != declared.zero_point
        ):
            raise BundleError(
                f"{where}: model {side} quantization (scale {actual.scale}, zero point {actual.zero_point}) "
                f"does not match the manifest's ({declared.scale}, {declared.zero_point})"
            )
    dynamic = manifest["model"].get("batch", 1) == "dynamic"
    for side, actual in (("input", ins[0]), ("output", outs[0])):
        if dynamic != (actual.batch_dim == -1):
            raise BundleError(
                f"{where}: model {side} batch dimension is {'dynamic' if actual.batch_dim == -1 else 'fixed'}, "
                f"the manifest's model.batch says {manifest['model'].get('batch', 1)!r}"
            )
    claimed = manifest["quantization"]
    found = quantization_of(constants, activations)
    # LiteRT's dynamic-range quantization leaves weights of under 1024 values in float: a small
    # "dynamic" model may hold no int8 tensor at all (harmless: it is the float graph)
    if found != claimed and not (claimed == "dynamic" and found == "float32"):
        raise BundleError(f"{where}: the manifest says {claimed}, but the model is {found} (constant tensors "
                          f"{', '.join(sorted(constants)) or 'none'}; activations {', '.join(sorted(activations))})")
    size = manifest.get("conversion", {}).get("size_bytes") if isinstance(manifest.get("conversion"), dict) else None
    if size is not None and size != len(data):
        raise BundleError(f"{where}: the manifest says size_bytes {size}, the model file has {len(data)} bytes")


# --------------------------------------------------------------------------------------------
# A minimal, read-only TFLite flatbuffer reader (schema: tensorflow/compiler/mlir/lite/schema/schema.fbs)

_TFLITE_TYPES = {0: "float32", 1: "float16", 2: "int32", 3: "uint8", 4: "int64", 5: "string", 6: "bool",
                 7: "int16", 9: "int8", 10: "float64"}


class _FlatTable:
    """One flatbuffer table: fields are read by their index in the schema."""

    def __init__(self, buf: bytes, pos: int):
        self.buf, self.pos = buf, pos
        vt = pos - struct.unpack_from("<i", buf, pos)[0]
        self.vt, self.vt_len = vt, struct.unpack_from("<H", buf, vt)[0]

    def _field(self, index: int) -> int:
        off = 4 + 2 * index
        if off >= self.vt_len:
            return 0
        o = struct.unpack_from("<H", self.buf, self.vt + off)[0]
        return self.pos + o if o else 0

    def scalar(self, index: int, fmt: str, default: Any = 0) -> Any:
        p = self._field(index)
        return struct.unpack_from("<" + fmt, self.buf, p)[0] if p else default

    def _vector(self, index: int) -> tuple[int, int]:
        p = self._field(index)
        if not p:
            return 0, 0
        start = p + struct.unpack_from("<I", self.buf, p)[0]
        return start + 4, struct.unpack_from("<I", self.buf, start)[0]

    def vector_length(self, index: int) -> int:
        return self._vector(index)[1]

    def vector(self, index: int, fmt: str) -> list[Any]:
        start, n = self._vector(index)
        return list(struct.unpack_from(f"<{n}{fmt}", self.buf, start)) if n else []

    def bytes(self, index: int) -> bytes:
        start, n = self._vector(index)
        return bytes(self.buf[start:start + n])

    def string(self, index: int) -> str | None:
        p = self._field(index)
        return self.bytes(index).decode("utf-8") if p else None

    def tables(self, index: int) -> list["_FlatTable"]:
        start, n = self._vector(index)
        out = []
        for i in range(n):
            e = start + 4 * i
            out.append(_FlatTable(self.buf, e + struct.unpack_from("<I", self.buf, e)[0]))
        return out

    def table(self, index: int) -> "_FlatTable | None":
        p = self._field(index)
        return _FlatTable(self.buf, p + struct.unpack_from("<I", self.buf, p)[0]) if p else None


def _model_table(data: bytes) -> _FlatTable:
    if len(data) < 8 or data[4:8] != b"TFL3":
        raise ValueError("missing the TFL3 file identifier")
    return _FlatTable(data, struct.unpack_from("<I", data, 0)[0])


def _tensor(sub: _FlatTable, index: int) -> TensorSpec:
    tensors = sub.tables(0)
    t = tensors[index]
    dtype = _TFLITE_TYPES.get(t.scalar(1, "b", 0), f"type{t.scalar(1, 'b', 0)}")
    scale = zp = None
    q = t.table(4)
    if q is not None:
        scales, zps = q.vector(2, "f"), q.vector(3, "q")
        if len(scales) == 1:
            scale, zp = float(scales[0]), int(zps[0]) if zps else 0
    shape = tuple(t.vector(0, "i"))
    signature = t.vector(7, "i")  # shape_signature: -1 marks a dimension fixed only at run time
    batch_dim = signature[0] if signature else (shape[0] if shape else None)
    return TensorSpec(name=t.string(3) or "", shape=shape, dtype=dtype, scale=scale, zero_point=zp, batch_dim=batch_dim)


_LOW_PRECISION = {"int8", "uint8", "int16", "float16"}


def quantization_of(constants: set[str], activations: set[str]) -> str:
    """The bundle quantization a model's tensor types amount to (see ``QUANTIZATIONS``).

    int8: integer activations; dynamic: int8 weights, float activations; float16: fp16 weights;
    float32: no low-precision tensor at all.
    """
    if "int8" in activations or "uint8" in activations:
        return "int8"
    if "int8" in constants:
        return "dynamic"
    if "float16" in constants:
        return "float16"
    if _LOW_PRECISION & (constants | activations):
        return "mixed (" + ", ".join(sorted(_LOW_PRECISION & (constants | activations))) + ")"
    return "float32"


def read_tflite_tensor_types(data: bytes) -> tuple[set[str], set[str]]:
    """``(types of constant tensors, types of the others)`` over all subgraphs of a TFLite model."""
    model = _model_table(data)
    buffers = model.tables(4)
    constants: set[str] = set()
    activations: set[str] = set()
    for sub in model.tables(2):
        for t in sub.tables(0):
            code = t.scalar(1, "b", 0)
            dtype = _TFLITE_TYPES.get(code, f"type{code}")
            b = t.scalar(2, "I", 0)
            buf = buffers[b] if 0 < b < len(buffers) else None
            has_data = buf is not None and (buf.vector_length(0) > 0 or buf.scalar(1, "Q", 0) > 1)
            (constants if has_data else activations).add(dtype)
    return constants, activations


def read_tflite_io(data: bytes) -> dict[str, tuple[list[TensorSpec], list[TensorSpec]]]:
    """``{signature key: (inputs, outputs)}`` of a TFLite model, straight from its flatbuffer.

    A model without signatures is reported under the key ``""`` with subgraph 0's inputs/outputs.
    Names are the signature's argument/output names.
    """
    model = _model_table(data)
    subgraphs = model.tables(2)
    out: dict[str, tuple[list[TensorSpec], list[TensorSpec]]] = {}
    for sig in model.tables(7):
        sub = subgraphs[sig.scalar(4, "I", 0)]
        sides = []
        for side in (0, 1):
            specs = []
            for tm in sig.tables(side):
                spec = _tensor(sub, tm.scalar(1, "I", 0))
                specs.append(TensorSpec(tm.string(0) or spec.name, spec.shape, spec.dtype, spec.scale, spec.zero_point,
                                        spec.batch_dim))
            sides.append(specs)
        out[sig.string(2) or ""] = (sides[0], sides[1])
    if not out and subgraphs:
        sub = subgraphs[0]
        out[""] = ([_tensor(sub, i) for i in sub.vector(1, "i")], [_tensor(sub, i) for i in sub.vector(2, "i")])
    return out


def read_tflite_metadata(data: bytes) -> dict[str, bytes]:
    """``{name: bytes}`` of a TFLite model's metadata entries (how mobile exports embed the manifest)."""
    model = _model_table(data)
    buffers = model.tables(4)
    out = {}
    for md in model.tables(6):
        buf = buffers[md.scalar(1, "I", 0)]
        offset, size = buf.scalar(1, "Q", 0), buf.scalar(2, "Q", 0)
        out[md.string(0) or ""] = bytes(data[offset:offset + size]) if offset > 1 else buf.bytes(0)
    return out


def embedded_manifest(data: bytes) -> dict[str, Any]:
    """The bundle manifest embedded in an exported ``.tflite`` (metadata entry ``edge_runtime_manifest``)."""
    try:
        md = read_tflite_metadata(data)
    except (ValueError, struct.error, IndexError) as exc:
        raise BundleError(f"not a readable TFLite model ({exc})") from None
    if METADATA_NAME not in md:
        raise BundleError(f"the model has no '{METADATA_NAME}' metadata entry (not an edge-runtime export)")
    try:
        return json.loads(md[METADATA_NAME].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BundleError(f"the embedded '{METADATA_NAME}' is not valid JSON ({exc})") from None


_DEQUANTIZE = 6  # TFLite BuiltinOperator.DEQUANTIZE


def read_tflite_output_quantization(data: bytes) -> dict[str, list[TensorSpec | None]]:
    """``{signature key: [spec per output]}``: the integer tensor each output's values come from.

    For integer I/O that is the output itself; for float I/O of an integer-quantized model it is
    the input of the ``DEQUANTIZE`` that produces the output, whose scale is the step between the
    values the model can emit. ``None`` for an output computed in float (no step).
    """
    model = _model_table(data)
    codes = [max(c.scalar(0, "b", 0), c.scalar(3, "i", 0)) for c in model.tables(1)]
    subgraphs = model.tables(2)
    out: dict[str, list[TensorSpec | None]] = {}
    for sig in model.tables(7):
        sub = subgraphs[sig.scalar(4, "I", 0)]
        producers = {o: op for op in sub.tables(3) for o in op.vector(2, "i")}
        specs: list[TensorSpec | None] = []
        for tm in sig.tables(1):
            index = tm.scalar(1, "I", 0)
            spec = _tensor(sub, index)
            op = producers.get(index)
            if spec.dtype == "float32" and op is not None and codes[op.scalar(0, "I", 0)] == _DEQUANTIZE:
                spec = _tensor(sub, op.vector(1, "i")[0])
            specs.append(spec if spec.dtype in ("int8", "uint8", "int16") and spec.scale else None)
        out[sig.string(2) or ""] = specs
    return out


def output_quantization(bundle: Bundle) -> TensorSpec | None:
    """The integer tensor behind a bundle's output (see :func:`read_tflite_output_quantization`)."""
    specs = read_tflite_output_quantization(bundle.read_model()).get(bundle.signature) or [None]
    return specs[0]
