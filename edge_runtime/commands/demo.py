"""``edge-runtime demo``: the whole path in half a minute, no hardware.

Two emulated wearables (bumble GATT peripherals) stream real MotionSense clips (package data:
``edge_runtime/clips``) over a virtual BLE radio; the gateway ingests them through bleak's API,
transforms them with the default bundle and forwards the records to a JSONL file in the working
directory, as binary envelopes over HTTP to the receiving side (``edge-runtime receive``'s
receiver, in this process, storing Parquet in ``./demo-received``), and to MQTT with ``--mqtt URL``
— the same ``Gateway`` that ``edge-runtime run`` runs. It shows live progress, stops by itself, and
ends with what the frozen raw-trained judges of ``edge-runtime evaluate`` (activity, gender, identity;
TFLite files in ``edge_runtime/clips``) infer from the raw clips versus the forwarded windows, what
the server computes from what it stored (steps, activity minutes) beside the same figures from the
raw clips, and a before/after plot.
"""

from __future__ import annotations

import argparse

DEFAULT_BUNDLE = "motionsense-gender"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--seconds", type=float, default=30.0, help="about how long to stream (default 30)")
    parser.add_argument("--mqtt", metavar="URL", help="also publish to this broker (mqtt://host:1883 or mqtts://...)")
    parser.add_argument("--out", default="demo-windows.jsonl", help="JSONL output (default ./demo-windows.jsonl)")
    parser.add_argument("--store", default="demo-received",
                        help="the receiving side's Parquet store (default ./demo-received, emptied first)")
    parser.add_argument("--plot", default="demo-before-after.png", help="before/after plot (default ./demo-before-after.png)")
    parser.add_argument("--bundle", default=None, help=f"bundle name or folder (default: {DEFAULT_BUNDLE})")
    from edge_runtime.gateway.config import DEFAULT_PROFILE, PROFILE_NAMES

    parser.add_argument("--profile", choices=PROFILE_NAMES, default=DEFAULT_PROFILE,
                        help=f"the wearables' device profile (default {DEFAULT_PROFILE}; e.g. polar-verity: PMD at 52 Hz)")

    from edge_runtime.signing import add_trust_arguments

    add_trust_arguments(parser)


def run(args: argparse.Namespace) -> int:
    import asyncio
    import json
    import logging
    import sys
    import tempfile
    import time
    from pathlib import Path

    import numpy as np

    from edge_runtime.bundle import load_bundle, shipped_bundles
    from edge_runtime.errors import UserError
    from edge_runtime.gateway.config import (BleConfig, DeviceConfig, GatewayConfig, MetricsConfig, SinkConfig,
                                             SpoolConfig, TrustConfig)
    from edge_runtime.signing import UNSIGNED_WARNING
    from edge_runtime.gateway.daemon import Gateway, load_engine_quietly
    from edge_runtime.demo_judges import load_judges
    from edge_runtime.recording import load_samples
    from edge_runtime.sinks.envelope import Envelope
    from edge_runtime.sinks.http import HttpSettings

    if args.seconds <= 0:
        raise UserError("--seconds must be positive")
    clips_dir = Path(__file__).resolve().parent.parent / "clips"
    manifest = json.loads((clips_dir / "clips.json").read_text())
    ref = args.bundle
    if ref is None:
        shipped = shipped_bundles()
        if not shipped:
            raise UserError("no bundle is shipped in this install; pass --bundle PATH (a converted bundle folder)")
        ref = DEFAULT_BUNDLE if DEFAULT_BUNDLE in shipped else shipped[0]
    trust = TrustConfig(keys=tuple(args.trust), allow_unsigned=args.allow_unsigned)
    bundle = load_bundle(ref, trust=trust.trust())
    if bundle.signer.key_id is None:
        print(f"edge-runtime demo: {UNSIGNED_WARNING.format(bundle=bundle.id)}", file=sys.stderr)

    out = Path(args.out).resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(b"")  # this run's records only
    clips = manifest["clips"]
    rate = float(manifest["sample_rate"])
    clip_seconds = max(sum(s["end"] - s["start"] for s in c["segments"]) for c in clips) / rate
    speed = clip_seconds / max(args.seconds - 3.0, 1.0)  # ~3 s go to starting and connecting
    devices = tuple(
        DeviceConfig(id=f"wearable-{i + 1}", emulate=str(clips_dir / c["file"]), profile=args.profile,
                     emulate_speed=speed, emulate_loop=False)
        for i, c in enumerate(clips)
    )
    sinks = [SinkConfig(name="jsonl", type="jsonl", path=str(out), spooled=False)]
    receiving = _Receiving(Path(args.store).resolve(), bundle)
    sinks.append(SinkConfig(name="receiver", type="http", http=HttpSettings(url=receiving.url), format="binary"))
    if args.mqtt:
        from edge_runtime.gateway.config import parse_config

        # validated exactly as a config file's [[sinks]] entry would be
        mqtt = parse_config({"bundle": "x", "devices": [{"id": "d", "address": "00:00:00:00:00:00"}],
                             "sinks": [{"type": "mqtt", "name": "mqtt", "url": args.mqtt}]}, "--mqtt").sinks[0]
        sinks.append(mqtt)

    logging.basicConfig(level=logging.ERROR, format="%(levelname)s %(name)s: %(message)s")
    for noisy in ("bumble", "asyncio", "edge_runtime.sinks.mqtt", "edge_runtime.gateway.forwarder"):
        logging.getLogger(noisy).setLevel(logging.CRITICAL)

    tty = sys.stderr.isatty()
    print(f"edge-runtime demo: {len(devices)} emulated {args.profile} wearables streaming MotionSense clips at "
          f"{speed:.1f}x over a virtual BLE radio -> bundle {bundle.id}@{bundle.version} -> {out.name} + binary over "
          f"HTTP -> receiver -> {receiving.store.root.name}/" + (f" + {args.mqtt}" if args.mqtt else ""), file=sys.stderr)

    with tempfile.TemporaryDirectory(prefix="edge-demo-") as tmp:
        config = GatewayConfig(
            source="demo", bundle=str(bundle.path), devices=devices, sinks=tuple(sinks),
            spool=SpoolConfig(path=str(Path(tmp) / "spool.sqlite"), synchronous="normal"),
            metrics=MetricsConfig(enabled=False), ble=BleConfig(backend="virtual"),
            drain_timeout_s=5.0, reconnect_max_s=2.0, trust=trust,
        )

        origins: dict[str, float] = {}  # device id -> device time of the clip's first sample

        async def main() -> Gateway:
            gw = Gateway(config, engine_factory=load_engine_quietly)
            task = asyncio.create_task(gw.run())
            started = time.monotonic()
            deadline = started + args.seconds * 1.5 + 20
            last_print = 0.0
            while not task.done():
                await asyncio.sleep(0.25)
                now = time.monotonic()
                finished = [s.wearable is not None and s.wearable.finished.is_set() for s, _ in gw.sources.values()]
                origins.update({d: s.wearable.clock_origin_s for d, (s, _) in gw.sources.items() if s.wearable})
                if (finished and all(finished)) or now > deadline:
                    # the clips are played out: wait until the last frames have gone through
                    seen, quiet_since = -1.0, time.monotonic()
                    while time.monotonic() - quiet_since < 1.0 and time.monotonic() < now + 10:
                        total = gw.metrics.totals().get("edge_samples_total", 0.0)
                        if total != seen:
                            seen, quiet_since = total, time.monotonic()
                        await asyncio.sleep(0.1)
                    gw.request_stop()
                    break
                if tty or now - last_print >= 5:
                    last_print = now
                    line = _progress(gw, now - started)
                    print(("\r" + line.ljust(100)) if tty else line, end="" if tty else "\n", file=sys.stderr,
                          flush=True)
            await task
            return gw

        try:
            gw = asyncio.run(main())
        finally:
            received = receiving.close()
        if tty:
            print(file=sys.stderr)
        print(_progress(gw, None), file=sys.stderr)

    records = [Envelope.parse(line)[1] for line in out.read_bytes().splitlines() if line.strip()]
    if not records:
        raise UserError("no windows were forwarded (see the messages above)")
    print(f"\n{len(records)} transformed windows in {out} ({out.stat().st_size // 1024} KiB); "
          f"one JSON envelope per line: {{\"id\", \"window\"}}")
    raw_clips = {f"wearable-{i + 1}": (c, load_samples(clips_dir / c["file"])) for i, c in enumerate(clips)}
    summary = _summary(records, raw_clips, manifest, load_judges(clips_dir=clips_dir), bundle, origins)
    print(summary)
    print(_server_side(records, raw_clips, bundle, receiving, received, origins))
    plot = _plot(records, raw_clips, bundle, origins, Path(args.plot).resolve())
    print(plot)
    return 0


class _Receiving:
    """The receiving side, in this process: an HTTP listener storing into a Parquet store."""

    def __init__(self, root, bundle):
        import shutil

        from receiver.http import HttpSource
        from receiver.service import Receiver
        from receiver.store import WindowStore
        from receiver.trust import trust_check, trusted_pairs

        if (root / "state.sqlite").exists():
            shutil.rmtree(root)  # this run's windows only (a folder the demo made before)
        elif root.exists() and any(root.iterdir()):
            from edge_runtime.errors import UserError

            raise UserError(f"--store {root}: not empty and not a receiver store; give another folder")
        self.store = WindowStore(root)
        self.http = HttpSource(Receiver(self.store, trust_check(trusted_pairs(bundles=[bundle.path]))), "127.0.0.1:0")
        self.http.start()
        self.url = f"http://127.0.0.1:{self.http.port}/windows"

    def close(self):
        self.http.stop()
        self.store.flush()
        totals = self.store.totals()
        self.store.close()
        return totals


def _server_side(records, raw_clips, bundle, receiving, totals, origins) -> str:
    """What the server computes from what it stored, beside the same figures from the raw clips."""
    import numpy as np

    from analysis.steps import count_steps, steps_per_window
    from edge_runtime.sinks.binary import codec_for, record_size
    from edge_runtime.sinks.envelope import Envelope
    from receiver.analyse import analyse_store, figures, stream_from_windows, table_lines

    lines = ["", f"Receiving side: {totals.stored} windows arrived as binary envelopes over HTTP "
                 f"({record_size(records[0], codec_for(bundle))} bytes each; "
                 f"{len(Envelope.wrap(records[0]).to_json())} as JSON), {totals.duplicates} duplicates dropped, "
                 f"stored as Parquet in "
                 f"{receiving.store.windows} (edge-runtime receive does this from MQTT or HTTP)."]
    if "acc_magnitude" not in bundle.channels:
        return "\n".join(lines + ["(no acc_magnitude channel: no steps to count)"])
    stored = {d.device_id: d for d in analyse_store(receiving.store.root)}
    rows, kept = [], []
    acc = bundle.channels.index("acc_magnitude")
    for device in sorted(stored):
        aligned = sorted(_aligned([r for r in records if r.device_id == device], raw_clips, bundle, origins),
                         key=lambda row: row[0].start_time)
        if not aligned:
            continue
        fs = aligned[0][0].sample_rate
        raw = stream_from_windows(np.array([w.start_time for w, *_ in aligned]), [r for _, r, _, _ in aligned], fs)
        rows.append((f"{device} raw clip", figures(raw.astype(np.float32), fs, bundle.window, bundle.channels)))
        rows.append((f"{device} server (stored)", stored[device].figures))
        if len(raw) == len(aligned) * bundle.window:  # contiguous windows: steps per window, by activity
            per = [steps_per_window(count_steps(x[:, acc], fs), len(x), bundle.window)
                   for x in (raw, stream_from_windows(np.array([w.start_time for w, *_ in aligned]),
                                                      [w.values for w, *_ in aligned], fs))]
            moving = [i for i, (_, _, act, _) in enumerate(aligned) if act not in ("jog", "std")]
            kept.append(f"{device} {int(per[0][moving].sum())} -> {int(per[1][moving].sum())}")
    lines += ["What the server computes from the stored windows (edge-runtime analyse), beside the same figures "
              "from the raw clips over the same samples:"]
    lines += table_lines(rows, "")
    if kept:
        hidden = "jog" in bundle.manifest.get("activities", {}).get("sensitive", ())
        lines += [f"  Steps in the walking and stairs windows, raw -> server: {', '.join(kept)}."
                  + (" Jogging is forwarded as standing: its steps and minutes do not reach the server." if hidden
                     else "")]
    return "\n".join(lines)


def _progress(gw, elapsed: float | None) -> str:
    totals = gw.metrics.totals()  # one collection: every value below from the same moment
    devices = gw.config.devices

    def total(name: str) -> float:
        return totals.get(name, 0.0)

    count = total("edge_transform_latency_seconds_count")
    latency = f"{1000 * total('edge_transform_latency_seconds_sum') / count:.2f} ms" if count else "-"
    drops = total("edge_windows_dropped_total") + total("edge_frames_malformed_total")
    head = f"[{elapsed:5.1f} s]" if elapsed is not None else "done:"
    return (f"{head} wearables connected {int(total('edge_device_connected'))}/{len(devices)}  frames "
            f"{int(total('edge_frames_total'))}  windows {int(total('edge_windows_total'))}  "
            f"transform latency {latency}  drops {int(drops)}")


def _aligned(records, raw_clips, bundle, origins):
    """For each forwarded window: the raw clip's features over the same samples, and its activity.
    ``origins``: per device, the device time of the clip's first sample (a Polar counts from 2000)."""
    import numpy as np

    from edge_runtime.features import feature_set

    fs = feature_set(bundle.feature_set.name if hasattr(bundle.feature_set, "name") else bundle.feature_set)
    rows = []
    for w in records:
        clip, rec = raw_clips[w.device_id]
        start = int(round((w.start_time - origins.get(w.device_id, 0.0)) * float(rec.sample_rate)))
        n = w.values.shape[0]
        if start < 0 or start + n > len(rec.raw):
            continue
        raw = fs.from_raw(rec.raw[start:start + n])
        mid = start + n // 2
        act = next((s["activity"] for s in clip["segments"] if s["start"] <= mid < s["end"]), None)
        rows.append((w, raw, act, clip["gender"]))
    return rows


def _summary(records, raw_clips, manifest, judges, bundle, origins) -> str:
    """What the raw-trained judges read from the raw clips and from the forwarded windows, side by side.
    Which rows should stay and which should drop is what the bundle declares (its activities, ``protected``)."""
    import numpy as np

    if list(bundle.channels) != ["gyro_magnitude", "acc_magnitude"]:
        return (f"(the demo's judges read mag2 windows; bundle {bundle.id} uses {', '.join(bundle.channels)}: "
                "no summary)")
    rows = _aligned(records, raw_clips, bundle, origins)
    if not rows:
        return "(no forwarded window could be matched to the clips: no summary)"
    raw = np.stack([r[1] for r in rows])
    fwd = np.stack([r[0].values for r in rows])
    truth = {"activity": [r[2] for r in rows], "gender": [r[3] for r in rows],
             "subject": [str(raw_clips[r[0].device_id][0]["subject"]) for r in rows]}
    roles = bundle.manifest.get("activities", {})
    required = roles.get("required", manifest["required"])
    sensitive = roles.get("sensitive", manifest["sensitive"])
    protected = set(bundle.manifest.get("protected", ()))

    def rate(judge, label, on):
        """(raw, forwarded) share of the windows of activities ``on`` that ``judge`` reads as their ``label``."""
        idx = [i for i, a in enumerate(truth["activity"]) if a in on]
        if not idx:
            return "-", "-", 0
        want = np.array([truth[label][i] for i in idx])
        got = [np.array(judge.classes)[judge.predict(x[idx])] for x in (raw, fwd)]
        return (*(f"{100 * np.mean(g == want):5.1f}%" for g in got), len(idx))

    def secret(name):
        return "should drop" if name in protected else "not protected by this bundle"

    A = judges["activity5"]
    table = [(f"activity correct, required ({'/'.join(required)})", rate(A, "activity", required),
              "utility: should stay")]
    if sensitive:
        table.append((f"{'/'.join(sensitive)} recognised (sensitive)", rate(A, "activity", sensitive), "should drop"))
    G = judges["gender"]
    table.append((f"gender correct ({'/'.join(G.windows_of)})", rate(G, "gender", G.windows_of),
                  f"chance = 50%; {secret('gender')}"))
    if "identity" in judges:
        I = judges["identity"]  # noqa: E741
        table.append((f"wearer identified of {len(I.classes)} ({'/'.join(I.windows_of)})",
                      rate(I, "subject", I.windows_of), f"chance = {100 / len(I.classes):.0f}%; {secret('identity')}"))
    names = ", ".join(f"{j.name} {100 * j.raw_test_accuracy:.1f}%" for j in judges.values())
    kinds = "/".join(sorted({e["quantization"] for e in manifest["judges"]["judges"].values()}))
    lines = ["", f"What classifiers infer ({len(rows)} windows): the frozen CNN judges of 'edge-runtime evaluate', "
                 f"trained on raw MotionSense train windows (raw test accuracy {names}; {kinds} TFLite here).",
             f"  {'':44s} {'raw clips':>10s} {'forwarded':>10s}"]
    lines += [f"  {label:44s} {r:>10s} {f:>10s}   ({n} windows; {note})" for label, (r, f, n), note in table]
    measured = bundle.manifest.get("measured") or {}
    if measured.get("judges", {}).get("activity_per_class"):  # signed into the manifest by 'edge-runtime sign'
        m = measured["judges"]
        pct = lambda v: f"{100 * v:.1f}%" if isinstance(v, (int, float)) else "-"  # noqa: E731
        lines.append(f"  Published ('edge-runtime evaluate', signed into this bundle; forwarded, "
                     f"{measured.get('data', {}).get('test_windows', '?')} test windows): activity "
                     + " ".join(f"{a} {pct(v)}" for a, v in m["activity_per_class"].items())
                     + f"; gender {pct(m.get('gender'))}; identity {pct(m.get('identity'))}.")
    else:
        lines.append("  The published figures come from 'edge-runtime evaluate --bundle' (this bundle carries none).")
    return "\n".join(lines)


def _plot(records, raw_clips, bundle, origins, path) -> str:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return "(install matplotlib for the before/after plot: pip install matplotlib)"
    import numpy as np

    device = sorted(raw_clips)[0]
    rows = [r for r in _aligned(records, raw_clips, bundle, origins) if r[0].device_id == device]
    if not rows:
        return "(nothing to plot)"
    rate = rows[0][0].sample_rate
    clip = raw_clips[device][0]
    fig, axes = plt.subplots(len(bundle.channels), 1, figsize=(12, 3.2 * len(bundle.channels)), sharex=True)
    axes = np.atleast_1d(axes)
    for c, (name, unit) in enumerate(zip(bundle.channels, bundle.units)):
        ax = axes[c]
        for w, raw, _, _ in rows:
            t = w.start_time - origins.get(device, 0.0) + np.arange(len(raw)) / rate
            ax.plot(t, raw[:, c], color="0.6", lw=0.8, label="raw (never leaves the device)" if w is rows[0][0] else None)
            ax.plot(t, w.values[:, c], color="tab:blue", lw=0.9, label="forwarded (transformed)" if w is rows[0][0] else None)
        for s in clip["segments"]:
            ax.axvspan(s["start"] / rate, s["end"] / rate, color="tab:red" if s["activity"] == "jog" else "none",
                       alpha=0.08)
            if c == 0:
                ax.text((s["start"] + s["end"]) / 2 / rate, 1.02, s["activity"], transform=ax.get_xaxis_transform(),
                        ha="center", fontsize=9)
        ax.set_ylabel(f"{name} [{unit}]")
        ax.legend(loc="upper right", fontsize=8)
    axes[-1].set_xlabel("time [s]")
    fig.suptitle(f"{device} ({clip['gender']}): raw vs forwarded, bundle {bundle.id}", y=0.995)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return f"before/after plot: {path}"
