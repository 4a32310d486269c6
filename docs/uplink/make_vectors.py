"""Rebuild ``vectors.json``: binary envelopes (hex) and what they decode to, for other decoders.

    PYTHONPATH=. python3 docs/uplink/make_vectors.py

Three records: a real window of the shipped ``motionsense-gender`` bundle (int8 codes, the
encoding that bundle gets), and two small synthetic ones for the int16 and float16 encodings.
``tests/test_uplink_format.py`` checks that the Python decoder reproduces every value here.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from edge_runtime.transformed_window import TransformedWindow
from edge_runtime.sinks import binary

HERE = Path(__file__).resolve().parent


def vectors() -> list[dict]:
    from edge_runtime.bundle import load_bundle
    from edge_runtime.engine import Engine
    from edge_runtime.recording import load_samples

    bundle = load_bundle("motionsense-gender")
    clip = load_samples(Path(__file__).resolve().parents[2] / "edge_runtime" / "clips" / "subject_5.csv")
    real = Engine(bundle).push("wearable-1", clip.t[:256], clip.raw[:256])[0]
    small = dict(sample_rate=50.0, bundle_id="example", bundle_version="1")
    cases = [
        ("int8, a real motionsense-gender window", "0123456789abcdef0123456789abcdef", real, binary.codec_for(bundle)),
        ("int16 codes, scale 0.001, zero point 0", "00000000000000000000000000000001",
         TransformedWindow("dev-1", 7, 1234.5, channels=("a", "b"), units=("g", "g"),
                           values=np.array([[0.0, 1.0], [-1.0, 2.5], [0.001, -0.002]], np.float32), **small),
         binary.ValueCodec("int16", 0.001, 0)),
        ("float16", "ffffffffffffffffffffffffffffffff",
         TransformedWindow("dev-2", 4294967296, 0.02, channels=("x", "y", "z"), units=("rad/s", "g", "m"),
                           values=np.array([[0.5, -3.25, 100.0], [1e-3, 65504.0, -0.0]], np.float32), **small),
         binary.FLOAT16),
    ]
    out = []
    for name, id_, w, codec in cases:
        data = binary.encode(id_, w, codec)
        _, d = binary.decode(data)
        out.append({
            "name": name, "hex": data.hex(), "length": len(data),
            "decoded": {"id": id_, "encoding": codec.encoding, "scale": float(np.float32(codec.scale)),
                        "zero_point": codec.zero_point, "device_id": d.device_id, "seq": d.seq,
                        "start_time": d.start_time, "sample_rate": d.sample_rate, "channels": list(d.channels),
                        "units": list(d.units), "bundle_id": d.bundle_id, "bundle_version": d.bundle_version,
                        "values": [[float(v) for v in row] for row in d.values]},
        })
    return out


if __name__ == "__main__":
    (HERE / "vectors.json").write_text(json.dumps(vectors(), indent=1) + "\n")
    print(f"wrote {HERE / 'vectors.json'}")
