"""Wire codecs against the published vectors (host codec and reference firmware), plus decoder fuzzing."""

from __future__ import annotations

import json
import math
import struct
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from firmware_bridge import protocol, thingy52
from firmware_bridge.profiles import OursSession, Thingy52Session
from firmware_bridge.protocol import FrameError
from firmware_bridge.sequence import SequenceTracker

VECTORS = json.loads((Path(protocol.__file__).with_name("test_vectors.json")).read_text())
FIRMWARE_DIR = Path(protocol.__file__).with_name("firmware")
OUR_REASONS = {"short", "version", "length", "crc", "time"}


@pytest.fixture(scope="module")
def framing():
    """The reference firmware's framing module, imported under CPython as the board would run it."""
    sys.path.insert(0, str(FIRMWARE_DIR))
    try:
        import framing as fw

        yield fw
    finally:
        sys.path.remove(str(FIRMWARE_DIR))
        sys.modules.pop("framing", None)


# --------------------------------------------------------------------------------- host codec
def test_one_sample_frame_layout_by_hand():
    """The 20-byte frame spelled out field by field, independent of the encoder."""
    body = bytes([0x11]) + struct.pack("<H", 7) + struct.pack("<I", 20000) + struct.pack("<6h", 1, -2, 3, -4, 5, -6)
    frame = body + bytes([protocol.crc8(body)])
    assert len(frame) == 20 == protocol.DEFAULT_ATT_MTU - 3
    assert protocol.encode_frame(7, 20000, [[1, -2, 3, -4, 5, -6]]) == frame
    decoded = protocol.decode_frame(frame)
    assert (decoded.seq, decoded.t_us, decoded.samples) == (7, 20000, ((1, -2, 3, -4, 5, -6),))


def test_crc8_check_values():
    for v in VECTORS["crc8"]:
        assert protocol.crc8(v["ascii"].encode()) == v["crc"]
    assert protocol.crc8(b"123456789") == 0xF4  # the catalogued CRC-8/SMBUS check value


def test_host_codec_matches_vectors():
    assert VECTORS["uuids"] == {"service": protocol.SERVICE_UUID, "data": protocol.DATA_UUID,
                                "config": protocol.CONFIG_UUID, "control": protocol.CONTROL_UUID}
    for mtu, n in VECTORS["max_samples"].items():
        assert protocol.max_samples(int(mtu)) == n
        assert protocol.frame_size(n) <= max(int(mtu) - 3, protocol.frame_size(1))
    for v in VECTORS["frames"]:
        assert protocol.encode_frame(v["seq"], v["t_us"], v["samples"]).hex() == v["hex"], v["name"]
        f = protocol.decode_frame(bytes.fromhex(v["hex"]))
        assert (f.seq, f.t_us, [list(s) for s in f.samples]) == (v["seq"], v["t_us"], v["samples"])
    for v in VECTORS["invalid_frames"]:
        with pytest.raises(FrameError) as err:
            protocol.decode_frame(bytes.fromhex(v["hex"]))
        assert err.value.reason == v["reason"], v["name"]


def test_config_control_and_physical_values():
    c = VECTORS["config"]
    cfg = protocol.decode_config(bytes.fromhex(c["hex"]))
    assert (cfg.rate_hz, cfg.acc_range_g, cfg.gyro_range_dps, cfg.firmware) == (
        c["rate_hz"], c["acc_range_g"], c["gyro_range_dps"], c["firmware"])
    assert cfg.acc_scale == pytest.approx(16 / 32768) and cfg.gyro_scale == pytest.approx(2000 / 32768 * math.pi / 180)
    assert protocol.encode_config(cfg).hex() == c["hex"]
    frame = next(f for f in VECTORS["frames"] if f["name"] == VECTORS["physical"]["frame"])
    decoded = OursSession(cfg).decode(bytes.fromhex(frame["hex"]))
    np.testing.assert_allclose(decoded.raw, VECTORS["physical"]["values"], rtol=1e-6)
    assert decoded.t[0] == frame["t_us"] / 1e6
    for v in VECTORS["control"]:
        op = {"start": protocol.OP_START, "stop": protocol.OP_STOP, "set_rate": protocol.OP_SET_RATE}[v["op"]]
        assert protocol.encode_control(op, v.get("rate_hz")).hex() == v["hex"]
        assert protocol.decode_control(bytes.fromhex(v["hex"])) == (op, v.get("rate_hz"))


def test_thingy52_vectors():
    for v in VECTORS["thingy52"]["raw"]:
        data = bytes.fromhex(v["hex"])
        assert list(thingy52.decode_raw(data)) == v["counts"]
        phys = thingy52.raw_to_physical(v["counts"])
        np.testing.assert_allclose(phys[:3], v["acc_g"])
        np.testing.assert_allclose(phys[3:], v["gyro_rad_s"])
        assert v["counts"][5] / 32 == 180.0  # 5760 counts of Q11.5 are 180 deg/s = pi rad/s
        assert phys[5] == pytest.approx(math.pi)
    for v in VECTORS["thingy52"]["config"]:
        assert thingy52.decode_config(bytes.fromhex(v["hex"])).motion_freq_hz == v["motion_freq_hz"]
    for v in VECTORS["thingy52"]["invalid"]:
        with pytest.raises(FrameError) as err:
            thingy52.decode_raw(bytes.fromhex(v["hex"]))
        assert err.value.reason == v["reason"]


def test_published_vectors_are_what_the_generator_writes():
    from firmware_bridge.vectors import build

    assert json.loads(json.dumps(build())) == VECTORS


# ------------------------------------------------------------------------- reference firmware
def test_firmware_framing_passes_the_shared_vectors(framing):
    for v in VECTORS["crc8"]:
        assert framing.crc8(v["ascii"].encode()) == v["crc"]
    for mtu, n in VECTORS["max_samples"].items():
        assert framing.max_samples(int(mtu)) == n
    for v in VECTORS["frames"]:
        assert framing.encode_frame(v["seq"], v["t_us"], v["samples"]).hex() == v["hex"], v["name"]
    c = VECTORS["config"]
    assert framing.encode_config(c["rate_hz"], c["acc_range_g"], c["gyro_range_dps"], c["acc_scale"],
                                 c["gyro_scale"], c["firmware"]).hex() == c["hex"]
    for v in VECTORS["control"]:
        op, rate = framing.decode_control(bytes.fromhex(v["hex"]))
        assert op == {"start": 1, "stop": 2, "set_rate": 3}[v["op"]] and rate == v.get("rate_hz")
    assert framing.decode_control(b"\x09") == (None, None)


def test_firmware_frame_builder_streams_consecutive_frames(framing):
    """The builder the board uses (preallocated buffer, sequence advancing) produces decodable frames."""
    fb = framing.FrameBuilder(framing.max_samples(247))
    fb.seq = 65534
    seqs = []
    for k in range(3):
        fb.begin(k * 300000)
        i = 0
        while not fb.add(i, -i, 2048, 3 * i, 0, -1):
            i += 1
        frame = protocol.decode_frame(bytes(fb.finish()))
        seqs.append(frame.seq)
        assert len(frame.samples) == 15 and frame.t_us == k * 300000
    assert seqs == [65534, 65535, 0]


def test_firmware_sources_compile():
    for name in ("main.py", "imu.py", "framing.py"):
        compile((FIRMWARE_DIR / name).read_text(), name, "exec")


# --------------------------------------------------------------------------------------- fuzz
CFG = protocol.Config.for_ranges(50.0, 16, 2000, "fuzz")
valid_frames = st.builds(
    lambda seq, t, rows: protocol.encode_frame(seq, t, rows),
    st.integers(0, 0xFFFF), st.integers(0, 0xFFFFFFFF),
    st.lists(st.lists(st.integers(-32768, 32767), min_size=6, max_size=6), min_size=1, max_size=15))


@st.composite
def mutated(draw):
    frame = bytearray(draw(valid_frames))
    kind = draw(st.sampled_from(["truncate", "flip", "extend", "random", "swap"]))
    if kind == "truncate":
        return bytes(frame[: draw(st.integers(0, len(frame) - 1))])
    if kind == "flip":
        i = draw(st.integers(0, len(frame) - 1))
        frame[i] ^= 1 << draw(st.integers(0, 7))
        return bytes(frame)
    if kind == "extend":
        return bytes(frame) + draw(st.binary(min_size=1, max_size=12))
    if kind == "swap":
        i, j = draw(st.integers(0, len(frame) - 1)), draw(st.integers(0, len(frame) - 1))
        frame[i], frame[j] = frame[j], frame[i]
        return bytes(frame)
    return draw(st.binary(max_size=300))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(valid_frames, mutated()), min_size=1, max_size=40))
def test_fuzz_our_decoder_accounts_for_every_frame(frames):
    session = OursSession(CFG)
    decoded, rejected = 0, {}
    for data in frames:
        try:
            out = session.decode(data)
        except FrameError as exc:
            assert exc.reason in OUR_REASONS
            rejected[exc.reason] = rejected.get(exc.reason, 0) + 1
            continue
        decoded += 1
        assert out.raw.shape == (out.t.shape[0], 6) and 1 <= out.t.shape[0] <= 15
        assert np.all(np.isfinite(out.raw)) and np.all(np.abs(out.raw[:, :3]) <= 16.0 + 1e-6)
    assert decoded + sum(rejected.values()) == len(frames)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.binary(max_size=40), min_size=1, max_size=40))
def test_fuzz_thingy_decoder_accounts_for_every_frame(frames):
    session = Thingy52Session(thingy52.MotionConfig(motion_freq_hz=50))
    decoded = rejected = 0
    for data in frames:
        try:
            out = session.decode(data)
        except FrameError as exc:
            assert exc.reason == "length" and len(data) != thingy52.RAW_SIZE
            rejected += 1
            continue
        decoded += 1
        assert out.raw.shape == (1, 6) and np.all(np.abs(out.raw[0, :3]) <= 32.0)
    assert decoded + rejected == len(frames)
    assert decoded == sum(len(d) == thingy52.RAW_SIZE for d in frames)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.integers(0, 0xFFFF), min_size=1, max_size=10), st.binary(max_size=64))
def test_fuzz_config_and_control_decoders_never_crash(seed_values, blob):
    for data in (blob, protocol.encode_config(CFG)[: len(blob) % 30]):
        try:
            cfg = protocol.decode_config(data)
            assert cfg.rate_hz > 0 and cfg.acc_scale > 0
        except FrameError as exc:
            assert exc.reason == "config"
        try:
            thingy52.decode_config(data)
        except FrameError as exc:
            assert exc.reason == "config"
        try:
            op, _ = protocol.decode_control(data)
            assert op in (1, 2, 3)
        except FrameError as exc:
            assert exc.reason == "control"


# ------------------------------------------------------------------------------ sequencing
@settings(max_examples=300, deadline=None)
@given(st.integers(0, 0xFFFF), st.integers(1, 120), st.data())
def test_sequence_tracker_orders_and_accounts(start, n, data):
    """Drops, duplicates and bounded reordering: output strictly in order, every push accounted."""
    seqs = [(start + i) % 65536 for i in range(n)]
    drop = data.draw(st.sets(st.integers(0, n - 1), max_size=n // 3))
    stream = [s for i, s in enumerate(seqs) if i not in drop]
    dups = data.draw(st.lists(st.integers(0, max(0, len(stream) - 1)), max_size=5)) if stream else []
    for i in sorted(dups, reverse=True):
        stream.insert(i + 1, stream[i])
    for _ in range(data.draw(st.integers(0, 10))):  # local swaps: reordering within the window
        if len(stream) > 1:
            i = data.draw(st.integers(0, len(stream) - 2))
            stream[i], stream[i + 1] = stream[i + 1], stream[i]
    tr = SequenceTracker(window=8, max_hold=1e9)
    out = []
    for s in stream:
        out += tr.push(s, s, now=0.0)
    out += tr.flush()
    c = tr.counters
    positions = [(s - start) % 65536 for s in out]
    assert positions == sorted(set(positions)), "released strictly in sequence order"
    assert len(out) == c.released
    assert c.released + c.duplicates + c.late == len(stream), "every frame accounted for"
    assert set(out) <= set(seqs)
    if stream:
        assert c.released + c.lost == positions[-1] - positions[0] + 1, "every hole counted as lost"


# ------------------------------------------------------------- the ingestion path, frame by frame
@st.composite
def notification_streams(draw):
    """A connection's notifications: frames in order with drops, duplicates, local swaps and mutations."""
    start = draw(st.integers(0, 0xFFFF))
    n = draw(st.integers(1, 60))
    stream = []
    for i in range(n):
        seq = (start + i) % 65536
        frame = protocol.encode_frame(seq, i * 20000, [[i, -i, 2048, 0, 1, -1]])
        fate = draw(st.sampled_from(["ok"] * 6 + ["drop", "dup", "mutate"]))
        if fate == "drop":
            continue
        if fate == "mutate":
            frame = draw(mutated())
        stream.append(frame)
        if fate == "dup":
            stream.append(frame)
    for _ in range(draw(st.integers(0, 8))):
        if len(stream) > 1:
            i = draw(st.integers(0, len(stream) - 2))
            stream[i], stream[i + 1] = stream[i + 1], stream[i]
    return stream


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(notification_streams(), st.booleans())
def test_fuzz_ingestion_path_accounts_for_every_notification(stream, expire_midway):
    from firmware_bridge.ingest import FrameIngest, LinkStats

    stats = LinkStats()
    ingest = FrameIngest(OursSession(CFG), stats, window=4, max_hold=0.5)
    out = []
    for k, data in enumerate(stream):
        out += ingest.on_notification(data, now=k * 0.1)
        if expire_midway:
            out += ingest.expire(now=k * 0.1)
    out += ingest.flush()
    assert stats.frames + sum(stats.malformed.values()) == len(stream) == ingest.notifications
    assert set(stats.malformed) <= OUR_REASONS
    assert len(out) + stats.duplicates + stats.late == stats.frames, "every decoded frame released or dropped"
    if out:
        pos = [(f.seq - out[0].seq) % 65536 for f in out]
        assert pos == sorted(set(pos)), "released in sequence order, no repeats"


def test_forged_frame_with_valid_crc_cannot_shift_the_time_base():
    """A frame that passes length and CRC but whose time disagrees with its sequence number is rejected."""
    from firmware_bridge.ingest import FrameIngest, LinkStats

    stats = LinkStats()
    ingest = FrameIngest(OursSession(CFG), stats)
    frames = [protocol.encode_frame(i, i * 20000, [[i, 0, 0, 0, 0, 0]]) for i in range(6)]
    forged = protocol.encode_frame(3, 3_000_000_000, [[9, 9, 9, 9, 9, 9]])  # right seq, absurd time
    out = []
    for k, data in enumerate(frames[:3] + [forged] + frames[3:]):
        out += ingest.on_notification(data, now=k * 0.01)
    out += ingest.flush()
    assert stats.malformed == {"time": 1}
    assert [f.seq for f in out] == list(range(6))
    np.testing.assert_allclose(np.concatenate([f.t for f in out]), np.arange(6) * 0.02)
