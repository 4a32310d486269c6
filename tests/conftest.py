"""Shared fixtures: the committed mini MotionSense fixture and the full data (gated on its presence), the
engine fixture models (for ``edge_runtime.testing.make_bundle``), a real HTTP collector and a real mosquitto
broker. Helpers that tests import live in shipped modules (``edge_runtime.testing``,
``edge_runtime.gateway.testing``) or in the servers' own modules here (``http_collector``, ``mqtt_broker``),
never in another test module."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from edge_runtime import testing
from http_collector import Collector
from mqtt_broker import MOSQUITTO, Broker, Subscriber

FIXTURES = Path(__file__).parent / "fixtures"
MINI = FIXTURES / "motionsense_mini"
testing.MODEL_DIRS.append(FIXTURES / "engine")  # bare model names in make_bundle / model_bytes


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


@pytest.fixture
def affine_mag2():
    """What the fixture model ``affine_mag2_w128`` computes, in numpy."""
    def transform(features: np.ndarray) -> np.ndarray:
        return features * np.array([0.5, 2.0], np.float32) + np.array([0.25, -1.0], np.float32)
    return transform


@pytest.fixture
def collector():
    c = Collector()
    yield c
    c.close()


@pytest.fixture
def mosquitto(tmp_path):
    if MOSQUITTO is None:
        pytest.skip("mosquitto binary not found (apt-get install mosquitto, or set $MOSQUITTO)")
    broker = Broker(tmp_path / "broker").start()
    yield broker
    broker.stop()


@pytest.fixture
def mqtt_subscriber(mosquitto):
    sub = Subscriber(mosquitto.port)
    yield sub
    sub.close()
