"""``edge-runtime capture``: record raw samples from a wearable to our recording CSV.

The only command that writes raw data; it never forwards anything. ``--device ADDR|NAME`` uses
bleak's platform backend (BlueZ, CoreBluetooth), or with ``--link HOST:PORT`` serves a virtual radio
that emulated wearables (``edge-runtime emulate --link``) attach to. ``--emulate REC`` captures
from an in-process emulated wearable and ends when the recording does.
"""

from __future__ import annotations

import argparse
import re

from firmware_bridge.errors import BridgeError
from firmware_bridge.profiles import DEFAULT_PROFILE, PROFILE_NAMES

USER_ERRORS = (BridgeError,)  # printed by the CLI as one line, no traceback

_ADDRESS = re.compile(r"^([0-9A-Fa-f]{2}:){5}[0-9A-Fa-f]{2}$|^[0-9A-Fa-f]{8}(-[0-9A-Fa-f]{4}){3}-[0-9A-Fa-f]{12}$")


def configure(parser: argparse.ArgumentParser) -> None:
    src = parser.add_mutually_exclusive_group(required=True)
    src.add_argument("--device", metavar="ADDR|NAME", help="the wearable's address (or macOS UUID) or advertised name")
    src.add_argument("--emulate", metavar="RECORDING.csv", help="capture from an emulated wearable streaming this")
    parser.add_argument("--out", required=True, metavar="FILE.csv", help="output recording (t, acc_*, gyro_*)")
    parser.add_argument("--seconds", type=float, default=None, help="stop after N seconds (default: until Ctrl-C)")
    parser.add_argument("--profile", choices=["auto", *PROFILE_NAMES], default=None,
                        help=f"device profile (--device: default auto-detect; --emulate: default {DEFAULT_PROFILE})")
    parser.add_argument("--speed", type=float, default=1.0, help="--emulate: playback speed factor")
    parser.add_argument("--faults", default="", metavar="SPEC", help="--emulate: fault switches (see emulate --help)")
    parser.add_argument("--link", metavar="HOST:PORT", help="--device: serve a virtual radio here instead of hardware")
    parser.add_argument("--stall-timeout", type=float, default=5.0, help="reconnect after N s without data")


def run(args: argparse.Namespace) -> int:
    import asyncio
    import sys


    if args.seconds is not None and args.seconds <= 0:
        raise BridgeError("--seconds must be > 0")
    if args.emulate and args.link:
        raise BridgeError("--link is for --device; --emulate runs its own radio")
    if args.emulate is None and (args.faults or args.speed != 1.0):
        raise BridgeError("--speed and --faults need --emulate")
    try:
        open(args.out, "a").close()
    except OSError as exc:
        raise BridgeError(f"{args.out}: cannot write ({exc.strerror})") from None
    result = asyncio.run(_capture(args))
    print(result, file=sys.stderr)
    return 0


async def _capture(args: argparse.Namespace) -> str:
    import asyncio

    from firmware_bridge.recording import RecordingWriter
    from firmware_bridge.ingest import BleakOptions, DeviceTarget, Ingestor

    profile = None if args.profile in (None, "auto") else args.profile
    radio = adapter = wearable = None
    try:
        if args.emulate:
            from firmware_bridge.bleak_bumble import BumbleAdapter
            from firmware_bridge.emulator import EmulatedWearable, Faults
            from firmware_bridge.link import VirtualRadio

            radio = VirtualRadio()
            wearable = EmulatedWearable(args.emulate, profile=profile or DEFAULT_PROFILE, speed=args.speed,
                                        faults=Faults.parse(args.faults), radio=radio)
            await wearable.start()
            adapter = await BumbleAdapter.open(radio=radio)
            target = DeviceTarget(address=str(wearable.address), profile=profile or DEFAULT_PROFILE)
            options = adapter.bleak_options()
        else:
            if _ADDRESS.match(args.device):
                target = DeviceTarget(address=args.device, profile=profile)
            else:
                target = DeviceTarget(name=args.device, profile=profile)
            options = BleakOptions()
            if args.link:
                from firmware_bridge.bleak_bumble import BumbleAdapter
                from firmware_bridge.link import VirtualRadio

                host, _, port = args.link.rpartition(":")
                radio = VirtualRadio()
                await radio.serve(host or "127.0.0.1", int(port))
                adapter = await BumbleAdapter.open(radio=radio)
                options = adapter.bleak_options()
        ingestor = Ingestor([target], bleak=options, stall_timeout=args.stall_timeout)
        try:
            await ingestor.start()
        except Exception as exc:  # no adapter, no BlueZ/D-Bus, Bluetooth off: say so in one line
            raise BridgeError(f"cannot scan for BLE devices ({type(exc).__name__}: {exc}); on a machine without "
                            "Bluetooth use --link HOST:PORT with emulated wearables") from None
        with RecordingWriter(args.out) as writer:
            consumer = asyncio.create_task(_write(ingestor, writer))
            try:
                await _wait_end(args, ingestor, wearable)
            finally:
                await ingestor.stop()  # ends samples(): the consumer writes what is queued, then returns
                await consumer
        stats = list(ingestor.stats.values())
        lines = [f"captured {writer.rows} samples to {args.out}"]
        for s in stats:
            lines.append(f"  {s.address} {s.description}: frames={s.frames} lost_frames={s.lost_frames} "
                         f"duplicates={s.duplicates} late={s.late} malformed={dict(s.malformed)} "
                         f"connections={s.connections} stalls={s.stalls}")
        if wearable is not None:
            lines.append(f"  emulator sent {wearable.stats.samples_sent} samples")
        return "\n".join(lines)
    finally:
        if wearable is not None:
            await wearable.stop()
        if adapter is not None:
            await adapter.close()
        if radio is not None:
            await radio.close()


async def _write(ingestor, writer) -> None:
    async for batch in ingestor.samples():
        writer.write(batch.t, batch.raw)


async def _wait_end(args, ingestor, wearable) -> None:
    import asyncio

    loop = asyncio.get_running_loop()
    deadline = None if args.seconds is None else loop.time() + args.seconds
    while deadline is None or loop.time() < deadline:
        if wearable is not None and wearable.finished.is_set():
            break
        await asyncio.sleep(0.05)
    if wearable is None or deadline is not None and loop.time() >= deadline:
        return
    # the recording ended: wait until everything sent arrived, or nothing more arrives for a while
    idle_since, last = loop.time(), -1
    while loop.time() - idle_since < 1.5:
        got = sum(s.samples for s in ingestor.stats.values())
        if got >= wearable.stats.samples_sent:
            return
        if got != last:
            idle_since, last = loop.time(), got
        await asyncio.sleep(0.05)
