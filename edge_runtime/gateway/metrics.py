"""Prometheus text-format metrics on a local HTTP endpoint (standard library only).

Labels are per device and per sink — never per class: how often a sensitive activity was replaced
is itself sensitive, so no metric, log line or record ever counts it. ``/metrics`` serves the text
format (version 0.0.4); ``/healthz`` answers 200 while the gateway's event loop is alive. The
server gives each connection ``CONNECTION_TIMEOUT_S`` and serves at most ``MAX_CONNECTIONS`` at
once (more are closed unanswered), so slow or many clients cannot pile up threads.
"""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable, Iterable, Sequence

CONNECTION_TIMEOUT_S = 5.0
MAX_CONNECTIONS = 8
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)
FORBIDDEN_LABELS = {"class", "activity", "label", "replaced", "sensitive"}


def _labels(names: Sequence[str], values: Sequence[str]) -> str:
    if not names:
        return ""
    esc = (str(v).replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"") for v in values)
    return "{" + ",".join(f'{n}="{v}"' for n, v in zip(names, esc)) + "}"


class _Metric:
    type = "untyped"

    def __init__(self, name: str, help: str, labels: Sequence[str] = ()):
        if FORBIDDEN_LABELS & set(labels):
            raise ValueError(f"metric {name}: per-class labels are not allowed ({FORBIDDEN_LABELS & set(labels)})")
        self.name, self.help, self.labelnames = name, help, tuple(labels)
        self._lock = threading.Lock()

    def header(self) -> list[str]:
        return [f"# HELP {self.name} {self.help}", f"# TYPE {self.name} {self.type}"]


class Counter(_Metric):
    type = "counter"

    def __init__(self, *a, **k):
        super().__init__(*a, **k)
        self._values: dict[tuple[str, ...], float] = {}

    def inc(self, *labels: str, by: float = 1.0) -> None:
        with self._lock:
            self._values[labels] = self._values.get(labels, 0.0) + by

    def set_total(self, *labels: str, value: float) -> None:
        """For totals kept elsewhere (e.g. persisted in the spool)."""
        with self._lock:
            self._values[labels] = value

    def get(self, *labels: str) -> float:
        with self._lock:
            return self._values.get(labels, 0.0)

    def render(self) -> list[str]:
        with self._lock:
            items = sorted(self._values.items())
        return self.header() + [f"{self.name}{_labels(self.labelnames, k)} {v:g}" for k, v in items]


class Gauge(Counter):
    type = "gauge"

    def set(self, *labels: str, value: float) -> None:
        self.set_total(*labels, value=value)

    def clear(self) -> None:
        with self._lock:
            self._values.clear()


class Histogram(_Metric):
    type = "histogram"

    def __init__(self, name: str, help: str, labels: Sequence[str] = (), buckets: Sequence[float] = LATENCY_BUCKETS):
        super().__init__(name, help, labels)
        self.buckets = tuple(sorted(buckets))
        self._series: dict[tuple[str, ...], list] = {}  # labels -> [bucket counts..., sum, count]

    def observe(self, *labels: str, value: float) -> None:
        with self._lock:
            s = self._series.setdefault(labels, [0] * len(self.buckets) + [0.0, 0])
            for i, b in enumerate(self.buckets):
                if value <= b:
                    s[i] += 1
            s[-2] += value
            s[-1] += 1

    def count(self, *labels: str) -> int:
        with self._lock:
            return self._series.get(labels, [0])[-1]

    def mean(self, *labels: str) -> float | None:
        with self._lock:
            s = self._series.get(labels)
            return s[-2] / s[-1] if s and s[-1] else None

    def render(self) -> list[str]:
        out = self.header()
        with self._lock:
            items = sorted((k, list(v)) for k, v in self._series.items())
        for k, s in items:
            for i, b in enumerate(self.buckets):
                out.append(f"{self.name}_bucket{_labels(self.labelnames + ('le',), k + (f'{b:g}',))} {s[i]}")
            out.append(f"{self.name}_bucket{_labels(self.labelnames + ('le',), k + ('+Inf',))} {s[-1]}")
            out.append(f"{self.name}_sum{_labels(self.labelnames, k)} {s[-2]:g}")
            out.append(f"{self.name}_count{_labels(self.labelnames, k)} {s[-1]}")
        return out


class Registry:
    def __init__(self):
        self._metrics: list[_Metric] = []
        self._collectors: list[Callable[[], None]] = []

    def add(self, metric: _Metric) -> _Metric:
        self._metrics.append(metric)
        return metric

    def counter(self, name: str, help: str, labels: Sequence[str] = ()) -> Counter:
        return self.add(Counter(name, help, labels))  # type: ignore[return-value]

    def gauge(self, name: str, help: str, labels: Sequence[str] = ()) -> Gauge:
        return self.add(Gauge(name, help, labels))  # type: ignore[return-value]

    def histogram(self, name: str, help: str, labels: Sequence[str] = (), buckets: Iterable[float] = LATENCY_BUCKETS) -> Histogram:
        return self.add(Histogram(name, help, labels, tuple(buckets)))  # type: ignore[return-value]

    def on_collect(self, fn: Callable[[], None]) -> None:
        """``fn`` refreshes gauges right before each scrape."""
        self._collectors.append(fn)

    def render(self) -> str:
        for fn in self._collectors:
            fn()
        lines: list[str] = []
        for m in self._metrics:
            lines += m.render()
        return "\n".join(lines) + "\n"


class GatewayMetrics:
    """The gateway's metric set. Label values are device ids and sink names only."""

    def __init__(self):
        r = self.registry = Registry()
        self.frames = r.counter("edge_frames_total", "BLE frames received", ["device"])
        self.malformed = r.counter("edge_frames_malformed_total", "frames dropped as malformed", ["device"])
        self.samples = r.counter("edge_samples_total", "raw samples accepted by the engine", ["device"])
        self.windows = r.counter("edge_windows_total", "transformed windows emitted", ["device"])
        self.drops = r.counter("edge_windows_dropped_total", "windows dropped: the model failed (fail closed) or they could not be stored", ["device"])
        self.reconnects = r.counter("edge_reconnects_total", "BLE reconnections after a drop", ["device"])
        self.connected = r.gauge("edge_device_connected", "1 while the device is connected", ["device"])
        self.latency = r.histogram("edge_transform_latency_seconds",
                                   "time from the sample completing a window to its record being accepted", ["device"])
        self.delivered = r.counter("edge_sink_delivered_total", "records acknowledged by the sink", ["sink"])
        self.delivery_latency = r.histogram("edge_sink_delivery_latency_seconds",
                                            "time from a record entering the gateway to its acknowledgement", ["sink"])
        self.sink_up = r.gauge("edge_sink_up", "1 while the sink is reachable", ["sink"])
        self.sink_failures = r.counter("edge_sink_failures_total", "failed delivery attempts", ["sink"])
        self.spool_records = r.gauge("edge_spool_records", "records waiting in the spool", ["sink"])
        self.spool_bytes = r.gauge("edge_spool_bytes", "bytes waiting in the spool", ["sink"])
        self.spool_dropped = r.counter("edge_spool_dropped_total", "records dropped because the spool bound was reached", ["sink"])
        self.reloads = r.counter("edge_config_reloads_total", "SIGHUP reloads", ["result"])
        self.bundle_info = r.gauge("edge_bundle_info", "1 for the running bundle: id, version and signer key id",
                                   ["bundle", "version", "signer"])
        self.bundle_unsigned = r.gauge("edge_bundle_unsigned", "1 while an unsigned bundle runs (--allow-unsigned)")
        self.sink_backpressure = r.counter("edge_sink_backpressure_total",
                                           "times a local sink's queue was full and accepting waited", ["sink"])
        self.ingest_overflow = r.counter("edge_ingest_overflow_total",
                                         "samples dropped because the bounded ingest queue was full", ["device"])
        self.pending_dropped = r.counter("edge_pending_dropped_total",
                                         "windows dropped because the pending bound was reached", ["device"])
        self.started = r.gauge("edge_start_time_seconds", "unix time the gateway started")
        self.started.set(value=time.time())


class _BoundedServer(ThreadingHTTPServer):
    """A thread per connection, at most ``MAX_CONNECTIONS`` of them; beyond that a connection is closed."""

    daemon_threads = True

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._slots = threading.BoundedSemaphore(MAX_CONNECTIONS)
        self.refused = 0

    def process_request(self, request, client_address):
        if not self._slots.acquire(blocking=False):
            self.refused += 1
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._slots.release()
            raise

    def process_request_thread(self, request, client_address):
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()


class MetricsServer:
    """Serves a registry on HOST:PORT in a daemon thread."""

    def __init__(self, registry: Registry, host: str = "127.0.0.1", port: int = 9108,
                 healthy: Callable[[], bool] = lambda: True):
        reg = registry

        class Handler(BaseHTTPRequestHandler):
            timeout = CONNECTION_TIMEOUT_S  # socket timeout for reading the request and writing the answer

            def do_GET(self):
                if self.path.split("?")[0] == "/metrics":
                    body, status, ctype = reg.render().encode(), 200, "text/plain; version=0.0.4; charset=utf-8"
                elif self.path == "/healthz":
                    ok = healthy()
                    body, status, ctype = (b"ok\n" if ok else b"unhealthy\n"), (200 if ok else 503), "text/plain"
                else:
                    body, status, ctype = b"not found\n", 404, "text/plain"
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = _BoundedServer((host, port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, name="metrics", daemon=True)

    @property
    def port(self) -> int:
        return self.server.server_address[1]

    def start(self) -> "MetricsServer":
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
