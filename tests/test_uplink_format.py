"""The binary envelope (docs/uplink_format.md): committed vectors, exactness against the model's own
output grid, fixed size, clear errors on bad bytes, and the per-sink ``format`` config key."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from edge_runtime.testing import make_bundle

from edge_runtime.bundle import load_bundle, output_quantization
from edge_runtime.engine import Engine
from edge_runtime.gateway.config import ConfigError, parse_config
from edge_runtime.recording import load_samples
from edge_runtime.sinks import binary
from edge_runtime.sinks.envelope import Envelope
from edge_runtime.sinks.formats import BinaryEncoder

ROOT = Path(__file__).resolve().parents[1]
VECTORS = json.loads((ROOT / "docs" / "uplink" / "vectors.json").read_text())
CLIPS = ROOT / "edge_runtime" / "clips"


@pytest.mark.parametrize("vec", VECTORS, ids=[v["name"] for v in VECTORS])
def test_committed_vectors_decode_to_their_values_and_reencode_to_their_bytes(vec):
    data = bytes.fromhex(vec["hex"])
    want = vec["decoded"]
    assert len(data) == vec["length"]
    id_, w = binary.decode(data)
    assert id_ == want["id"]
    assert (w.device_id, w.seq, w.start_time, w.sample_rate) == (want["device_id"], want["seq"], want["start_time"],
                                                                  want["sample_rate"])
    assert (list(w.channels), list(w.units), w.bundle_id, w.bundle_version) == (
        want["channels"], want["units"], want["bundle_id"], want["bundle_version"])
    np.testing.assert_array_equal(w.values, np.array(want["values"], dtype=np.float32))
    codec = binary.ValueCodec(want["encoding"], want["scale"], want["zero_point"])
    assert binary.encode(id_, w, codec) == data


def _clip_windows(bundle, device="wearable-1"):
    engine = Engine(bundle)
    out = []
    for i, name in enumerate(("subject_5.csv", "subject_9.csv")):
        rec = load_samples(CLIPS / name)
        out += engine.push(f"{device}{i}", rec.t, rec.raw)
    return out


@pytest.mark.parametrize("name", ["motionsense-gender", "motionsense-identity"])
def test_shipped_bundles_round_trip_exactly_at_one_size_and_8x_smaller_than_json(name):
    bundle = load_bundle(name)
    step = output_quantization(bundle).scale
    codec = binary.codec_for(bundle)
    assert codec.encoding == "int8" and codec.scale == pytest.approx(step)
    windows = _clip_windows(bundle)
    assert len(windows) > 30  # walking, jogging (replaced), stairs and standing from two people
    sizes, json_sizes = set(), set()
    for w in windows:
        env = Envelope.wrap(w)
        data = BinaryEncoder({(bundle.id, bundle.version): codec}).encode(env)
        sizes.add(len(data) - len(w.device_id))
        json_sizes.add(len(env.to_json()) - len(w.device_id))
        id_, back = Envelope.parse(data)
        assert id_ == env.id and back[:4] == w[:4] and back[7:] == w[7:]
        # the model emits values on its int8 grid: its codes carry them bit for bit
        np.testing.assert_array_equal(back.values, w.values)
    assert len(sizes) == 1, "every window of a bundle and device must encode to the same size"
    assert min(json_sizes) / sizes.pop() >= 8


def test_float16_error_is_below_the_output_step_and_integer_codes_clip_and_zero_nonfinite():
    bundle = load_bundle("motionsense-gender")
    step = output_quantization(bundle).scale
    values = np.stack([w.values for w in _clip_windows(bundle)])
    f16 = binary.FLOAT16.decode_values(binary.FLOAT16.encode_values(values), (-1, values.shape[-1]))
    assert 0 < np.abs(f16 - values.reshape(f16.shape)).max() < step / 2
    codec = binary.ValueCodec("int8", 0.5, 0)
    back = codec.decode_values(codec.encode_values(np.array([[np.nan, 1000.0, -1000.0, 0.74]])), (1, 4))
    np.testing.assert_array_equal(back, [[0.0, 63.5, -64.0, 0.5]])


def test_a_float_bundle_is_sent_as_float16_an_int8_one_as_its_codes(tmp_path):
    assert binary.codec_for(make_bundle(tmp_path / "f", "conv_mag2_w128")) == binary.FLOAT16
    i8 = make_bundle(tmp_path / "q", "conv_mag2_w128_int8")
    codec = binary.codec_for(i8)
    assert codec.encoding == "int8" and codec.step == pytest.approx(output_quantization(i8).scale)
    w = Engine(i8).transform_window("d", 0.0, np.random.default_rng(0).normal(1, 0.3, (128, 2)).astype(np.float32))
    np.testing.assert_array_equal(binary.decode(binary.encode("ab" * 16, w, codec))[1].values, w.values)


def test_bad_bytes_get_an_error_that_names_the_problem():
    data = bytes.fromhex(VECTORS[1]["hex"])
    with pytest.raises(binary.FormatError, match="shorter than the 51-byte header"):
        binary.decode(data[:10])
    with pytest.raises(binary.FormatError, match="not a binary envelope"):
        binary.decode(b"XX" + data[2:])
    with pytest.raises(binary.FormatError, match="format version 9"):
        binary.decode(data[:2] + b"\x09" + data[3:])
    with pytest.raises(binary.FormatError, match="record says 87 bytes, got 86"):
        binary.decode(data[:-1])
    with pytest.raises(binary.FormatError, match="unknown value encoding 7"):
        binary.decode(data[:3] + b"\x07" + data[4:])


def test_split_cuts_concatenated_records_and_refuses_garbage():
    records = [bytes.fromhex(v["hex"]) for v in VECTORS]
    assert list(binary.split(b"".join(records))) == records
    with pytest.raises(binary.FormatError, match="no binary envelope at byte 392"):
        list(binary.split(records[0] + b"junk!!!"))
    with pytest.raises(binary.FormatError, match="claims 87 bytes"):
        list(binary.split(records[1][:-3]))


def _sinks(*entries):
    return parse_config({"bundle": "x", "devices": [{"id": "d", "address": "00:00:00:00:00:00"}],
                         "sinks": list(entries)}).sinks


def test_format_is_chosen_per_sink_binary_by_default_on_the_network():
    jsonl, mqtt, http, mqtt_json = _sinks(
        {"type": "jsonl", "path": "-"}, {"type": "mqtt", "url": "mqtt://h"}, {"type": "http", "url": "http://h/x"},
        {"type": "mqtt", "url": "mqtt://h", "name": "m2", "format": "json"})
    assert [s.wire_format for s in (jsonl, mqtt, http, mqtt_json)] == ["json", "binary", "binary", "json"]
    with pytest.raises(ConfigError, match=r"sinks\[0\]\.format: a jsonl sink writes text"):
        _sinks({"type": "jsonl", "path": "-", "format": "binary"})
    with pytest.raises(ConfigError, match=r"sinks\[0\]\.format: must be one of json, binary, not 'cbor'"):
        _sinks({"type": "mqtt", "url": "mqtt://h", "format": "cbor"})
