"""``edge-runtime run --config gateway.toml``: the gateway daemon (see docs/gateway.md)."""

from __future__ import annotations

import argparse


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", required=True, metavar="TOML", help="gateway config (deploy/gateway.example.toml)")
    parser.add_argument("--check", action="store_true",
                        help="validate the config and the bundle, print a summary, and exit")
    parser.add_argument("--log-level", choices=("debug", "info", "warning", "error"),
                        help="override the config's gateway.log_level")
    from edge_runtime.signing import add_trust_arguments

    add_trust_arguments(parser, keys_also=", and the config's trust.keys (--allow-unsigned: logged as a warning, "
                                          "edge_bundle_unsigned=1)")


def run(args: argparse.Namespace) -> int:
    import asyncio
    import json
    from dataclasses import replace
    from pathlib import Path

    from edge_runtime.errors import UserError
    from edge_runtime.gateway.config import load_config
    from edge_runtime.gateway.daemon import Gateway, load_engine_quietly
    from edge_runtime.gateway.logs import capture_native_stderr, setup_logging

    for k in args.trust:
        if not Path(k).exists():
            raise UserError(f"--trust {k}: no such public key file or folder")
    trust_keys = tuple(str(Path(k).resolve()) for k in args.trust)

    def overrides(config):
        """The command line's options over a (re)loaded config."""
        if args.log_level:
            config = replace(config, log_level=args.log_level)
        return replace(config, trust=replace(config.trust, keys=config.trust.keys + trust_keys,
                                             allow_unsigned=config.trust.allow_unsigned or args.allow_unsigned))

    config = overrides(load_config(args.config))
    if args.check:
        bundle, _ = load_engine_quietly(config)
        print(json.dumps({
            "config": config.source,
            "bundle": f"{bundle.id}@{bundle.version}",
            "signer": bundle.signer.key_id or "UNSIGNED (trust.allow_unsigned / --allow-unsigned)",
            "devices": [f"{d.id} ({d.kind})" for d in config.devices],
            "sinks": [f"{s.name} ({s.type}{', spooled' if s.spooled else ''})" for s in config.sinks],
            "spool": config.spool.path,
            "metrics": f"http://{config.metrics.host}:{config.metrics.port}/metrics" if config.metrics.enabled else None,
            "warnings": config.warnings(),
        }, indent=2))
        return 0
    setup_logging(config.log_level)
    capture_native_stderr()
    return asyncio.run(Gateway(config, config_path=args.config, overrides=overrides).run())
