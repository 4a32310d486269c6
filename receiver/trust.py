"""Which bundles' records the receiver stores: a small pluggable check, ``(bundle_id, version) -> bool``.

``trust_check`` builds one from explicit ``ID@VERSION`` pairs and from bundles (folders, manifests
or shipped names), each verified by ``edge_runtime.bundle.load_bundle`` (checksums, schema) and then
by ``verify`` (a hook: once bundles are signed, pass the signature check here, or let
``load_bundle`` do it) before its id and version are trusted. Records of any other bundle are
refused, counted and kept aside (``store.WindowStore.reject``), never stored as windows.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Iterable

from edge_runtime.errors import UserError

TrustCheck = Callable[[str, str], bool]


def parse_pair(text: str) -> tuple[str, str]:
    bundle_id, sep, version = text.partition("@")
    if not sep or not bundle_id or not version:
        raise UserError(f"--trust {text!r}: must be BUNDLE_ID@VERSION, e.g. motionsense-gender@20261127.dbe52a96")
    return bundle_id, version


def trusted_pairs(pairs: Iterable[tuple[str, str]] = (), bundles: Iterable[str | Path] = (),
                  verify: Callable[[object], None] | None = None) -> frozenset[tuple[str, str]]:
    """The (bundle_id, version) pairs to trust; a bundle that fails verification stops the start."""
    from edge_runtime.bundle import load_bundle
    from edge_runtime.errors import BundleError

    out = set(pairs)
    for ref in bundles:
        try:
            bundle = load_bundle(ref)
            if verify is not None:
                verify(bundle)  # raises to refuse it (e.g. a missing or bad signature)
        except BundleError as exc:
            raise UserError(f"--trust-bundle {ref}: {exc}") from None
        out.add((bundle.id, bundle.version))
    return frozenset(out)


def trust_check(trusted: Iterable[tuple[str, str]]) -> TrustCheck:
    allowed = frozenset(trusted)
    return lambda bundle_id, version: (bundle_id, version) in allowed
