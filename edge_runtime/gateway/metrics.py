"""The gateway's Prometheus metrics: prometheus-client for the metrics and the exposition, served by a
bounded server of our own.

Labels are per device and per sink — never per class: how often a sensitive activity was replaced
is itself sensitive, so no metric, log line or record ever counts it (``check_labels`` refuses such
labels when a metric is defined).

Telemetry reaches the metrics one way per kind:

- what the gateway itself does (samples in, windows accepted, deliveries, reloads, back-pressure)
  updates a prometheus-client metric where it happens;
- what a component counts itself (a device source's frames and connections, the engine's drops,
  the spool's depth and drops, a sink's state and failures) is read at scrape time by one
  collector, from the snapshot the gateway hands it (``Telemetry``). No polling loop, no event queue.

``/metrics`` serves the text format (version 0.0.4); ``/healthz`` answers 200 while the gateway's
event loop is alive. prometheus-client's own server (``start_http_server``) starts a thread per
connection, unbounded and without a socket timeout; this one gives each connection
``CONNECTION_TIMEOUT_S`` and serves at most ``MAX_CONNECTIONS`` at once (more are closed
unanswered), so slow or many clients cannot pile up threads.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable, Iterable, Sequence

import prometheus_client
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from edge_runtime.gateway.sources import SourceCounters

CONNECTION_TIMEOUT_S = 5.0
MAX_CONNECTIONS = 8
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"  # what generate_latest writes
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)
FORBIDDEN_LABELS = {"class", "activity", "label", "replaced", "sensitive"}

prometheus_client.disable_created_metrics()  # no `_created` twin per series: half the lines on a device


def check_labels(name: str, labels: Iterable[str]) -> tuple[str, ...]:
    labels = tuple(labels)
    if FORBIDDEN_LABELS & set(labels):
        raise ValueError(f"metric {name}: per-class labels are not allowed ({FORBIDDEN_LABELS & set(labels)})")
    return labels


class Counter(prometheus_client.Counter):
    """prometheus-client's, refusing per-class labels; registered only where ``registry`` says."""

    def __init__(self, name: str, documentation: str, labelnames: Sequence[str] = (), registry=None, **kw):
        super().__init__(name, documentation, check_labels(name, labelnames), registry=registry, **kw)


class Gauge(prometheus_client.Gauge):
    def __init__(self, name: str, documentation: str, labelnames: Sequence[str] = (), registry=None, **kw):
        super().__init__(name, documentation, check_labels(name, labelnames), registry=registry, **kw)


class Histogram(prometheus_client.Histogram):
    def __init__(self, name: str, documentation: str, labelnames: Sequence[str] = (), registry=None,
                 buckets: Sequence[float] = LATENCY_BUCKETS, **kw):
        super().__init__(name, documentation, check_labels(name, labelnames), registry=registry, buckets=buckets,
                         **kw)


# -- what components count themselves, read at scrape time ------------------------------------------------
@dataclass(frozen=True)
class DeviceTelemetry:
    source: SourceCounters = field(default_factory=SourceCounters)  # its frames and connections
    windows_dropped: int = 0  # by the engine (fail closed) and by the gateway (pending bound, spool failure)


@dataclass(frozen=True)
class SinkTelemetry:
    up: bool
    failures: int
    spool_records: int | None = None  # network (spooled) sinks only
    spool_bytes: int | None = None
    spool_dropped: int | None = None


@dataclass(frozen=True)
class Telemetry:
    devices: dict[str, DeviceTelemetry] = field(default_factory=dict)
    sinks: dict[str, SinkTelemetry] = field(default_factory=dict)


# name, type, help, how to read it from a DeviceTelemetry / SinkTelemetry
_DEVICE = (
    ("edge_frames_total", "counter", "BLE frames received", lambda d: d.source.frames),
    ("edge_frames_malformed_total", "counter", "frames dropped as malformed", lambda d: d.source.malformed),
    ("edge_ingest_overflow_total", "counter", "samples dropped because the bounded ingest queue was full",
     lambda d: d.source.overflow),
    ("edge_reconnects_total", "counter", "BLE reconnections after a drop",
     lambda d: max(0, d.source.connections - 1)),
    ("edge_device_connected", "gauge", "1 while the device is connected", lambda d: float(d.source.connected)),
    ("edge_windows_dropped_total", "counter",
     "windows dropped: the model failed (fail closed) or they could not be stored", lambda d: d.windows_dropped),
)
_SINK = (
    ("edge_sink_up", "gauge", "1 while the sink is reachable", lambda s: float(s.up)),
    ("edge_sink_failures_total", "counter", "failed delivery attempts", lambda s: s.failures),
    ("edge_spool_records", "gauge", "records waiting in the spool", lambda s: s.spool_records),
    ("edge_spool_bytes", "gauge", "bytes waiting in the spool", lambda s: s.spool_bytes),
    ("edge_spool_dropped_total", "counter", "records dropped because the spool bound was reached",
     lambda s: s.spool_dropped),
)


class TelemetryCollector:
    """One collector for every component-kept counter: ``read()`` is called once per scrape."""

    def __init__(self, read: Callable[[], Telemetry] = Telemetry):
        for name, *_ in _DEVICE:
            check_labels(name, ["device"])
        for name, *_ in _SINK:
            check_labels(name, ["sink"])
        self.read = read

    def describe(self):
        return self._families(Telemetry())

    def collect(self):
        return self._families(self.read())

    @staticmethod
    def _families(t: Telemetry):
        out = []
        for table, label, items in ((_DEVICE, "device", t.devices), (_SINK, "sink", t.sinks)):
            for name, kind, help_, get in table:
                fam = (CounterMetricFamily if kind == "counter" else GaugeMetricFamily)(name, help_, labels=[label])
                for key, value in sorted(items.items()):
                    v = get(value)
                    if v is not None:
                        fam.add_metric([key], v)
                out.append(fam)
        return out


class GatewayMetrics:
    """The gateway's metric set. Label values are device ids and sink names only."""

    def __init__(self, read: Callable[[], Telemetry] = Telemetry):
        r = self.registry = CollectorRegistry()
        self.telemetry = TelemetryCollector(read)
        r.register(self.telemetry)
        self.samples = Counter("edge_samples_total", "raw samples accepted by the engine", ["device"], r)
        self.windows = Counter("edge_windows_total", "transformed windows emitted", ["device"], r)
        self.latency = Histogram("edge_transform_latency_seconds",
                                 "time from the batch completing a window entering the engine to the window "
                                 "being accepted (spooled and queued for local sinks)", ["device"], r)
        self.pending_dropped = Counter("edge_pending_dropped_total",
                                       "windows dropped because the pending bound was reached", ["device"], r)
        self.delivered = Counter("edge_sink_delivered_total", "records acknowledged by the sink", ["sink"], r)
        self.delivery_latency = Histogram("edge_sink_delivery_latency_seconds",
                                          "time from a record entering the gateway to its acknowledgement",
                                          ["sink"], r)
        self.sink_backpressure = Counter("edge_sink_backpressure_total",
                                         "times a local sink's queue was full and accepting waited", ["sink"], r)
        self.reloads = Counter("edge_config_reloads_total", "SIGHUP reloads", ["result"], r)
        self.bundle_info = Gauge("edge_bundle_info", "1 for the running bundle: id, version and signer key id",
                                 ["bundle", "version", "signer"], r)
        self.bundle_unsigned = Gauge("edge_bundle_unsigned", "1 while an unsigned bundle runs (--allow-unsigned)",
                                     registry=r)
        self.started = Gauge("edge_start_time_seconds", "unix time the gateway started", registry=r)
        self.started.set(time.time())

    def render(self) -> str:
        return generate_latest(self.registry).decode()

    def value(self, name: str, **labels: str) -> float:
        """One sample's current value (0 when absent), e.g. ``value("edge_frames_total", device="wrist")``."""
        v = self.registry.get_sample_value(name, labels)
        return 0.0 if v is None else v

    def totals(self) -> dict[str, float]:
        """Every sample summed over its labels, from one collection: ``{"edge_frames_total": 163.0, ...}``."""
        out: dict[str, float] = {}
        for family in self.registry.collect():
            for sample in family.samples:
                if "le" not in sample.labels:
                    out[sample.name] = out.get(sample.name, 0.0) + sample.value
        return out


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
    """Serves a registry on HOST:PORT in a daemon thread (the address comes from ``[metrics] listen``)."""

    def __init__(self, registry: CollectorRegistry, host: str, port: int,
                 healthy: Callable[[], bool] = lambda: True):
        class Handler(BaseHTTPRequestHandler):
            timeout = CONNECTION_TIMEOUT_S  # socket timeout for reading the request and writing the answer

            def do_GET(self):
                if self.path.split("?")[0] == "/metrics":
                    body, status, ctype = generate_latest(registry), 200, CONTENT_TYPE
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
