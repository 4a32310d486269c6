"""JSONL and HTTP sinks, and the forwarder over the spool, against a real local http.server."""

from __future__ import annotations

import asyncio
import base64
import json

import pytest

from edge_runtime.gateway.forwarder import Forwarder
from edge_runtime.sinks import binary
from edge_runtime.sinks.base import SinkUnavailable
from edge_runtime.sinks.envelope import Envelope
from edge_runtime.sinks.http import HttpSettings, HttpSink
from edge_runtime.sinks.jsonl import JsonlSink
from edge_runtime.spool import Spool
from edge_runtime.testing import async_wait_until
from edge_runtime.testing import numbered_envelopes as envs
from http_collector import Collector


def test_jsonl_file_sink_writes_parseable_envelopes(tmp_path):
    path = tmp_path / "out" / "windows.jsonl"
    batch = envs("wrist", range(4))

    async def go():
        async with JsonlSink("file", path) as sink:
            await sink.send(batch[:2])
            await sink.send(batch[2:])

    asyncio.run(go())
    lines = path.read_bytes().splitlines()
    assert [Envelope.parse(l)[0] for l in lines] == [e.id for e in batch]
    _, w = Envelope.parse(lines[3])
    assert w.seq == 3 and w.device_id == "wrist" and w.values.shape == (128, 2)
    # one record = one fixed-size line
    assert len({len(l) for l in lines}) == 1


def test_jsonl_stdout(capsysbinary):
    batch = envs("wrist", range(2))
    asyncio.run(JsonlSink("out", "-").send(batch))
    out = capsysbinary.readouterr().out.splitlines()
    assert out == [e.to_json() for e in batch]


def test_http_sink_posts_ndjson_batches_with_auth(collector):
    batch = envs("wrist", range(5))
    sink = HttpSink("http", HttpSettings(url=collector.url, username="gw", password="s3cret",
                                         headers={"X-Gateway": "pi-1"}))
    asyncio.run(sink.send(batch))
    assert collector.ids() == [e.id for e in batch]
    h = collector.headers[0]
    assert h["Content-Type"] == "application/x-ndjson" and h["X-Gateway"] == "pi-1"
    assert base64.b64decode(h["Authorization"].split()[1]) == b"gw:s3cret"


def test_http_sink_error_status_and_refused_connection_are_unavailable(collector):
    collector.fail_with = 503
    sink = HttpSink("http", HttpSettings(url=collector.url))
    with pytest.raises(SinkUnavailable, match="503"):
        asyncio.run(sink.send(envs("a", [0])))
    assert not sink.connected
    collector.close()
    with pytest.raises(SinkUnavailable):
        asyncio.run(sink.send(envs("a", [0])))


def test_forwarder_holds_records_while_server_fails_then_delivers_in_order(tmp_path, collector):
    spool = Spool(tmp_path / "spool.db")
    sink = HttpSink("http", HttpSettings(url=collector.url, timeout_s=2))
    batch = envs("a", range(30)) + envs("b", range(30))
    delivered = []

    async def go():
        fwd = Forwarder(spool, sink, batch_size=7, min_backoff_s=0.05, max_backoff_s=0.2,
                        on_delivered=lambda name, n, lat: delivered.append(n))
        collector.fail_with = 500
        fwd.start()
        for e in batch:
            spool.put(["http"], [e])
            fwd.wake()
            await asyncio.sleep(0.002)
        await async_wait_until(lambda: fwd.failures >= 2)  # it tried, failed and backed off, more than once
        assert collector.ids() == [] and spool.stats("http").records == 60
        collector.fail_with = None
        await async_wait_until(lambda: spool.stats("http").records == 0)
        await fwd.stop()

    asyncio.run(go())
    assert collector.ids() == [e.id for e in batch]
    assert sum(delivered) == 60
    # every body is a batch of at most 7 lines
    assert max(len(b.splitlines()) for b in collector.bodies) == 7
    spool.close()


def test_forwarder_drain_delivers_everything_waiting(tmp_path, collector):
    spool = Spool(tmp_path / "spool.db")
    spool.put(["http"], envs("a", range(25)))
    sink = HttpSink("http", HttpSettings(url=collector.url))

    async def go():
        return await Forwarder(spool, sink, batch_size=10).drain(timeout_s=10)

    assert asyncio.run(go()) is True
    assert len(collector.ids()) == 25 and spool.stats("http").delivered == 25
    spool.close()


def test_envelope_adds_only_an_id():
    e = envs("a", [3])[0]
    d = json.loads(e.to_json())
    assert set(d) == {"id", "window"} and len(d["id"]) == 32
    assert json.dumps(d["window"], separators=(",", ":")).encode() == e.record
    assert len(e.to_json()) == e.size


def test_https_with_a_private_ca(tmp_path):
    import shutil
    import ssl
    import subprocess

    if not shutil.which("openssl"):
        pytest.skip("openssl is needed to make a test CA")

    def sh(*args):
        subprocess.run(args, cwd=tmp_path, check=True, capture_output=True)

    sh("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=test-ca",
       "-keyout", "ca.key", "-out", "ca.crt")
    sh("openssl", "req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1", "-keyout", "srv.key", "-out", "srv.csr")
    (tmp_path / "san.ext").write_text("subjectAltName=IP:127.0.0.1\n")
    sh("openssl", "x509", "-req", "-in", "srv.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial", "-days", "2",
       "-extfile", "san.ext", "-out", "srv.crt")
    c = Collector()
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(tmp_path / "srv.crt", tmp_path / "srv.key")
    c.server.socket = ctx.wrap_socket(c.server.socket, server_side=True)
    url = c.url.replace("http://", "https://")
    try:
        batch = envs("a", range(3))
        asyncio.run(HttpSink("https", HttpSettings(url=url, ca_file=str(tmp_path / "ca.crt"))).send(batch))
        assert c.ids() == [e.id for e in batch]
        # without the CA the server's certificate is refused: nothing is sent in the clear instead
        with pytest.raises(SinkUnavailable, match="CERTIFICATE_VERIFY_FAILED"):
            asyncio.run(HttpSink("https", HttpSettings(url=url)).send(batch))
    finally:
        c.close()
