"""Testing utilities: signed bundles without a real signing key.

``throwaway_key()`` is an Ed25519 key made once per process and never written anywhere but a
temporary folder; ``sign_for_tests(folder)`` signs a bundle with it and ``trusted_keys_dir(tmp)``
writes its public key into a folder meant for ``$EDGE_RUNTIME_TRUSTED_KEYS``, so the bundles a
test writes load through the real, verifying :func:`edge_runtime.bundle.load_bundle` (in the test
process and in the CLI subprocesses it starts). ``tests/conftest.py`` sets this up for the suite.
"""

from __future__ import annotations

from pathlib import Path

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
