"""The gateway daemon: device sources -> engine -> (direct sinks, spool -> forwarders -> network sinks).

Lifecycle: ``run()`` starts everything, tells systemd READY, pings the watchdog from the event loop,
and waits. SIGTERM/SIGINT: stop the sources, then keep delivering spooled records for
``drain_timeout_s`` and close the sinks — whatever is still undelivered stays in the spool for the
next start; the whole shutdown takes at most ``drain_timeout_s`` plus the sources' stop. SIGHUP:
re-read the config; a bad config is logged and the old one kept; a new bundle (signature-checked
like the first) replaces the engine; sinks and devices are rebuilt only where their entries
changed, so untouched BLE connections stay up.

Bounds (docs/gateway.md): windows produced but not yet accepted wait in a list of at most
``gateway.max_pending_windows`` (beyond it the newest are dropped: counted, logged once); local sinks have a
bounded queue with back-pressure (``edge_runtime.sinks.direct``); the spool has its own bound.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import signal
import sqlite3
import time
from dataclasses import replace
from typing import TYPE_CHECKING, Callable

import numpy as np

from edge_runtime.errors import UserError
from edge_runtime.gateway.config import GatewayConfig, SinkConfig, load_config
from edge_runtime.gateway.forwarder import Forwarder
from edge_runtime.gateway.logs import set_level
from edge_runtime.gateway.metrics import DeviceTelemetry, GatewayMetrics, MetricsServer, SinkTelemetry, Telemetry
from edge_runtime.gateway.sources import DeviceSource, ReplaySource, SourceCounters
from edge_runtime.gateway.systemd import Notifier
from edge_runtime.transformed_window import TransformedWindow
from edge_runtime.sinks.base import Sink, SinkUnavailable
from edge_runtime.sinks.direct import DirectWriter
from edge_runtime.sinks.envelope import Envelope
from edge_runtime.spool import Spool
from firmware_bridge.backoff import Backoff

if TYPE_CHECKING:
    from edge_runtime.bundle import Bundle
    from edge_runtime.engine import Engine

log = logging.getLogger("edge_runtime.gateway")
TELEMETRY_TIMEOUT_S = 2.0  # a scrape waits this long for the event loop to read the counters


def _require(module: str, what: str, extra: str) -> None:
    import importlib.util

    if importlib.util.find_spec(module) is None:
        raise UserError(f"{what} needs the {module} package: pip install 'edge-privacy-runtime[{extra}]'")


def check_dependencies(config: GatewayConfig) -> None:
    """Fail at start, with the install command, rather than in a retry loop later."""
    if any(not d.replay for d in config.devices):
        _require("bleak", "BLE devices", "ble")
    if config.ble.backend == "virtual":
        _require("bumble", "the virtual BLE radio (emulated wearables)", "ble")
    if any(s.type == "mqtt" for s in config.sinks):
        _require("paho", "the mqtt sink", "mqtt")


def build_sink(cfg: SinkConfig, codecs: dict | None = None) -> Sink:
    """The sink for a config entry; ``codecs`` maps (bundle id, version) to the binary value codec."""
    from edge_runtime.sinks.formats import encoder_for

    encoder = encoder_for(cfg.wire_format, codecs)
    if cfg.type == "jsonl":
        from edge_runtime.sinks.jsonl import JsonlSink

        sink: Sink = JsonlSink(cfg.name, cfg.path or "-", fsync=cfg.fsync)
    elif cfg.type == "mqtt":
        from edge_runtime.sinks.mqtt import MqttSink

        sink = MqttSink(cfg.name, cfg.mqtt, encoder)
    elif cfg.type == "http":
        from edge_runtime.sinks.http import HttpSink

        sink = HttpSink(cfg.name, cfg.http, encoder)
    else:  # config validation makes this unreachable
        raise ValueError(f"unknown sink type {cfg.type!r}")
    return sink


def load_engine(config: GatewayConfig) -> tuple[Bundle, Engine]:
    """The config's bundle, verified and signature-checked with its trust, and an engine for it
    (raises BundleError on any problem)."""
    from edge_runtime.engine import Engine

    bundle = config.load_bundle()
    return bundle, Engine(bundle)


def load_engine_quietly(config: GatewayConfig) -> tuple[Bundle, Engine]:
    """``load_engine`` without the LiteRT runtime's INFO line on stderr (for screens meant for people)."""
    from edge_runtime.interpreter import native_stderr_silenced

    with native_stderr_silenced():
        return load_engine(config)


class Gateway:
    def __init__(
        self,
        config: GatewayConfig,
        config_path: str | None = None,
        notifier: Notifier | None = None,
        engine_factory: Callable[[GatewayConfig], tuple[Bundle, Engine]] = load_engine,
        overrides: Callable[[GatewayConfig], GatewayConfig] = lambda c: c,
    ):
        self.config = config
        self.config_path = config_path
        self.notifier = notifier or Notifier()
        self.engine_factory = engine_factory
        self.overrides = overrides  # command-line options, applied again to a reloaded config
        self.metrics = GatewayMetrics(read=self._telemetry)
        self.bundle = None
        self.engine = None
        self.codecs: dict = {}  # (bundle id, version) -> binary value codec, every bundle loaded this run
        self.spool: Spool | None = None
        self.sinks: dict[str, Sink] = {}
        self.sink_configs: dict[str, SinkConfig] = {}
        self.forwarders: dict[str, Forwarder] = {}
        self.direct: dict[str, DirectWriter] = {}
        self.sources: dict[str, tuple[DeviceSource, asyncio.Task]] = {}
        self.metrics_server: MetricsServer | None = None
        self.ble = None  # BleContext, created with the first BLE device
        self.accepted = 0  # records accepted (spooled and/or written), this run
        self._stop = asyncio.Event()
        self._reload_requested = asyncio.Event()
        self._loop_alive = time.monotonic()
        self._pending: list[TransformedWindow] = []  # produced, not yet accepted
        self._flush_wanted: asyncio.Event | None = None
        self._accepter: asyncio.Task | None = None
        self._closing = False
        self._tasks: list[asyncio.Task] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._retired: dict[str, SourceCounters] = {}  # what stopped sources counted, per device (this run)
        self._retired_failures: dict[str, int] = {}  # failures of sinks replaced or removed, per sink name
        self._guard_drops: dict[str, int] = {}  # windows lost outside the engine (it raised; the spool failed)
        self._pending_full = False  # the pending bound is being hit (logged once per episode)
        self._retiring: set[asyncio.Task] = set()  # local sinks a reload removed, still draining

    # -- lifecycle ----------------------------------------------------------------------------------
    async def start(self) -> None:
        cfg = self.config
        self._loop = asyncio.get_running_loop()
        check_dependencies(cfg)
        for warning in cfg.warnings():
            log.warning(warning, extra={"config": cfg.source})
        self.bundle, self.engine = self.engine_factory(cfg)
        self._add_codec(self.bundle)
        self._bundle_loaded(self.bundle)
        try:
            self.spool = Spool(cfg.spool.path, cfg.spool.bound, synchronous=cfg.spool.synchronous)
        except (sqlite3.Error, OSError) as exc:
            raise UserError(f"{cfg.source}: spool.path: cannot open {cfg.spool.path}: {exc}") from None
        for device_id, next_seq in self.spool.next_seqs().items():  # sequences continue across restarts
            self.engine.resume_sequence(device_id, next_seq)
        for sc in cfg.sinks:
            await self._add_sink(sc)
        # records left for sinks that are no longer configured stay on disk; say so
        orphans = set(self.spool.sinks()) - set(self.sinks)
        if orphans:
            log.warning("spool holds records for sinks not in the config; they stay until such a sink returns",
                        extra={"sinks": ",".join(sorted(orphans))})
        if cfg.metrics.enabled:
            try:
                server = MetricsServer(self.metrics.registry, cfg.metrics.host, cfg.metrics.port, healthy=self._healthy)
            except OSError as exc:
                raise UserError(f"{cfg.source}: metrics.listen: cannot listen on "
                                f"{cfg.metrics.host}:{cfg.metrics.port}: {exc.strerror or exc}") from None
            self.metrics_server = server.start()
            log.info("metrics endpoint", extra={"url": f"http://{cfg.metrics.host}:{self.metrics_server.port}/metrics"})
        self._flush_wanted = asyncio.Event()
        self._sinks_swapping = asyncio.Lock()  # accepting waits while a reload swaps sinks
        self._accepter = asyncio.create_task(self._accept_loop(), name="accept")
        for dev in cfg.devices:
            self._start_source(dev)
        self._tasks.append(asyncio.create_task(self._watchdog(), name="watchdog"))
        self.notifier.ready(f"{len(cfg.devices)} devices, {len(self.sinks)} sinks")
        log.info("gateway started", extra={"devices": len(cfg.devices), "sinks": ",".join(self.sinks),
                                           "spool": cfg.spool.path})

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        for sig, handler in ((signal.SIGTERM, self.request_stop), (signal.SIGINT, self.request_stop),
                             (signal.SIGHUP, self.request_reload)):
            loop.add_signal_handler(sig, handler)
        try:
            await self.start()
            while not self._stop.is_set():
                waiter = asyncio.create_task(self._reload_requested.wait())
                stopper = asyncio.create_task(self._stop.wait())
                await asyncio.wait({waiter, stopper}, return_when=asyncio.FIRST_COMPLETED)
                waiter.cancel()
                stopper.cancel()
                if self._reload_requested.is_set() and not self._stop.is_set():
                    self._reload_requested.clear()
                    try:
                        await self.reload()
                    except Exception as exc:  # a reload must never take the gateway down
                        log.exception("reload failed part-way; running with what was applied",
                                      extra={"error": repr(exc)})
                        self.metrics.reloads.labels("error").inc()
                        self.notifier.ready("reload failed part-way")
        finally:
            await self.shutdown()
            for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
                loop.remove_signal_handler(sig)
        return 0

    def request_stop(self) -> None:
        log.info("stop requested")
        self._stop.set()

    def request_reload(self) -> None:
        log.info("reload requested")
        self._reload_requested.set()

    async def shutdown(self) -> None:
        """Stop sources, accept what they already produced, drain for at most ``drain_timeout_s``, close."""
        self.notifier.stopping()
        for device_id in list(self.sources):
            await self._stop_source(device_id)
        if self.ble is not None:
            await self.ble.close()
            self.ble = None
        deadline = time.monotonic() + self.config.drain_timeout_s

        def remaining() -> float:
            return max(0.0, deadline - time.monotonic())

        if self._accepter is not None:  # accept everything the devices produced, then stop accepting
            self._closing = True
            self._flush_wanted.set()
            done, _ = await asyncio.wait({self._accepter}, timeout=remaining())
            if not done:  # held up by a blocked local sink: what is still pending is not accepted
                self._accepter.cancel()
                await asyncio.gather(self._accepter, return_exceptions=True)
                lost = self._take_pending()
                for w, _ in lost:
                    self._guard_drops[w.device_id] = self._guard_drops.get(w.device_id, 0) + 1
                log.error("shutdown: drain timeout reached while accepting; windows not accepted are dropped",
                          extra={"windows": len(lost)})
            self._accepter = None
        for t in self._tasks:
            t.cancel()
        for fwd in self.forwarders.values():
            await fwd.stop()
        not_written = {}
        for name, writer in self.direct.items():
            not_written[name] = await writer.close(remaining())
        if self._retiring:  # sinks a reload removed: they had drain_timeout_s from then, and have what is left
            await asyncio.wait(set(self._retiring), timeout=remaining())
        left = {}
        if self.spool is not None and self.forwarders:
            results = await asyncio.gather(
                *(f.drain(remaining()) for f in self.forwarders.values()), return_exceptions=True
            )
            for name, ok in zip(self.forwarders, results):
                if ok is not True:
                    left[name] = self.spool.stats(name).records
        for sink in self.sinks.values():
            try:
                await sink.close()
            except Exception as exc:  # closing must not prevent the rest from closing
                log.warning("sink close failed", extra={"sink": sink.name, "error": repr(exc)})
        self.sinks.clear()
        self.forwarders.clear()
        self.direct.clear()
        if self.metrics_server is not None:
            self.metrics_server.stop()
            self.metrics_server = None
        if self.spool is not None:
            self.spool.close()
            self.spool = None
        log.info("gateway stopped", extra={"accepted": self.accepted,
                                           "left_in_spool": sum(left.values()),
                                           **{f"left_{k}": v for k, v in left.items()},
                                           **{f"not_written_{k}": v for k, v in not_written.items() if v}})

    # -- reload (SIGHUP) ------------------------------------------------------------------------------
    async def reload(self) -> bool:
        self.notifier.reloading()
        try:
            new = self.overrides(load_config(self.config_path)) if self.config_path else self.config
            check_dependencies(new)
        except Exception as exc:
            log.error("reload failed; keeping the running config", extra={"error": str(exc)})
            self.metrics.reloads.labels("error").inc()
            self.notifier.ready("reload failed; running the previous config")
            return False
        old = self.config
        try:
            # the bundle is re-read on every reload (its files may have been replaced in place);
            # the engine keeps its per-device state and sequence numbers across the switch
            self.engine.replace_bundle(new.load_bundle())  # raises and keeps the old one
            self.bundle = self.engine.bundle
            self._add_codec(self.bundle)
            self._bundle_loaded(self.bundle)
        except Exception as exc:
            log.error("reload failed: bundle refused; keeping the running bundle and config",
                      extra={"error": str(exc)})
            self.metrics.reloads.labels("error").inc()
            self.notifier.ready("reload failed; running the previous config")
            return False
        if new.spool != old.spool or new.metrics != old.metrics or new.ble != old.ble:
            log.warning("spool, metrics and ble settings change only on restart", extra={"config": new.source})
            new = replace(new, spool=old.spool, metrics=old.metrics, ble=old.ble)
        set_level(new.log_level)
        # sinks: replace the changed ones, add new ones, remove the dropped ones; windows produced
        # meanwhile wait for the new set (a window accepted between removal and addition would be lost)
        new_sinks = {s.name: s for s in new.sinks}
        async with self._sinks_swapping:
            for name in list(self.sinks):
                if new_sinks.get(name) != self.sink_configs.get(name):
                    await self._remove_sink(name)
            for name, sc in new_sinks.items():
                if name not in self.sinks:
                    await self._add_sink(sc)
        # devices: only changed or removed entries lose their connection
        new_devices = {d.id: d for d in new.devices}
        for device_id, (source, _) in list(self.sources.items()):
            if new_devices.get(device_id) != source.device or new.reconnect_max_s != old.reconnect_max_s:
                await self._stop_source(device_id)
        for dev in new.devices:
            if dev.id not in self.sources:
                self._start_source(dev)
        self.config = new
        self.metrics.reloads.labels("ok").inc()
        self.notifier.ready("reloaded")
        log.info("config reloaded", extra={"devices": len(new.devices), "sinks": ",".join(self.sinks)})
        return True

    # -- the pipeline -----------------------------------------------------------------------------------
    def on_samples(self, device_id: str, t: np.ndarray, raw: np.ndarray) -> None:
        """Raw samples in; only transformed windows come out. Any engine failure drops (fail closed)."""
        started = time.perf_counter()
        self.metrics.samples.labels(device_id).inc(len(t))
        try:
            windows = self.engine.push(device_id, t, raw)
        except Exception as exc:  # the engine fails closed itself; this is the gateway's own guard
            self._guard_drops[device_id] = self._guard_drops.get(device_id, 0) + 1
            log.error("engine error; window dropped", extra={"device": device_id, "error": repr(exc)})
            return
        self._accept_windows(device_id, windows, started)

    def _accept_windows(self, device_id: str, windows: list, started: float) -> None:
        """``started``: when the batch that completed these windows entered the engine."""
        if windows:
            self.metrics.windows.labels(device_id).inc(len(windows))
            room = self.config.max_pending_windows - len(self._pending)
            if len(windows) > room:  # acceptance is held up (a blocked local sink): drop the newest, counted
                over = len(windows) - max(room, 0)
                windows = windows[:max(room, 0)]
                self._guard_drops[device_id] = self._guard_drops.get(device_id, 0) + over
                self.metrics.pending_dropped.labels(device_id).inc(over)
                if not self._pending_full:
                    self._pending_full = True
                    log.error("pending windows bound reached (acceptance is held up); new windows are dropped",
                              extra={"device": device_id, "bound": self.config.max_pending_windows})
            self._pending.extend((w, started) for w in windows)
            self._flush_wanted.set()

    def on_connection(self, device_id: str, connected: bool) -> None:
        log.info("device connected" if connected else "device disconnected", extra={"device": device_id})
        if not connected:  # its stream ended: the windows waiting for look-ahead leave now
            started = time.perf_counter()
            try:
                windows = self.engine.flush(device_id)
            except Exception as exc:
                log.error("engine error on flush; windows dropped", extra={"device": device_id, "error": repr(exc)})
                return
            self._accept_windows(device_id, windows, started)

    async def _accept_loop(self) -> None:
        """Group commit: whatever windows were produced while the previous spool transaction ran
        go into the next one, so the fsync happens in a thread, off the event loop, once per group."""
        while True:
            await self._flush_wanted.wait()
            self._flush_wanted.clear()
            windows = self._take_pending()
            try:
                await self._room_in_local_sinks(len(windows))  # outside the lock: a reload may run meanwhile
            except asyncio.CancelledError:  # shutdown's drain timeout, with a local sink still blocked
                for w, _ in windows:
                    self._guard_drops[w.device_id] = self._guard_drops.get(w.device_id, 0) + 1
                raise
            try:
                async with self._sinks_swapping:
                    await self._accept(windows)
            except Exception as exc:  # e.g. the disk is full: say so loudly, count, keep the gateway up
                log.error("could not accept windows; they are dropped", extra={"error": repr(exc),
                                                                              "windows": len(windows)})
                for w, _ in windows:
                    self._guard_drops[w.device_id] = self._guard_drops.get(w.device_id, 0) + 1
            if self._closing and not self._pending:
                return

    async def _room_in_local_sinks(self, n: int) -> None:
        """Back-pressure: until every local sink's queue has room for ``n`` records (a sink a reload
        removes meanwhile stops counting; one it adds starts empty)."""
        for writer in list(self.direct.values()):
            await writer.wait_for_room(n)

    def _take_pending(self) -> list[tuple[TransformedWindow, float]]:
        windows, self._pending = self._pending, []
        if self._pending_full and windows:
            self._pending_full = False
            log.info("pending windows are being accepted again")
        return windows

    async def _accept(self, pending: list[tuple[TransformedWindow, float]]) -> None:
        """A window is accepted once it is committed to the spool (for every network sink) and
        queued for every local sink; its transform latency is observed then."""
        if not pending:
            return
        envelopes = [Envelope.wrap(w) for w, _ in pending]
        spooled = [name for name, s in self.sinks.items() if self.sink_configs[name].spooled]
        # committed even with no network sink: it also carries each device's next sequence number
        dropped = await asyncio.to_thread(self.spool.put, spooled, envelopes)
        if dropped:
            log.warning("spool bound reached; records dropped", extra={
                "dropped": dropped, "policy": self.config.spool.drop_policy})
        for name in spooled:
            fwd = self.forwarders.get(name)
            if fwd is not None:
                fwd.wake()
        for writer in list(self.direct.values()):
            await writer.put(envelopes)  # room was waited for before the lock (_room_in_local_sinks)
        self.accepted += len(envelopes)
        now = time.perf_counter()
        for w, started in pending:
            self.metrics.latency.labels(w.device_id).observe(now - started)

    # -- parts ------------------------------------------------------------------------------------------
    def _add_codec(self, bundle) -> None:
        from edge_runtime.sinks.binary import codec_for

        self.codecs[(bundle.id, bundle.version)] = codec_for(bundle)

    async def _add_sink(self, sc: SinkConfig) -> None:
        sink = build_sink(sc, self.codecs)
        try:
            await sink.open()
        except SinkUnavailable as exc:
            log.warning("sink not reachable yet; records will be spooled", extra={"sink": sc.name, "error": str(exc)})
        self.sinks[sc.name] = sink
        self.sink_configs[sc.name] = sc
        if sc.spooled:
            fwd = Forwarder(self.spool, sink, batch_size=sc.batch_size, on_delivered=self._delivered)
            self.forwarders[sc.name] = fwd
            fwd.start()
        else:
            self.direct[sc.name] = DirectWriter(sink, self.metrics, max_records=sc.queue_records)

    async def _remove_sink(self, name: str) -> None:
        fwd = self.forwarders.pop(name, None)
        if fwd is not None:
            await fwd.stop()
        writer = self.direct.pop(name, None)
        self._retired_failures[name] = self._retired_failures.get(name, 0) + (fwd or writer).failures
        sink = self.sinks.pop(name)
        self.sink_configs.pop(name, None)
        if writer is not None:  # its queue drains in the background (drain_timeout_s): a blocked sink never
            task = asyncio.create_task(self._retire(writer, sink), name=f"retire:{name}")  # holds up a reload
            self._retiring.add(task)
            task.add_done_callback(self._retiring.discard)
            return
        await sink.close()

    async def _retire(self, writer: DirectWriter, sink: Sink) -> None:
        """A local sink a reload removed or replaced: what is queued for it is written within
        ``drain_timeout_s`` (the rest is logged as not written), then it is closed."""
        failures = writer.failures
        await writer.close(self.config.drain_timeout_s)
        name = sink.name  # its failures while it drained count too
        self._retired_failures[name] = self._retired_failures.get(name, 0) + writer.failures - failures
        try:
            await sink.close()
        except Exception as exc:
            log.warning("sink close failed", extra={"sink": sink.name, "error": repr(exc)})

    def _delivered(self, sink: str, count: int, latencies: list[float]) -> None:
        self.metrics.delivered.labels(sink).inc(count)
        for lat in latencies:
            self.metrics.delivery_latency.labels(sink).observe(lat)

    def _start_source(self, dev) -> None:
        if dev.replay:
            source: DeviceSource = ReplaySource(dev, self.config.reconnect_max_s)
        else:
            from edge_runtime.gateway.ble import BleContext, BleSource  # bleak (and bumble) only when needed

            if self.ble is None:
                self.ble = BleContext(self.config.ble)
            source = BleSource(dev, self.config.reconnect_max_s, self.ble)
        task = asyncio.create_task(self._run_source(source), name=f"device:{dev.id}")
        self.sources[dev.id] = (source, task)

    async def _run_source(self, source: DeviceSource) -> None:
        backoff, delay = Backoff(initial=1.0, maximum=self.config.reconnect_max_s), None
        while True:
            try:
                await source.run(self)
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a source bug must not take the gateway down: restart it
                log.exception("device source failed; restarting", extra={"device": source.device.id,
                                                                         "error": repr(exc)})
                delay = backoff.next(delay)
                await asyncio.sleep(delay)

    async def _stop_source(self, device_id: str, timeout_s: float = 5.0) -> None:
        source, task = self.sources.pop(device_id)
        task.cancel()
        done, _ = await asyncio.wait({task}, timeout=timeout_s)
        counted = source.counters()
        counted.connected = False
        self._retired[device_id] = self._retired.get(device_id, SourceCounters()) + counted
        if not done:  # never let one stuck device block shutdown or a reload
            log.error("device source did not stop in time; abandoning it", extra={"device": device_id})
        elif not task.cancelled() and task.exception() is not None:
            log.warning("device source ended with an error", extra={"device": device_id,
                                                                     "error": repr(task.exception())})

    async def _watchdog(self) -> None:
        """Pings systemd from the event loop (a hung loop stops the pings)."""
        interval = self.notifier.watchdog_interval_s()
        while True:
            self._loop_alive = time.monotonic()
            if interval:
                self.notifier.watchdog()
            await asyncio.sleep(min(interval or 1.0, 1.0))

    def _bundle_loaded(self, bundle) -> None:
        signer = getattr(bundle, "signer", None)
        key = getattr(signer, "key_id", None)
        self.metrics.bundle_info.clear()
        self.metrics.bundle_info.labels(getattr(bundle, "id", "?"), getattr(bundle, "version", "?"),
                                        key or "unsigned").set(1.0)
        self.metrics.bundle_unsigned.set(1.0 if signer is not None and key is None else 0.0)
        if signer is not None and key is None:
            log.warning("BUNDLE IS UNSIGNED: accepted only because trust.allow_unsigned / --allow-unsigned is set; "
                        "nothing vouches for what its model forwards (development only)",
                        extra={"bundle": _bundle_name(bundle)})
        else:
            log.info("bundle loaded", extra={"bundle": _bundle_name(bundle), "signer": key})

    def _healthy(self) -> bool:
        return time.monotonic() - self._loop_alive < 10

    def _telemetry(self) -> Telemetry:
        """What the components counted, for a scrape (from the metrics thread, or from the loop's
        own thread, e.g. the demo's progress line). Sources, the engine and the sinks belong to the
        event loop, so they are read there; the spool is thread-safe and read here."""
        loop = self._loop
        try:
            in_loop = asyncio.get_running_loop() is loop
        except RuntimeError:
            in_loop = False
        if loop is None or in_loop or not loop.is_running():
            devices, sinks, spooled, spool = self._counters()
        else:
            async def read():
                return self._counters()

            future = asyncio.run_coroutine_threadsafe(read(), loop)
            try:
                devices, sinks, spooled, spool = future.result(TELEMETRY_TIMEOUT_S)
            except (concurrent.futures.TimeoutError, concurrent.futures.CancelledError, RuntimeError):
                future.cancel()  # the loop is stuck (/healthz says so) or gone
                return Telemetry()
        for name in spooled if spool is not None else ():
            try:
                st = spool.stats(name)
            except Exception:  # closed by a shutdown meanwhile
                continue
            sinks[name] = replace(sinks[name], spool_records=st.records, spool_bytes=st.bytes, spool_dropped=st.dropped)
        return Telemetry(devices=devices, sinks=sinks)

    def _counters(self):
        """The loop-owned counters, per device and per sink, the spooled sinks' names and the spool
        (on the event loop)."""
        engine = self.engine.stats() if self.engine is not None else {}
        counted = dict(self._retired)
        for device_id, (source, _) in list(self.sources.items()):
            counted[device_id] = counted.get(device_id, SourceCounters()) + source.counters()
        devices = {}
        for device_id in set(counted) | set(engine) | set(self._guard_drops):
            devices[device_id] = DeviceTelemetry(
                source=counted.get(device_id, SourceCounters()),
                windows_dropped=engine.get(device_id, {}).get("windows_dropped", 0) + self._guard_drops.get(device_id, 0))
        sinks = {}
        for name, sink in list(self.sinks.items()):
            part = self.forwarders.get(name) or self.direct.get(name)
            sinks[name] = SinkTelemetry(up=sink.connected, failures=self._retired_failures.get(name, 0)
                                        + (part.failures if part is not None else 0))
        return devices, sinks, [n for n in sinks if n in self.forwarders], self.spool


def _bundle_name(bundle) -> str:
    return f"{getattr(bundle, 'id', '?')}@{getattr(bundle, 'version', '?')}"
