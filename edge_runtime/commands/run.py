"""``edge-runtime run --config gateway.toml``: the gateway daemon (see docs/gateway.md)."""

from __future__ import annotations

import argparse


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", required=True, metavar="TOML", help="gateway config (deploy/gateway.example.toml)")
    parser.add_argument("--check", action="store_true",
                        help="validate the config and the bundle, print a summary, and exit")
    parser.add_argument("--log-level", choices=("debug", "info", "warning", "error"),
                        help="override the config's gateway.log_level")


def run(args: argparse.Namespace) -> int:
    import asyncio
    import json
    from dataclasses import replace

    from edge_runtime.gateway.config import load_config
    from edge_runtime.gateway.daemon import Gateway, load_engine_quietly
    from edge_runtime.gateway.logs import capture_native_stderr, setup_logging

    config = load_config(args.config)
    if args.log_level:
        config = replace(config, log_level=args.log_level)
    if args.check:
        bundle, _ = load_engine_quietly(config.bundle)
        print(json.dumps({
            "config": config.source,
            "bundle": f"{bundle.id}@{bundle.version}",
            "devices": [f"{d.id} ({d.kind})" for d in config.devices],
            "sinks": [f"{s.name} ({s.type}{', spooled' if s.spooled else ''})" for s in config.sinks],
            "spool": config.spool.path,
            "metrics": f"http://{config.metrics.host}:{config.metrics.port}/metrics" if config.metrics.enabled else None,
        }, indent=2))
        return 0
    setup_logging(config.log_level)
    capture_native_stderr()
    return asyncio.run(Gateway(config, config_path=args.config).run())
