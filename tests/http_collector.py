"""A real HTTP server on loopback that stores what the HTTP sink posts, for tests (fixture ``collector``
in ``conftest.py``); can be told to fail with a status."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from edge_runtime.sinks import binary
from edge_runtime.sinks.envelope import Envelope


class Collector:
    """A real HTTP server on 127.0.0.1 that stores NDJSON bodies; can be told to fail."""

    def __init__(self):
        self.bodies: list[bytes] = []
        self.headers: list[dict] = []
        self.fail_with: int | None = None
        collector = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if collector.fail_with:
                    self.send_response(collector.fail_with)
                    self.end_headers()
                    return
                collector.bodies.append(body)
                collector.headers.append(dict(self.headers))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/ingest"

    def records(self) -> list[bytes]:
        """Each envelope posted: NDJSON lines, or binary records split by their length fields."""
        return [rec for body, h in zip(self.bodies, self.headers)
                for rec in (binary.split(body) if h["Content-Type"] == binary.CONTENT_TYPE else body.splitlines())]

    def ids(self) -> list[str]:
        return [Envelope.parse(rec)[0] for rec in self.records()]

    def close(self):
        self.server.shutdown()
        self.server.server_close()
