"""Bundle signatures: Ed25519 over the exact bytes of ``manifest.json``, in ``manifest.sig``.

The manifest pins the SHA-256 of every other file of the bundle, so signing its bytes signs the
whole bundle. A signature file is small JSON::

    {"algorithm": "ed25519", "key_id": "3f9a0c1d2b4e6f70", "signature": "<base64, 64 bytes>"}

``key_id`` is the first 16 hex digits of the SHA-256 of the raw 32-byte public key; it names the
signer in every message. Keys are PEM files (PKCS#8 private, SubjectPublicKeyInfo public) made by
``edge-runtime keygen``. Which keys are trusted is a :class:`Trust`: the project key shipped in
``edge_runtime/keys/``, the keys folder (``$EDGE_RUNTIME_TRUSTED_KEYS``, default
``/etc/edge-runtime/trusted-keys``), and keys an operator names (``--trust``, the gateway config).
Signing and keys are the ``cryptography`` package's; verifying is OpenSSL's, called through the
interpreter's own libcrypto so that loading a bundle does not import ``cryptography``
(:mod:`edge_runtime.ed25519`, which falls back to ``cryptography``). Nothing here is hand-written.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from edge_runtime import ed25519
from edge_runtime.ed25519 import import_cryptography
from edge_runtime.errors import BundleError, UserError

SIGNATURE_FILE = "manifest.sig"
ALGORITHM = "ed25519"
SHIPPED_KEYS_DIR = Path(__file__).resolve().parent / "keys"
KEYS_DIR_ENV = "EDGE_RUNTIME_TRUSTED_KEYS"
DEFAULT_KEYS_DIR = "/etc/edge-runtime/trusted-keys"
PUBLIC_SUFFIX = ".pub"
MAX_SIGNATURE_BYTES = 4096


def _ed25519():
    return import_cryptography("cryptography.hazmat.primitives.asymmetric.ed25519", "signing and key generation")


def _serialization():
    return import_cryptography("cryptography.hazmat.primitives.serialization", "reading a signing key, writing keys")


def raw_public_bytes(public_key) -> bytes:
    """The raw 32 bytes of a public key: ours, or ``cryptography``'s (whose ``public_bytes_raw`` is new in 40;
    Debian bookworm's python3-cryptography, the way to sign on 32-bit ARM, is 38)."""
    if hasattr(public_key, "public_bytes_raw"):
        return public_key.public_bytes_raw()
    s = _serialization()
    return public_key.public_bytes(s.Encoding.Raw, s.PublicFormat.Raw)


def key_id(public_key) -> str:
    """The short, stable name of a public key: 16 hex digits of SHA-256 over its raw bytes."""
    return hashlib.sha256(raw_public_bytes(public_key)).hexdigest()[:16]


# --------------------------------------------------------------------------------------------
# Keys on disk


def generate_key():
    return _ed25519().Ed25519PrivateKey.generate()


def write_private_key(key, path: str | Path) -> Path:
    """PKCS#8 PEM, created with mode 0600 (never readable by others, not even for a moment)."""
    s = _serialization()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    pem = key.private_bytes(s.Encoding.PEM, s.PrivateFormat.PKCS8, s.NoEncryption())
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(pem)
    return path


def public_pem(public_key) -> bytes:
    s = _serialization()
    return public_key.public_bytes(s.Encoding.PEM, s.PublicFormat.SubjectPublicKeyInfo)


def write_public_key(public_key, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(public_pem(public_key))
    return path


def load_private_key(path: str | Path):
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise UserError(f"{path}: cannot read the signing key ({exc.strerror or exc})") from None
    try:
        key = _serialization().load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise UserError(f"{path}: not an unencrypted PEM private key ({exc})") from None
    if not isinstance(key, _ed25519().Ed25519PrivateKey):
        raise UserError(f"{path}: not an Ed25519 key (make one with 'edge-runtime keygen')")
    return key


# RFC 8410: an Ed25519 SubjectPublicKeyInfo is this fixed DER prefix and the 32-byte key. Reading it
# directly spares the runtime cryptography's serialization module (tens of ms of import at start).
_SPKI_PREFIX = bytes.fromhex("302a300506032b6570032100")
_PEM_PUBLIC = re.compile(rb"-----BEGIN PUBLIC KEY-----\s*([A-Za-z0-9+/=\s]+?)\s*-----END PUBLIC KEY-----")


@dataclass(frozen=True)
class PublicKey:
    """A trusted Ed25519 public key as its raw 32 bytes: all verification needs, read without ``cryptography``.

    ``cryptography``'s ``Ed25519PublicKey`` serves as a key too (:func:`raw_public_bytes`)."""

    raw: bytes

    def public_bytes_raw(self) -> bytes:
        return self.raw


def load_public_key(path: str | Path) -> PublicKey:
    """An Ed25519 public key from a PEM file (as ``keygen`` and ``openssl pkey -pubout`` write it)."""
    path = Path(path)
    try:
        data = path.read_bytes()[:MAX_SIGNATURE_BYTES]
    except OSError as exc:
        raise UserError(f"{path}: cannot read the public key ({exc.strerror or exc})") from None
    match = _PEM_PUBLIC.search(data)
    try:
        der = base64.b64decode(b"".join(match.group(1).split()), validate=True) if match else b""
    except ValueError:
        der = b""
    if len(der) != len(_SPKI_PREFIX) + 32 or not der.startswith(_SPKI_PREFIX):
        raise UserError(f"{path}: not a PEM Ed25519 public key (make one with 'edge-runtime keygen')")
    return PublicKey(der[len(_SPKI_PREFIX):])


# --------------------------------------------------------------------------------------------
# Trust


@dataclass(frozen=True)
class Trust:
    """The public keys a bundle may be signed by, and whether unsigned bundles are accepted."""

    keys: dict = field(default_factory=dict)  # key id -> PublicKey (or cryptography's Ed25519PublicKey)
    sources: dict = field(default_factory=dict)  # key id -> where it came from (for messages)
    allow_unsigned: bool = False

    def with_keys(self, paths: Iterable[str | Path]) -> "Trust":
        keys, sources = dict(self.keys), dict(self.sources)
        for p in paths:
            for f in _key_files(Path(p).expanduser(), explicit=True):
                k = load_public_key(f)
                keys[key_id(k)] = k
                sources[key_id(k)] = str(f)
        return Trust(keys, sources, self.allow_unsigned)

    def allowing_unsigned(self, allow: bool = True) -> "Trust":
        return Trust(self.keys, self.sources, allow)


def _key_files(path: Path, explicit: bool) -> list[Path]:
    if path.is_dir():
        return sorted(f for f in path.iterdir() if f.suffix == PUBLIC_SUFFIX and f.is_file())
    if path.is_file():
        return [path]
    if explicit:
        raise UserError(f"{path}: no such public key file or keys folder")
    return []


def keys_dir() -> Path:
    return Path(os.environ.get(KEYS_DIR_ENV) or DEFAULT_KEYS_DIR)


def default_trust(extra_keys: Iterable[str | Path] = (), allow_unsigned: bool = False) -> Trust:
    """The project key(s) shipped in the package, the keys folder, then ``extra_keys``."""
    trust = Trust().with_keys(_key_files(SHIPPED_KEYS_DIR, explicit=False) + _key_files(keys_dir(), explicit=False))
    return trust.with_keys(extra_keys).allowing_unsigned(allow_unsigned)


# --------------------------------------------------------------------------------------------
# Signing and verifying a bundle folder


@dataclass(frozen=True)
class Signer:
    """Who signed a verified bundle: ``key_id``, or ``None`` for an unsigned bundle let through."""

    key_id: str | None
    source: str | None = None  # the trusted key file

    def __str__(self) -> str:
        return f"ed25519 key {self.key_id}" if self.key_id else "UNSIGNED (accepted with --allow-unsigned)"


def sign_manifest_bytes(manifest: bytes, key) -> dict:
    return {"algorithm": ALGORITHM, "key_id": key_id(key.public_key()),
            "signature": base64.b64encode(key.sign(manifest)).decode("ascii")}


def sign_bundle(folder: str | Path, key) -> str:
    """Write ``manifest.sig`` for the bundle in ``folder``; returns the signer's key id."""
    folder = Path(folder)
    manifest = folder / "manifest.json"
    if not manifest.is_file():
        raise BundleError(f"{folder}: not a bundle, manifest.json is missing")
    sig = sign_manifest_bytes(manifest.read_bytes(), key)
    tmp = folder / (SIGNATURE_FILE + ".tmp")
    tmp.write_text(json.dumps(sig, indent=2) + "\n", encoding="utf-8")
    tmp.replace(folder / SIGNATURE_FILE)
    return sig["key_id"]


def verify_signature(folder: Path, manifest: bytes, trust: Trust) -> Signer:
    """The bundle's signer if its ``manifest.sig`` is a valid signature by a trusted key; else raise."""
    sig_path = folder / SIGNATURE_FILE
    if not sig_path.is_file():
        if trust.allow_unsigned:
            return Signer(None)
        raise BundleError(f"{folder}: unsigned bundle (no {SIGNATURE_FILE}); refusing it. Sign it with "
                          "'edge-runtime sign BUNDLE --key KEY' and trust that key, or pass --allow-unsigned "
                          "(development only)")
    try:
        raw = sig_path.read_bytes()
        if len(raw) > MAX_SIGNATURE_BYTES:
            raise ValueError(f"{len(raw)} bytes, more than {MAX_SIGNATURE_BYTES}")
        sig = json.loads(raw.decode("utf-8"))
        if not isinstance(sig, dict) or sig.get("algorithm") != ALGORITHM:
            raise ValueError(f"algorithm must be {ALGORITHM!r}")
        kid, blob = sig.get("key_id"), sig.get("signature")
        if not isinstance(kid, str) or not isinstance(blob, str):
            raise ValueError("key_id and signature must be strings")
        signature = base64.b64decode(blob, validate=True)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise BundleError(f"{sig_path}: not a readable signature file ({exc}); refusing the bundle") from None
    key = trust.keys.get(kid)
    if key is None:
        known = ", ".join(sorted(trust.keys)) or "none"
        raise BundleError(f"{folder}: signed by key {kid!r}, which is not trusted (trusted keys: {known}); "
                          "refusing it. Trust the signer's public key with --trust KEY.pub, the keys folder "
                          f"({keys_dir()}) or the gateway config's trust.keys")
    if not ed25519.verify(raw_public_bytes(key), signature, manifest):
        raise BundleError(f"{folder}: the signature by key {kid} does not match manifest.json: the bundle was "
                          "modified after signing; refusing it")
    return Signer(kid, trust.sources.get(kid))


# --------------------------------------------------------------------------------------------
# Command-line options shared by the commands that load bundles


def add_trust_arguments(parser, keys_also: str = "") -> None:
    """``--trust KEY.pub`` (repeatable) and ``--allow-unsigned``: the one definition every command that
    loads bundles uses (``keys_also``: where else the command takes trusted keys from, for the help)."""
    parser.add_argument("--trust", action="append", default=[], metavar="KEY.pub",
                        help="also trust bundles signed by this public key (a .pub file, or a folder of them); "
                             "repeatable. Always trusted: the project key shipped in the package and "
                             f"${KEYS_DIR_ENV} (default {DEFAULT_KEYS_DIR}){keys_also}")
    parser.add_argument("--allow-unsigned", action="store_true",
                        help="accept unsigned bundles (development only: said loudly on stderr)")


def trust_from_args(args) -> Trust:
    return default_trust(getattr(args, "trust", ()) or (), allow_unsigned=getattr(args, "allow_unsigned", False))


UNSIGNED_WARNING = ("WARNING: bundle {bundle} is UNSIGNED and was accepted only because of --allow-unsigned: "
                    "nothing vouches for what its model does with the data (development only)")
