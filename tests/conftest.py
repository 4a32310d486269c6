"""Shared fixtures: the committed mini MotionSense fixture and the full data (gated on its presence)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures"
MINI = FIXTURES / "motionsense_mini"


def full_data_dir() -> Path | None:
    env = os.environ.get("MOTIONSENSE_DIR")
    if env:
        return Path(env)
    cand = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "motionsense"
    return cand if cand.exists() else None


@pytest.fixture
def mini_data() -> Path:
    return MINI


@pytest.fixture
def full_data() -> Path:
    path = full_data_dir()
    if path is None or not path.exists():
        pytest.skip("full MotionSense data absent: set MOTIONSENSE_DIR or place it at ../shared/data/motionsense")
    return path


@pytest.fixture(scope="session", autouse=True)
def _throwaway_signing_key(tmp_path_factory):
    """Bundles the tests write are signed with a throwaway key (``edge_runtime.testing``) that this
    session, and the CLI subprocesses it starts, trust through the keys folder variable."""
    from edge_runtime.signing import KEYS_DIR_ENV
    from edge_runtime.testing import trusted_keys_dir

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(KEYS_DIR_ENV, str(trusted_keys_dir(tmp_path_factory.mktemp("trusted-keys"))))
        yield


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """Each test session caches preprocessed arrays in a temporary folder, never in the user's home."""
    monkeypatch.setenv("EDGE_RUNTIME_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "3")
