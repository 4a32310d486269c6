"""Where transformed records go: one module per sink behind ``Sink`` (base.py).

``jsonl`` (file or stdout), ``mqtt`` (paho-mqtt, QoS 1, TLS), ``http`` (POSTed NDJSON batches).
Every sink sends ``Envelope``s: a de-duplication id around ``TransformedWindow.to_json()``.
"""

from edge_runtime.sinks.base import Sink, SinkUnavailable
from edge_runtime.sinks.envelope import Envelope

__all__ = ["Envelope", "Sink", "SinkUnavailable"]
