"""Records POSTed by gateways' http sinks: NDJSON or concatenated binary envelopes per request.

A body is answered 204 only after every record of it is committed (or recognised as a duplicate).
A body with any record the receiver refuses gets 400 (malformed) or 403 (untrusted bundle) and
nothing of it is stored: the gateway keeps the batch in its spool and resends it, so nothing is
lost while the receiver's trust list or version catches up.
"""

from __future__ import annotations

import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from edge_runtime.errors import UserError
from edge_runtime.sinks import binary
from receiver.service import Receiver

log = logging.getLogger("receiver.http")
MAX_BODY = 16 * 1024 * 1024


class HttpSource:
    def __init__(self, receiver: Receiver, listen: str):
        host, _, port = listen.rpartition(":")
        if not host or not port.isdigit() or not 0 <= int(port) < 65536:
            raise UserError(f"--http {listen!r}: must be HOST:PORT, e.g. 0.0.0.0:8080")
        self.receiver = receiver
        self.requests = 0
        self.refused_bodies = 0  # answered 4xx: nothing of them stored, the gateway keeps and resends them
        source = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                if length > MAX_BODY:
                    return self._answer(413, f"body over {MAX_BODY} bytes")
                body = self.rfile.read(length)
                try:
                    if self.headers.get("Content-Type", "").split(";")[0].strip() == binary.CONTENT_TYPE:
                        payloads = list(binary.split(body))
                    else:
                        payloads = [line for line in body.splitlines() if line.strip()]
                except binary.FormatError as exc:
                    source.refused_bodies += 1
                    return self._answer(400, str(exc))
                try:
                    out = source.receiver.handle(payloads, source=f"http {self.client_address[0]}",
                                                 all_or_nothing=True)
                except Exception as exc:  # e.g. the disk is full: the gateway keeps the batch and retries
                    log.error("could not store a POSTed batch: %r", exc)
                    return self._answer(503, "cannot store now")
                source.requests += 1
                if out.refused:
                    source.refused_bodies += 1
                if out.malformed:
                    return self._answer(400, out.malformed[0][0])
                if out.untrusted:
                    return self._answer(403, out.untrusted[0][0])
                self._answer(204)

            def _answer(self, status: int, message: str = "") -> None:
                data = message.encode()
                self.send_response(status)
                self.send_header("Content-Length", str(len(data)))
                if data:
                    self.send_header("Content-Type", "text/plain; charset=utf-8")
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        try:
            self.server = ThreadingHTTPServer((host, int(port)), Handler)
        except OSError as exc:
            raise UserError(f"--http {listen}: cannot listen: {exc.strerror or exc}") from None
        self.port = self.server.server_address[1]
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self.server.serve_forever, name="receiver-http", daemon=True)
        self._thread.start()
        log.info("listening for POSTs on http://%s:%s/", self.server.server_address[0], self.port)

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
