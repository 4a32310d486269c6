"""The one user-facing command, ``edge-runtime``.

Subcommands are registered by module path and imported only when chosen, so ``--help`` and the
edge subcommands start fast and never pull in TensorFlow. A command module provides
``configure(parser)`` (arguments) and ``run(args) -> int`` (exit status); it keeps its own heavy
imports inside ``run``. A module from a lower layer that has its own error class names it in
``USER_ERRORS``: those are printed as one line too.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from edge_runtime.errors import UserError

# name -> (module, one-line help). Order is the order shown in --help.
COMMANDS: dict[str, tuple[str, str]] = {
    "demo": ("edge_runtime.commands.demo", "emulated wearables -> BLE -> transform -> JSONL, with a summary"),
    "run": ("edge_runtime.commands.run", "the gateway daemon: devices, bundle, sinks, spool, metrics"),
    "transform": ("edge_runtime.commands.transform", "transform a dataset offline with a bundle (.npy, CSV, MotionSense)"),
    "inspect": ("edge_runtime.commands.inspect", "print a bundle's verified manifest and who signed it"),
    "sign": ("edge_runtime.commands.sign", "sign bundles with an Ed25519 key (writes manifest.sig)"),
    "keygen": ("edge_runtime.commands.keygen", "make an Ed25519 key pair for signing bundles"),
    "benchmark": ("edge_runtime.commands.benchmark", "per-window cost, memory, cold start and throughput ratios"),
    "receive": ("receiver.commands.receive", "server side: store what gateways forward (MQTT/HTTP) as Parquet, once each"),
    "analyse": ("receiver.commands.analyse", "server side: steps and activity minutes per device and day from stored windows"),
    "capture": ("firmware_bridge.commands.capture", "record raw samples from a wearable to CSV (never forwards)"),
    "emulate": ("firmware_bridge.commands.emulate", "run an emulated wearable streaming a recording over BLE"),
    "evaluate": ("models.commands.evaluate", "privacy/utility report: judges, adaptive attackers, fidelity"),
    "train": ("models.commands.train", "train a privacy transform recipe (workstation, TensorFlow)"),
    "convert": ("converters.commands.convert", "convert a trained run into a verified TFLite bundle"),
    "export": ("converters.commands.export", "export a bundle for an Android or iOS app"),
}


def _top_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="edge-runtime",
        description="Privacy transforms for wearable motion data, on the device.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="commands:\n" + "\n".join(f"  {n:<10} {h}" for n, (_, h) in COMMANDS.items())
        + "\n\nRun 'edge-runtime COMMAND --help' for a command's options.",
    )
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    parser.add_argument("command", nargs="?", choices=list(COMMANDS), metavar="COMMAND")
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    top = _top_parser()
    if not argv or argv[0] not in COMMANDS:
        args = top.parse_args(argv[:1])
        if args.version:
            from edge_runtime import __version__

            print(__version__)
            return 0
        top.print_help()
        return 0 if not argv else 2
    name, rest = argv[0], argv[1:]
    module = importlib.import_module(COMMANDS[name][0])
    parser = argparse.ArgumentParser(prog=f"edge-runtime {name}", description=COMMANDS[name][1])
    module.configure(parser)
    args = parser.parse_args(rest)
    try:
        return int(module.run(args) or 0)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # output piped into head & co.: not an error of ours
        sys.stderr.close()
        return 0
    except (UserError, *getattr(module, "USER_ERRORS", ())) as exc:  # clear, expected failures: no traceback
        print(f"edge-runtime {name}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
