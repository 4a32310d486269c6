"""The output record: the only thing that leaves the device.

It carries the transformed values and the metadata a consumer needs to use them, and nothing that
tells a replaced window from any other: no class, no flag, the same fields and the same encoded size
for every window of a stream (values are fixed-width encoded), released on the same cadence.
"""

from __future__ import annotations

import json
from typing import NamedTuple

import numpy as np


class TransformedWindow(NamedTuple):
    """Immutable; a named tuple because the engine builds one per window and a frozen dataclass costs
    three times as much to construct."""

    device_id: str
    seq: int  # per-device window sequence number, from 0
    start_time: float  # seconds (device clock, after resampling) of the window's first sample
    sample_rate: float  # Hz
    channels: tuple[str, ...]
    units: tuple[str, ...]
    values: np.ndarray  # [window, channels] float32, transformed, in physical units
    bundle_id: str
    bundle_version: str

    def to_dict(self) -> dict:
        return {
            "device_id": self.device_id,
            "seq": self.seq,
            "start_time": float(f"{self.start_time:.6f}"),
            "sample_rate": self.sample_rate,
            "channels": list(self.channels),
            "units": list(self.units),
            # fixed-width text so every window of a stream encodes to the same size
            "values": [[_fixed(v) for v in row] for row in np.asarray(self.values, dtype=np.float32)],
            "bundle_id": self.bundle_id,
            "bundle_version": self.bundle_version,
        }

    def to_json(self) -> bytes:
        d = self.to_dict()
        d["start_time"] = f"{self.start_time:017.6f}"
        d["seq"] = f"{self.seq:012d}"
        return json.dumps(d, separators=(",", ":")).encode()

    @classmethod
    def from_json(cls, data: bytes | str) -> "TransformedWindow":
        d = json.loads(data)
        return cls(
            device_id=d["device_id"],
            seq=int(d["seq"]),
            start_time=float(d["start_time"]),
            sample_rate=float(d["sample_rate"]),
            channels=tuple(d["channels"]),
            units=tuple(d["units"]),
            values=np.array([[float(v) for v in row] for row in d["values"]], dtype=np.float32),
            bundle_id=d["bundle_id"],
            bundle_version=d["bundle_version"],
        )


def _fixed(v: float) -> str:
    """Fixed-width scientific notation: '+1.234567e+00' is always 13 characters."""
    if not np.isfinite(v):
        v = 0.0
    return f"{float(v):+.6e}"
