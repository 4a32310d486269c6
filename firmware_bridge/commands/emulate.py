"""``edge-runtime emulate``: an emulated wearable streaming a recording over BLE, in its own process.

It attaches to a virtual radio over TCP on loopback (``--link HOST:PORT``, the radio that
``edge-runtime capture --link`` or a gateway serves) or to any bumble HCI transport
(``--transport SPEC``), so a test can kill it and start it again.
"""

from __future__ import annotations

import argparse

from firmware_bridge.errors import BridgeError
from firmware_bridge.profiles import DEFAULT_PROFILE, PROFILE_NAMES

USER_ERRORS = (BridgeError,)  # printed by the CLI as one line, no traceback


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("recording", help="our recording CSV (t, acc_*, gyro_*) or a MotionSense CSV (50 Hz)")
    parser.add_argument("--profile", choices=PROFILE_NAMES, default=DEFAULT_PROFILE,
                        help=f"device profile (default {DEFAULT_PROFILE})")
    parser.add_argument("--speed", type=float, default=1.0, help="playback speed factor (1 = real time)")
    parser.add_argument("--faults", default="", metavar="SPEC",
                        help="e.g. drop=0.05,reorder=0.05,corrupt=0.02,stall=5:1.5,disconnect=10,seed=1")
    parser.add_argument("--name", default=None, help="advertised name (<= 8 bytes; default EdgeIMU / Thingy)")
    parser.add_argument("--address", default="C0:ED:6E:00:00:01", help="random static BLE address")
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--link", metavar="HOST:PORT", help="virtual radio to attach to over TCP")
    where.add_argument("--transport", metavar="SPEC", help="a bumble HCI transport spec")
    parser.add_argument("--repeat", action="store_true", help="loop the recording forever")
    parser.add_argument("--wait", type=float, default=30.0, help="seconds to keep retrying the radio (default 30)")


def run(args: argparse.Namespace) -> int:
    import asyncio
    import sys

    from firmware_bridge.emulator import EmulatedWearable, Faults

    faults = Faults.parse(args.faults)
    spec = args.transport or f"tcp-client:{args.link}"

    async def main() -> int:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + args.wait
        delay = 0.1
        while True:
            wearable = EmulatedWearable(args.recording, profile=args.profile, speed=args.speed, faults=faults,
                                        name=args.name, address=args.address, transport=spec, repeat=args.repeat)
            try:
                await wearable.start()
                break
            except (OSError, ConnectionError) as exc:
                if loop.time() > deadline:
                    raise BridgeError(f"cannot reach the radio at {spec}: {exc}") from None
                await asyncio.sleep(delay)
                delay = min(2.0, delay * 2)
        print(f"emulating {wearable.name} ({wearable.address}) profile={args.profile} speed={args.speed:g} "
              f"samples={len(wearable.recording)} via {spec}", file=sys.stderr, flush=True)
        # a repeated recording never finishes: then only the radio going away (or a signal) ends it
        done = asyncio.create_task(asyncio.Event().wait() if args.repeat else wearable.finished.wait())
        lost = asyncio.create_task(wearable.radio_lost.wait())
        try:
            await asyncio.wait({done, lost}, return_when=asyncio.FIRST_COMPLETED)
            if lost.done():
                print(f"the radio at {spec} went away", file=sys.stderr)
                return 1
            await asyncio.sleep(0.5)  # let the last notifications reach the link
        finally:
            done.cancel()
            lost.cancel()
            if not wearable.radio_lost.is_set():
                await wearable.stop()
        s = wearable.stats
        print(f"done: {s.samples_sent} samples in {s.frames_sent} frames, connections={s.connections} "
              f"dropped={s.dropped} reordered={s.reordered} corrupted={s.corrupted} stalls={s.stalls} "
              f"disconnects={s.forced_disconnects}", file=sys.stderr)
        return 0

    return asyncio.run(main())
