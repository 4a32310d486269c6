"""HTTP sink: POST batches of envelopes as JSON Lines (``application/x-ndjson``) or concatenated
binary records (``application/vnd.edge-runtime.windows``, see binary.py).

The standard library only (``http.client`` in a worker thread), so the edge install stays numpy +
LiteRT. A batch is delivered when the server answers 2xx; anything else (connection refused,
timeout, 4xx, 5xx) leaves the whole batch in the spool to retry — the server must de-duplicate on
the envelope id, since a batch whose answer was lost is sent again.
"""

from __future__ import annotations

import asyncio
import base64
import http.client
import ssl
from dataclasses import dataclass, field
from typing import Sequence
from urllib.parse import urlsplit

from edge_runtime.redaction import redact_url
from edge_runtime.sinks.base import Sink, SinkUnavailable
from edge_runtime.sinks.envelope import Envelope
from edge_runtime.sinks.formats import JsonEncoder


@dataclass(frozen=True)
class HttpSettings:
    url: str  # http:// or https://; user:password@ in it is HTTP basic auth (like username/password)
    headers: dict[str, str] = field(default_factory=dict)  # e.g. {"Authorization": "Bearer ..."}
    username: str | None = None  # HTTP basic auth
    password: str | None = None
    ca_file: str | None = None  # for https with a private CA
    timeout_s: float = 10.0


class HttpSink(Sink):
    kind = "http"

    def __init__(self, name: str, settings: HttpSettings, encoder=None):
        super().__init__(name)
        self.settings = settings
        self.encoder = encoder or JsonEncoder()  # formats.py: NDJSON or concatenated binary records
        self._up = True
        parts = urlsplit(settings.url)
        self._https = parts.scheme == "https"
        self._host = parts.hostname or "localhost"
        self._port = parts.port
        self._path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        from urllib.parse import unquote

        # credentials in the URL are basic auth, never dropped; the URL is only ever shown redacted
        self._username = settings.username if settings.username is not None else (
            unquote(parts.username) if parts.username is not None else None)
        self._password = settings.password if settings.password is not None else (
            unquote(parts.password) if parts.password is not None else None)
        self._shown = redact_url(settings.url)

    @property
    def connected(self) -> bool:
        return self._up

    async def send(self, batch: Sequence[Envelope]) -> None:
        if not batch:
            return
        body = self.encoder.body(batch)
        try:
            status, reason = await asyncio.to_thread(self._post, body)
        except (OSError, http.client.HTTPException) as exc:
            self._up = False
            raise SinkUnavailable(f"POST {self._shown}: {exc}") from exc
        if not 200 <= status < 300:
            self._up = False
            raise SinkUnavailable(f"POST {self._shown}: HTTP {status} {reason}")
        self._up = True

    def _post(self, body: bytes) -> tuple[int, str]:
        s = self.settings
        if self._https:
            ctx = ssl.create_default_context(cafile=s.ca_file)
            conn: http.client.HTTPConnection = http.client.HTTPSConnection(
                self._host, self._port, timeout=s.timeout_s, context=ctx
            )
        else:
            conn = http.client.HTTPConnection(self._host, self._port, timeout=s.timeout_s)
        headers = {"Content-Type": self.encoder.content_type, "Content-Length": str(len(body)), **s.headers}
        if self._username is not None:
            token = base64.b64encode(f"{self._username}:{self._password or ''}".encode()).decode()
            headers["Authorization"] = f"Basic {token}"
        try:
            conn.request("POST", self._path, body=body, headers=headers)
            resp = conn.getresponse()
            resp.read()
            return resp.status, resp.reason
        finally:
            conn.close()
