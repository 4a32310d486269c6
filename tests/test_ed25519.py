"""Bundle signatures verified by the interpreter's own OpenSSL (edge_runtime.ed25519), with ``cryptography``
as the reference and the fallback: both must give the same answer on every input, the fast path must be
the one used here, and a bundle load must not import ``cryptography`` at all."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import sys
import types
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat, load_pem_public_key
from hypothesis import given, settings
from hypothesis import strategies as st

from edge_runtime import ed25519
from edge_runtime.bundle import MANIFEST_NAME, SHIPPED_DIR, load_bundle, shipped_bundles
from edge_runtime.errors import BundleError, UserError
from edge_runtime.signing import SHIPPED_KEYS_DIR, Trust, key_id, load_public_key, raw_public_bytes, sign_bundle, \
    verify_signature, write_public_key

REPO = Path(__file__).resolve().parents[1]
needs_shipped = pytest.mark.skipif("motionsense-gender" not in shipped_bundles(),
                                   reason="motionsense-gender is not shipped")
ORDER = 2**252 + 27742317777372353535851937790883648493  # the Ed25519 group order L (RFC 8032)


def both(public: bytes, signature: bytes, message: bytes) -> bool:
    """Both verifiers' answer, asserting they agree (and that the fast one was there to ask)."""
    fast = ed25519.openssl()
    assert fast is not None
    try:
        ours = fast.verify(public, signature, message)
    except ed25519.Unavailable:
        pytest.fail("libcrypto could not be asked")
    reference = ed25519.verify_with_cryptography(public, signature, message)
    assert ours is reference and ed25519.verify(public, signature, message) is reference
    return reference


def flip(data: bytes, i: int, bit: int = 1) -> bytes:
    return data[:i] + bytes([data[i] ^ bit]) + data[i + 1:]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the libcrypto path is checked on Linux")
def test_the_interpreters_openssl_verifies_here():
    """A silent fallback to cryptography would cost ~14 ms of cold start: on Linux it must not happen."""
    assert ed25519.backend() == "openssl"


# -- the two verifiers agree ----------------------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(seed=st.binary(min_size=32, max_size=32), other=st.binary(min_size=32, max_size=32),
       message=st.binary(max_size=2048), data=st.data())
def test_both_verifiers_agree_on_random_keys_and_messages(seed, other, message, data):
    key = Ed25519PrivateKey.from_private_bytes(seed)
    public, signature = raw_public_bytes(key.public_key()), key.sign(message)
    assert both(public, signature, message)
    if message:
        i = data.draw(st.integers(0, len(message) - 1))
        assert not both(public, signature, flip(message, i, data.draw(st.sampled_from([1, 0x80, 0xFF]))))
    assert not both(public, signature, message + b"\0")
    assert not both(public, flip(signature, data.draw(st.integers(0, 63))), message)
    wrong = raw_public_bytes(Ed25519PrivateKey.from_private_bytes(other).public_key())
    assert both(wrong, signature, message) is (wrong == public)
    assert not both(public, data.draw(st.binary(min_size=64, max_size=64)), message)
    assert not both(data.draw(st.binary(min_size=32, max_size=32)), signature, message)


def test_truncated_padded_and_malformed_signatures_and_keys_are_refused():
    key = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
    public, message = raw_public_bytes(key.public_key()), b'{"id": "x"}'
    signature = key.sign(message)
    assert both(public, signature, message)
    for bad in (b"", signature[:63], signature + b"\0", signature * 2):
        assert not ed25519.verify(public, bad, message) and not ed25519.verify_with_cryptography(public, bad, message)
    for bad_key in (b"", public[:31], public + b"\0"):
        assert not ed25519.verify(bad_key, signature, message)
        assert not ed25519.verify_with_cryptography(bad_key, signature, message)
    for garbage in (bytes(64), b"\xff" * 64):
        assert not both(public, garbage, message)
    for odd_key in (bytes(32), b"\xff" * 32, bytes([1]) + bytes(31)):  # not a point / the identity (small order)
        assert not both(odd_key, signature, message) and not both(odd_key, bytes(64), message)
    # the same signature with S + L (malleated, non-canonical S): refused by both
    s = int.from_bytes(signature[32:], "little") + ORDER
    assert not both(public, signature[:32] + s.to_bytes(32, "little"), message)


@needs_shipped
def test_both_verifiers_agree_on_the_shipped_manifests_and_every_tampered_byte_is_refused():
    for name in shipped_bundles():
        folder = SHIPPED_DIR / name
        manifest = (folder / MANIFEST_NAME).read_bytes()
        sig = json.loads((folder / "manifest.sig").read_text())
        public = load_public_key(next(p for p in SHIPPED_KEYS_DIR.glob("*.pub")
                                      if key_id(load_public_key(p)) == sig["key_id"])).raw
        signature = base64.b64decode(sig["signature"])
        assert both(public, signature, manifest), name
        for i in sorted({0, 1, len(manifest) // 2, len(manifest) - 1, *range(7, len(manifest), 211)}):
            assert not both(public, signature, flip(manifest, i)), (name, i)
        assert not both(public, signature, manifest[:-1]) and not both(public, signature, manifest + b"\n")


# -- keys ---------------------------------------------------------------------------------------------------


def test_shipped_key_ids_and_raw_bytes_are_cryptographys(tmp_path):
    for p in SHIPPED_KEYS_DIR.glob("*.pub"):
        reference = load_pem_public_key(p.read_bytes())
        assert load_public_key(p).raw == raw_public_bytes(reference)
        assert key_id(load_public_key(p)) == key_id(reference)


def test_keys_that_are_not_ed25519_spki_are_refused_clearly(tmp_path):
    from cryptography.hazmat.primitives.asymmetric import ec, x25519

    for name, key in (("x25519", x25519.X25519PrivateKey.generate()),
                      ("p256", ec.generate_private_key(ec.SECP256R1()))):
        path = tmp_path / f"{name}.pub"
        path.write_bytes(key.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo))
        with pytest.raises(UserError, match=f"{name}.pub: not a PEM Ed25519 public key"):
            load_public_key(path)


# -- the fallback ------------------------------------------------------------------------------------------------


@pytest.fixture
def signed_folder(tmp_path):
    """verify() checks the signed manifest in folder against the signer's key as read from its .pub file."""
    key = Ed25519PrivateKey.generate()
    folder = tmp_path / "b"
    folder.mkdir()
    (folder / MANIFEST_NAME).write_text('{"id": "b"}')
    sign_bundle(folder, key)
    public = load_public_key(write_public_key(key.public_key(), tmp_path / "k.pub"))
    trust = Trust({key_id(public): public})
    return lambda: verify_signature(folder, (folder / MANIFEST_NAME).read_bytes(), trust), folder


def _counting_cryptography(monkeypatch) -> list:
    calls = []
    real = ed25519.verify_with_cryptography
    monkeypatch.setattr(ed25519, "verify_with_cryptography", lambda *a: calls.append(1) or real(*a))
    return calls


def test_without_libcrypto_cryptography_verifies_and_refuses(monkeypatch, signed_folder):
    verify, folder = signed_folder
    calls = _counting_cryptography(monkeypatch)
    monkeypatch.setattr(ed25519, "openssl", lambda: None)
    assert ed25519.backend() == "cryptography"
    assert verify().key_id
    (folder / MANIFEST_NAME).write_text('{"id": "c"}')
    with pytest.raises(BundleError, match="does not match manifest.json"):
        verify()
    assert len(calls) == 2


def _patched_lib(**replace):
    """The real libcrypto's functions with some replaced (a library that misbehaves in a given way)."""
    import _hashlib
    import ctypes

    lib = ctypes.CDLL(_hashlib.__file__)
    names = ("EVP_PKEY_new_raw_public_key", "EVP_PKEY_free", "EVP_MD_CTX_new", "EVP_MD_CTX_free",
             "EVP_DigestVerifyInit", "EVP_DigestVerify", "ERR_clear_error")
    return types.SimpleNamespace(**{n: replace.get(n) or getattr(lib, n) for n in names})


@pytest.mark.parametrize("failure", ["no _hashlib file", "CDLL fails", "a symbol is missing", "verify says 1 to all"])
def test_a_libcrypto_that_cannot_be_used_or_fails_the_self_test_is_not_used(monkeypatch, failure):
    import _hashlib
    import ctypes

    if failure == "no _hashlib file":
        monkeypatch.delattr(_hashlib, "__file__", raising=False)
    elif failure == "CDLL fails":
        monkeypatch.setattr(ctypes, "CDLL", lambda *a, **k: (_ for _ in ()).throw(OSError("no such library")))
    elif failure == "a symbol is missing":
        monkeypatch.setattr(ctypes, "CDLL", lambda *a, **k: types.SimpleNamespace())
    else:
        lib = _patched_lib(EVP_DigestVerify=lambda *a: 1)
        monkeypatch.setattr(ctypes, "CDLL", lambda *a, **k: lib)
    ed25519.openssl.cache_clear()
    try:
        assert ed25519.openssl() is None and ed25519.backend() == "cryptography"
        key = Ed25519PrivateKey.generate()
        public = raw_public_bytes(key.public_key())
        assert ed25519.verify(public, key.sign(b"m"), b"m") and not ed25519.verify(public, key.sign(b"m"), b"n")
    finally:
        monkeypatch.undo()
        ed25519.openssl.cache_clear()
    assert ed25519.openssl() is not None or not sys.platform.startswith("linux")


@pytest.mark.parametrize("result", [-1, 0, 2])
def test_only_exactly_1_from_openssl_is_valid(result):
    lib = ed25519.OpenSSL(_patched_lib(EVP_DigestVerify=lambda *a: result))
    key = Ed25519PrivateKey.generate()
    assert lib.verify(raw_public_bytes(key.public_key()), key.sign(b"m"), b"m") is False


@pytest.mark.parametrize("fails", ["EVP_PKEY_new_raw_public_key", "EVP_MD_CTX_new", "EVP_DigestVerifyInit"])
def test_a_call_failing_before_the_verify_falls_back_to_cryptography(monkeypatch, fails):
    freed = []
    real = ed25519.OpenSSL(_patched_lib())  # (declared: its frees take the pointers whole)
    lib = ed25519.OpenSSL(_patched_lib(**{fails: lambda *a: 0 if fails == "EVP_DigestVerifyInit" else None,
                                          "EVP_PKEY_free": lambda p: freed.append("key") or real._free_key(p),
                                          "EVP_MD_CTX_free": lambda p: freed.append("ctx") or real._free_ctx(p)}))
    key = Ed25519PrivateKey.generate()
    public, signature = raw_public_bytes(key.public_key()), key.sign(b"m")
    with pytest.raises(ed25519.Unavailable):
        lib.verify(public, signature, b"m")
    # what was allocated is freed
    assert freed == {"EVP_PKEY_new_raw_public_key": [], "EVP_MD_CTX_new": ["key"],
                     "EVP_DigestVerifyInit": ["ctx", "key"]}[fails]
    calls = _counting_cryptography(monkeypatch)
    monkeypatch.setattr(ed25519, "openssl", lambda: lib)
    assert ed25519.verify(public, signature, b"m") and not ed25519.verify(public, signature, b"n")
    assert len(calls) == 2


# -- cold start: a bundle load imports no cryptography ------------------------------------------------------------


@needs_shipped
def test_loading_a_shipped_bundle_with_default_trust_does_not_import_cryptography(tmp_path):
    check = ("import sys; from edge_runtime.bundle import load_bundle; b = load_bundle('motionsense-gender'); "
             "from edge_runtime import ed25519; print(b.signer.key_id, ed25519.backend(), "
             "sorted(m for m in sys.modules if m.startswith('cryptography')))")
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO), "EDGE_RUNTIME_TRUSTED_KEYS": str(tmp_path / "none")}
    run = subprocess.run([sys.executable, "-c", check], cwd=tmp_path, env=env, capture_output=True, text=True,
                         timeout=120)
    assert run.returncode == 0, run.stderr
    kid, backend, loaded = run.stdout.split(maxsplit=2)
    assert kid in {key_id(load_public_key(p)) for p in SHIPPED_KEYS_DIR.glob("*.pub")}
    if sys.platform.startswith("linux"):
        assert backend == "openssl" and loaded.strip() == "[]"


@needs_shipped
def test_a_tampered_shipped_bundle_is_refused_by_the_fast_path(tmp_path):
    dst = tmp_path / "motionsense-gender"
    shutil.copytree(SHIPPED_DIR / "motionsense-gender", dst)
    manifest = dst / MANIFEST_NAME
    manifest.write_bytes(manifest.read_bytes().replace(b'"version"', b'"Version"', 1))
    with pytest.raises(BundleError, match="does not match manifest.json"):
        load_bundle(dst)
