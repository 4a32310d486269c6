"""The server side: what receives, checks, de-duplicates and stores what gateways forward.

Never imported by the device runtime (``edge_runtime/`` and ``firmware_bridge/``); it reads the
wire with ``edge_runtime.sinks`` (envelope decoding) and nothing else of the device side.
``store`` (inbox + Parquet), ``trust`` (which bundles are accepted), ``service`` (decode, check,
store, count), ``mqtt`` / ``http`` (where records come from), ``analyse`` (steps, activity minutes).
"""
