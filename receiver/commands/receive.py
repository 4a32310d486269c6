"""``edge-runtime receive``: store what gateways forward, once each, as Parquet by device and day.

    edge-runtime receive --store received/ --mqtt mqtt://broker:1883
    edge-runtime receive --store received/ --http 0.0.0.0:8080 --trust-bundle motionsense-gender

Subscribes to the gateways' topics (``wearables/+/windows`` unless ``--topic``) in a persistent
QoS 1 session, and/or takes their HTTP POSTs; keeps only records of trusted bundles (default: the
bundles shipped with this install); prints progress every ``--progress-s`` and a summary at the
end (SIGTERM/SIGINT, or ``--idle-exit``). Restarting it with the same ``--store`` and
``--client-id`` continues where it stopped: no loss, no duplicates.
"""

from __future__ import annotations

import argparse

DEFAULT_CLIENT_ID = "edge-runtime-receiver"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--store", required=True, help="folder for the Parquet files and the receiver's state")
    parser.add_argument("--mqtt", metavar="URL", help="broker to subscribe to: mqtt://HOST[:PORT] or mqtts://...")
    parser.add_argument("--topic", default=None,
                        help="the gateways' topic template (default wearables/{device_id}/windows)")
    parser.add_argument("--client-id", default=DEFAULT_CLIENT_ID,
                        help=f"MQTT session name; keep it across restarts (default {DEFAULT_CLIENT_ID})")
    parser.add_argument("--ca-file", default=None, help="CA bundle for an mqtts:// broker")
    parser.add_argument("--http", metavar="HOST:PORT", help="also (or only) take POSTs from http sinks here")
    parser.add_argument("--trust", action="append", default=[], metavar="ID@VERSION",
                        help="trust records of this bundle id and version (repeatable)")
    parser.add_argument("--trust-bundle", action="append", default=[], metavar="BUNDLE",
                        help="trust this bundle (folder, manifest.json or shipped name), after verifying it "
                             "(repeatable). Default, without --trust*: the bundles shipped with this install")
    parser.add_argument("--flush-s", type=float, default=10.0, help="write Parquet at least this often (default 10)")
    parser.add_argument("--progress-s", type=float, default=10.0, help="print progress this often (default 10)")
    parser.add_argument("--idle-exit", type=float, default=None, metavar="S",
                        help="stop after S seconds without a new record (default: run until SIGTERM)")


def run(args: argparse.Namespace) -> int:
    import importlib.util
    import logging
    import signal
    import sys
    import threading
    import time

    from edge_runtime.bundle import shipped_bundles
    from edge_runtime.errors import UserError
    from edge_runtime.sinks.mqtt import DEFAULT_TOPIC

    if not args.mqtt and not args.http:
        raise UserError("nothing to receive from: give --mqtt URL and/or --http HOST:PORT")
    for module, extra in (("pyarrow", "receive"),) + ((("paho", "mqtt"),) if args.mqtt else ()):
        if importlib.util.find_spec(module) is None:
            raise UserError(f"receive needs the {module} package: pip install 'edge-privacy-runtime[{extra}]'")
    for name in ("flush_s", "progress_s"):
        if getattr(args, name) <= 0:
            raise UserError(f"--{name.replace('_', '-')} must be positive")

    from receiver.service import Receiver
    from receiver.store import WindowStore
    from receiver.trust import parse_pair, trust_check, trusted_pairs

    logging.basicConfig(level=logging.INFO, format="receive: %(message)s", stream=sys.stderr)
    pairs = [parse_pair(t) for t in args.trust]
    bundles = args.trust_bundle or ([] if pairs else shipped_bundles())
    trusted = trusted_pairs(pairs, bundles)
    if not trusted:
        raise UserError("no bundle is trusted: give --trust ID@VERSION or --trust-bundle BUNDLE")
    print(f"receive: trusting {', '.join(f'{i}@{v}' for i, v in sorted(trusted))}", file=sys.stderr)
    store = WindowStore(args.store)
    receiver = Receiver(store, trust_check(trusted))
    sources = []
    try:
        if args.http:
            from receiver.http import HttpSource

            sources.append(HttpSource(receiver, args.http))
        if args.mqtt:
            from receiver.mqtt import MqttSource

            sources.append(MqttSource(receiver, args.mqtt, args.topic or DEFAULT_TOPIC, args.client_id, args.ca_file))
    except UserError:
        store.close()
        raise
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    for s in sources:
        s.start()
    start = store.totals()
    print(f"receive: storing into {store.windows} ({start.stored} windows from earlier runs, "
          f"{start.pending} still to write)", file=sys.stderr, flush=True)
    last_flush = last_progress = last_new = time.monotonic()
    seen = start.stored + start.duplicates + start.untrusted + start.malformed
    try:
        while not stop.wait(0.2):
            now = time.monotonic()
            if now - last_flush >= args.flush_s:
                store.flush()
                last_flush = now
            t = store.totals()
            if t.stored + t.duplicates + t.untrusted + t.malformed != seen:
                seen, last_new = t.stored + t.duplicates + t.untrusted + t.malformed, now
            if now - last_progress >= args.progress_s:
                print(_line("progress", t, start, sources), file=sys.stderr, flush=True)
                last_progress = now
            if args.idle_exit is not None and now - last_new >= args.idle_exit:
                break
    finally:
        for s in sources:
            s.stop()
        store.flush()
        print(_line("stopped", store.totals(), start, sources), file=sys.stderr, flush=True)
        store.close()
    return 0


def _line(what: str, t, start, sources) -> str:
    waits = sum(getattr(s, "queue_full_waits", 0) for s in sources)
    refused = sum(getattr(s, "refused_bodies", 0) for s in sources)
    return (f"receive: {what}: stored={t.stored} (this run {t.stored - start.stored}) "
            f"duplicates={t.duplicates} (this run {t.duplicates - start.duplicates}) untrusted={t.untrusted} "
            f"malformed={t.malformed} pending={t.pending} files={t.files} devices={t.devices}"
            + (f" queue_full_waits={waits}" if waits else "") + (f" http_refused={refused}" if refused else ""))
