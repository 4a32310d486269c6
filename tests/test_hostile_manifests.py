"""Hostile manifests: whatever ``manifest.json`` holds, loading it is a BundleError or a bundle, never a
traceback (hypothesis-fuzzed), and an oversized manifest is refused before it is parsed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from edge_runtime.testing import make_bundle

from edge_runtime.bundle import MANIFEST_NAME, MAX_MANIFEST_BYTES, load_bundle, parse_manifest, verify_contents
from edge_runtime.errors import BundleError
from edge_runtime.testing import sign_for_tests


@pytest.fixture(scope="module")
def bundle_dir(tmp_path_factory) -> Path:
    return make_bundle(tmp_path_factory.mktemp("b") / "b", "affine_mag2_w128").path


@pytest.fixture(scope="module")
def good(bundle_dir) -> dict:
    return json.loads((bundle_dir / MANIFEST_NAME).read_text())


def _write_signed(folder: Path, text: bytes) -> None:
    (folder / MANIFEST_NAME).write_bytes(text)
    sign_for_tests(folder)


@pytest.mark.parametrize("text, message", [
    (b"[" * 100_000 + b"]" * 100_000, "not valid JSON"),  # deep nesting: RecursionError inside json
    (b'{"schema_version": 1, "window": ' + b"9" * 100_000 + b"}", "not valid JSON"),  # a huge integer
    (b'{"schema_version": 1, "sample_rate": 1e999}', "missing field|sample_rate"),  # inf
    (b"\xff\xfe not utf-8", "not valid JSON"),
    (b'"a string"', "must be a JSON object"),
])
def test_hostile_manifest_texts_are_bundle_errors(bundle_dir, tmp_path, text, message):
    import shutil

    folder = tmp_path / "b"
    shutil.copytree(bundle_dir, folder)
    _write_signed(folder, text)
    with pytest.raises(BundleError, match=message):
        load_bundle(folder)


def test_a_huge_manifest_is_refused_before_parsing(bundle_dir, tmp_path):
    import shutil

    folder = tmp_path / "b"
    shutil.copytree(bundle_dir, folder)
    m = json.loads((folder / MANIFEST_NAME).read_text())
    m["description"] = "x" * (MAX_MANIFEST_BYTES + 1)
    _write_signed(folder, json.dumps(m).encode())
    with pytest.raises(BundleError, match=f"larger than {MAX_MANIFEST_BYTES} bytes"):
        load_bundle(folder)


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)


def _paths(d, prefix=()):
    """Every key path into a nested manifest."""
    if isinstance(d, dict):
        for k, v in d.items():
            yield prefix + (k,)
            yield from _paths(v, prefix + (k,))
    elif isinstance(d, list):
        for i, v in enumerate(d):
            yield prefix + (i,)
            yield from _paths(v, prefix + (i,))


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_fuzzed_manifests_are_bundle_errors_or_valid(bundle_dir, good, data):
    """Replace any one value of a real manifest with arbitrary JSON (or delete it): everything
    behind the signature (manifest, files, the model's flatbuffer) accepts it or raises
    BundleError; nothing else escapes."""
    m = json.loads(json.dumps(good))
    paths = list(_paths(m))
    path = data.draw(st.sampled_from(paths))
    parent = m
    for k in path[:-1]:
        parent = parent[k]
    if data.draw(st.booleans()):
        parent[path[-1]] = data.draw(_json)
    elif isinstance(parent, dict):
        del parent[path[-1]]
    else:
        parent.pop(path[-1])
    text = json.dumps(m, allow_nan=True).encode()
    try:
        verify_contents(bundle_dir, text)
    except BundleError:
        pass


@settings(max_examples=200, deadline=None)
@given(text=st.binary(max_size=200) | st.text(max_size=200).map(str.encode))
def test_arbitrary_bytes_are_bundle_errors(text):
    with pytest.raises(BundleError):
        parse_manifest(text, "fuzzed")
