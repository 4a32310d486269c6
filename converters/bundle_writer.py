"""Write a bundle folder: the model, then a manifest that lists every file's SHA-256.

The folder is assembled next to its destination and swapped in whole, then read back with
:func:`edge_runtime.bundle.load_bundle`, so a half-written or inconsistent bundle is never left
where the runtime (or the package data, ``edge_runtime/bundles/<name>/``) would find it. With a
signing key, ``manifest.sig`` is written in the same folder before the swap
(``edge_runtime.signing``); without one the bundle is unsigned and the runtime refuses it until
``edge-runtime sign`` signs it.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

from edge_runtime.bundle import MANIFEST_NAME, MODEL_NAME, Bundle, load_bundle, manifest_text, validate_manifest
from edge_runtime.errors import UserError
from edge_runtime.signing import Trust, key_id, sign_bundle


def write_bundle(out: str | Path, manifest: dict[str, Any], files: dict[str, bytes], force: bool = True,
                 sign_key: Any = None) -> Bundle:
    """Write ``files`` (name -> bytes, including ``MODEL_NAME``) and ``manifest`` into folder ``out``,
    signed with ``sign_key`` (an Ed25519 private key) when given.

    ``manifest['files']`` is filled in here. An existing bundle at ``out`` is replaced; any other
    non-empty folder is refused (so a typo never wipes unrelated files).
    """
    out = Path(out)
    if MODEL_NAME not in files:
        raise ValueError(f"a bundle needs {MODEL_NAME}")
    manifest = dict(manifest)
    manifest["files"] = {name: hashlib.sha256(data).hexdigest() for name, data in sorted(files.items())}
    validate_manifest(manifest, where=f"{out}/{MANIFEST_NAME} (about to be written)")
    if out.exists():
        if not out.is_dir():
            raise UserError(f"{out}: exists and is not a folder")
        if any(out.iterdir()) and not (out / MANIFEST_NAME).is_file():
            raise UserError(f"{out}: a non-empty folder that is not a bundle; refusing to overwrite it")
        if not force:
            raise UserError(f"{out}: a bundle is already there")
    if sign_key is not None:
        public = sign_key.public_key()
        trust = Trust({key_id(public): public})
    else:
        trust = Trust(allow_unsigned=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        for name, data in files.items():
            (tmp / name).write_bytes(data)
        (tmp / MANIFEST_NAME).write_text(manifest_text(manifest), encoding="utf-8")
        if sign_key is not None:
            sign_bundle(tmp, sign_key)
        load_bundle(tmp, trust=trust)  # what we wrote must verify
        if out.exists():
            old = out.with_name(f".{out.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            out.rename(old)
            tmp.rename(out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            tmp.rename(out)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return load_bundle(out, trust=trust)
