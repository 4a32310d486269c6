"""Structured logs: one JSON object per line on stderr, for journald and log shippers.

Fields: ``ts`` (ISO 8601 UTC), ``level``, ``logger``, ``msg``, plus whatever a call passes in
``extra=`` (device, sink, error, ...). Never log record contents or per-class information. Any
``scheme://user:password@`` in a line has its password replaced by ``***``.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import sys
import threading

from edge_runtime.redaction import redact_text

_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime", "taskName"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out = {
            "ts": dt.datetime.fromtimestamp(record.created, dt.timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for k, v in vars(record).items():
            if k not in _STANDARD and not k.startswith("_"):
                out[k] = v if isinstance(v, (str, int, float, bool, type(None))) else str(v)
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return redact_text(json.dumps(out, separators=(",", ":")))


def setup_logging(level: str = "info", stream=None) -> None:
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    for h in list(root.handlers):
        root.removeHandler(h)
    root.addHandler(handler)
    root.setLevel(level.upper())
    # third-party chatter stays at warning
    for noisy in ("bumble", "bleak", "paho", "asyncio"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))


def capture_native_stderr() -> None:
    """Wrap what native libraries (the LiteRT runtime, BlueZ helpers) print on fd 2 into JSON lines.

    fd 2 becomes a pipe read by a thread that logs each line under the ``native`` logger; Python's
    own ``sys.stderr`` (the JSON handler, and any last-resort traceback) keeps the real stderr.
    """
    real = os.dup(2)
    read_fd, write_fd = os.pipe()
    os.dup2(write_fd, 2)
    os.close(write_fd)
    sys.stderr = os.fdopen(real, "w", buffering=1)
    for h in logging.getLogger().handlers:
        if isinstance(h, logging.StreamHandler):
            h.setStream(sys.stderr)
    native = logging.getLogger("native")

    def pump() -> None:
        with os.fdopen(read_fd, "rb") as pipe:
            for line in pipe:
                text = line.decode(errors="replace").rstrip()
                if text:
                    native.info(text)

    threading.Thread(target=pump, name="native-stderr", daemon=True).start()


def set_level(level: str) -> None:
    logging.getLogger().setLevel(level.upper())
