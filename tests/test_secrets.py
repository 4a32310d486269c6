"""Secrets: URL credentials are used (HTTP basic auth) or refused, never dropped; passwords never
appear in errors, log lines or metrics; risky settings warn at start; the metrics server is bounded."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import math
import socket
import struct
import time
import urllib.request

import pytest

from edge_runtime.errors import UserError
from edge_runtime.gateway import metrics as metrics_module
from edge_runtime.gateway.config import parse_config
from edge_runtime.gateway.logs import JsonFormatter
from edge_runtime.redaction import redact_text, redact_url
from edge_runtime.sinks.base import SinkUnavailable
from edge_runtime.sinks.envelope import Envelope
from edge_runtime.sinks.http import HttpSettings, HttpSink

SECRET = "s3cr3t-Pa55"


def _doc(**sink):
    return {"bundle": "motionsense-gender", "devices": [{"id": "d", "address": "00:11:22:33:44:55"}],
            "sinks": [sink]}


def test_redaction():
    assert redact_url(f"mqtt://gw:{SECRET}@broker:1883/x") == "mqtt://gw:***@broker:1883/x"
    assert redact_url("https://host/path") == "https://host/path"
    assert SECRET not in redact_text(f"error talking to http://u:{SECRET}@h:1/p and mqtts://a:{SECRET}@b")


def test_credentials_in_an_http_url_are_basic_auth(collector):  # noqa: F811
    url = collector.url.replace("http://", f"http://gw%40site:{SECRET}@")
    sink = HttpSink("h", HttpSettings(url=url))
    asyncio.run(sink.send([_envelope()]))
    auth = collector.headers[0]["Authorization"]
    assert auth == "Basic " + base64.b64encode(f"gw@site:{SECRET}".encode()).decode()


def _envelope() -> Envelope:
    import numpy as np

    from edge_runtime.transformed_window import TransformedWindow

    w = TransformedWindow("d", 0, 0.0, 50.0, ("a", "b"), ("g", "g"), np.zeros((4, 2), np.float32), "b", "1")
    return Envelope.wrap(w)


def test_http_errors_never_show_the_password():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    sink = HttpSink("h", HttpSettings(url=f"http://gw:{SECRET}@127.0.0.1:{port}/in", timeout_s=1))
    with pytest.raises(SinkUnavailable) as err:
        asyncio.run(sink.send([_envelope()]))
    assert SECRET not in str(err.value) and "gw:***@127.0.0.1" in str(err.value)


def test_url_credentials_and_username_together_are_refused():
    with pytest.raises(UserError, match="has credentials and username/password are given too"):
        parse_config(_doc(type="http", url=f"http://a:{SECRET}@h/in", username="b"))


@pytest.mark.parametrize("sink", [
    {"type": "mqtt", "url": f"ftp://gw:{SECRET}@broker"},
    {"type": "mqtt", "url": f"mqtt://gw:{SECRET}@broker:notaport"},
    {"type": "http", "url": f"ftp://gw:{SECRET}@host/x"},
    {"type": "http", "url": f"http://gw:{SECRET}@host:99999999/x"},
])
def test_config_errors_never_show_the_password(sink):
    with pytest.raises(UserError) as err:
        parse_config(_doc(**sink))
    assert SECRET not in str(err.value) and "***" in str(err.value)


def test_log_lines_are_redacted():
    record = logging.LogRecord("x", logging.ERROR, "", 0, f"cannot reach mqtt://gw:{SECRET}@broker", None, None)
    record.error = f"ConnectionRefused(http://gw:{SECRET}@h)"
    line = JsonFormatter().format(record)
    assert SECRET not in line and json.loads(line)["error"] == "ConnectionRefused(http://gw:***@h)"


def test_risky_settings_warn_at_start():
    plain = parse_config({**_doc(type="mqtt", url="mqtt://broker", username="gw", password=SECRET),
                          "metrics": {"listen": "0.0.0.0:9108"}})
    warnings = plain.warnings()
    assert any("password is sent in plaintext over mqtt://" in w for w in warnings)
    assert any("metrics.listen 0.0.0.0:9108 is not a loopback address" in w for w in warnings)
    assert all(SECRET not in w for w in warnings)
    safe = parse_config(_doc(type="mqtt", url="mqtts://broker", username="gw", password=SECRET))
    assert safe.warnings() == []
    in_url = parse_config(_doc(type="mqtt", url=f"mqtt://gw:{SECRET}@broker"))
    assert any("plaintext" in w for w in in_url.warnings())


def test_metrics_server_times_out_idle_connections_and_bounds_them(monkeypatch):
    monkeypatch.setattr(metrics_module, "CONNECTION_TIMEOUT_S", 3.0)
    server = metrics_module.MetricsServer(metrics_module.GatewayMetrics().registry, "127.0.0.1", 0).start()
    try:
        opened = time.monotonic()
        idle = [socket.create_connection(("127.0.0.1", server.port)) for _ in range(metrics_module.MAX_CONNECTIONS)]
        deadline = time.monotonic() + 2.5
        extra = None
        while server.server.refused == 0 and time.monotonic() < deadline:  # once all slots are taken...
            extra = socket.create_connection(("127.0.0.1", server.port))
            extra.settimeout(2.5)
            assert extra.recv(1) == b""  # ...a connection is closed unanswered
            extra.close()
        assert server.server.refused >= 1 and time.monotonic() - opened < 3.0
        for s in idle:  # the idle ones are closed by the per-connection timeout
            s.settimeout(10)
            assert s.recv(1) == b""
        assert 2.5 < time.monotonic() - opened < 9
        with urllib.request.urlopen(f"http://127.0.0.1:{server.port}/metrics", timeout=5) as r:
            assert r.status == 200 and b"edge_bundle_info" in r.read()
    finally:
        server.stop()


def test_decode_config_rejects_non_finite_rates():
    from firmware_bridge.protocol import CONFIG_VERSION, FrameError, decode_config

    for rate in (math.inf, math.nan, -1.0):
        data = struct.pack("<BfHHff", CONFIG_VERSION, rate, 8, 2000, 0.001, 0.001)
        with pytest.raises(FrameError, match="finite and positive"):
            decode_config(data)
    good = decode_config(struct.pack("<BfHHff", CONFIG_VERSION, 50.0, 8, 2000, 0.001, 0.001))
    assert good.rate_hz == 50.0
