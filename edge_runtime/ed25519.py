"""Ed25519 signature verification at bundle load, without importing ``cryptography``.

Why: a device verifies one signature per bundle load, and importing ``cryptography`` (its Rust/OpenSSL
extension and key serialization) cost ~14 ms of that cold start, against well under 1 ms for the verify
itself. The interpreter already has OpenSSL's libcrypto mapped (``hashlib``'s ``_hashlib`` links it), and
OpenSSL >= 1.1.1 has Ed25519: :func:`verify` calls its EVP verify through ``ctypes``. It is the primitive
``cryptography`` wraps; no cryptography is written here.

Fail closed: only ``EVP_DigestVerify`` returning exactly 1 is a valid signature. Where that libcrypto cannot
be reached (no ``_hashlib`` file, a symbol missing or hidden, another platform, a library that fails the
RFC 8032 self-test) or a call fails before the verify itself, the ``cryptography`` package verifies instead
(not installed, as it need not be on armv7l: the bundle is refused with an error naming what to install).
Signing and key generation stay with ``cryptography`` (workstation side, ``edge_runtime.signing``).
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

from edge_runtime.errors import BundleError, UserError

if TYPE_CHECKING:
    import ctypes

PUBLIC_KEY_BYTES = 32
SIGNATURE_BYTES = 64
_EVP_PKEY_ED25519 = 1087  # NID_ED25519 in OpenSSL's obj_mac.h

# RFC 8032 section 7.1, TEST 2: whatever was loaded must accept this, and refuse it with S + L (the same
# signature, malleated: refused before any curve arithmetic, so the check costs one verify, not two).
_ORDER = 2**252 + 27742317777372353535851937790883648493  # L, the order of the Ed25519 base point
_SELF_TEST_KEY = bytes.fromhex("3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c")
_SELF_TEST_SIGNATURE = bytes.fromhex("92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da"
                                     "085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00")
_SELF_TEST_MESSAGE = b"\x72"


class Unavailable(Exception):
    """libcrypto could not be used for this verification (which says nothing about the signature)."""


class OpenSSL:
    """The libcrypto functions of one Ed25519 verify, each with its C signature declared."""

    def __init__(self, lib: ctypes.CDLL) -> None:
        import ctypes  # (lazy: the CLI imports this module to parse arguments; numpy imports ctypes anyway)

        p, i, n = ctypes.c_void_p, ctypes.c_int, ctypes.c_size_t
        self._new_key = _declare(lib.EVP_PKEY_new_raw_public_key, p, [i, p, ctypes.c_char_p, n])
        self._free_key = _declare(lib.EVP_PKEY_free, None, [p])
        self._new_ctx = _declare(lib.EVP_MD_CTX_new, p, [])
        self._free_ctx = _declare(lib.EVP_MD_CTX_free, None, [p])
        self._init = _declare(lib.EVP_DigestVerifyInit, i, [p, p, p, p, p])
        self._verify = _declare(lib.EVP_DigestVerify, i, [p, ctypes.c_char_p, n, ctypes.c_char_p, n])
        self._clear_errors = _declare(lib.ERR_clear_error, None, [])

    def verify(self, public_key: bytes, signature: bytes, message: bytes) -> bool:
        """True only if OpenSSL says exactly 1; raises :class:`Unavailable` if it could not be asked."""
        key = self._new_key(_EVP_PKEY_ED25519, None, public_key, len(public_key))
        if not key:
            self._clear_errors()
            raise Unavailable("EVP_PKEY_new_raw_public_key failed")
        try:
            ctx = self._new_ctx()
            if not ctx:
                raise Unavailable("EVP_MD_CTX_new failed")
            try:
                if self._init(ctx, None, None, None, key) != 1:
                    raise Unavailable("EVP_DigestVerifyInit failed")
                return self._verify(ctx, signature, len(signature), message, len(message)) == 1
            finally:
                self._free_ctx(ctx)
        finally:
            self._free_key(key)
            self._clear_errors()  # a refused signature leaves an error queued; hashlib/ssl must not see it


def _declare(fn, restype, argtypes: list):
    fn.restype, fn.argtypes = restype, argtypes
    return fn


@functools.cache
def openssl() -> OpenSSL | None:
    """The interpreter's own libcrypto, if it has Ed25519 and passes the self-test; else ``None``."""
    try:
        import ctypes

        import _hashlib

        lib = OpenSSL(ctypes.CDLL(_hashlib.__file__))
        s = int.from_bytes(_SELF_TEST_SIGNATURE[32:], "little") + _ORDER
        malleated = _SELF_TEST_SIGNATURE[:32] + s.to_bytes(32, "little")
        if (lib.verify(_SELF_TEST_KEY, _SELF_TEST_SIGNATURE, _SELF_TEST_MESSAGE)
                and not lib.verify(_SELF_TEST_KEY, malleated, _SELF_TEST_MESSAGE)):
            return lib
    except Exception:  # noqa: BLE001 - any failure to load means: use cryptography
        pass
    return None


def backend() -> str:
    """Which library :func:`verify` uses in this process: ``"openssl"`` (via hashlib) or ``"cryptography"``."""
    return "openssl" if openssl() is not None else "cryptography"


def verify(public_key: bytes, signature: bytes, message: bytes) -> bool:
    """True only if ``signature`` is a valid Ed25519 signature of ``message`` by the raw 32-byte ``public_key``."""
    public_key, signature, message = bytes(public_key), bytes(signature), bytes(message)
    if len(public_key) != PUBLIC_KEY_BYTES or len(signature) != SIGNATURE_BYTES:
        return False
    lib = openssl()
    if lib is not None:
        try:
            return lib.verify(public_key, signature, message)
        except Unavailable:
            pass
    return verify_with_cryptography(public_key, signature, message)


def verify_with_cryptography(public_key: bytes, signature: bytes, message: bytes) -> bool:
    """The fallback (and the reference the tests compare with): the ``cryptography`` package's verify.
    Without that package (not required on armv7l) the bundle is refused, saying what to install."""
    needed_for = "verifying bundle signatures with this interpreter (its libcrypto offers no usable Ed25519)"
    exceptions = import_cryptography("cryptography.exceptions", needed_for, BundleError)
    keys = import_cryptography("cryptography.hazmat.primitives.asymmetric.ed25519", needed_for, BundleError)
    try:
        keys.Ed25519PublicKey.from_public_bytes(public_key).verify(signature, message)
    except (exceptions.InvalidSignature, ValueError):
        return False
    return True


CRYPTOGRAPHY_MISSING = ("{needed_for} needs the 'cryptography' package, which is not installed here (on 32-bit "
                        "ARM, armv7l, it is not required): pip install cryptography, or on Debian / Raspberry Pi "
                        "OS sudo apt install python3-cryptography (in a venv made with --system-site-packages)")


def import_cryptography(module: str, needed_for: str, error: type[UserError] = UserError):
    """``cryptography``'s ``module``, or ``error`` saying in one line what to install. Why it may be absent:
    on armv7l PyPI has no wheel of its ``cffi`` dependency (pip would compile it), and a device only
    verifies, which the interpreter's own libcrypto does (:func:`verify`)."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise error(CRYPTOGRAPHY_MISSING.format(needed_for=needed_for)) from None
