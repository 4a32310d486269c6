"""Emulated wearables -> real bumble BLE stack on a virtual link -> bleak (bumble backend) -> ingestion."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pytest
from bleak import BleakClient, BleakScanner
from bleak.exc import BleakGATTProtocolError

from edge_runtime.cli import main as cli
from edge_runtime.recording import Recording, load_samples, read_recording
from firmware_bridge import protocol
from firmware_bridge.bleak_bumble import BleakClientBumble, BleakScannerBumble, BumbleAdapter
from firmware_bridge.emulator import EmulatedWearable, Faults
from firmware_bridge.ingest import Backoff, DeviceTarget, Ingestor
from firmware_bridge.link import VirtualRadio
from firmware_bridge.profiles import OursSession, Thingy52Session

pytestmark = pytest.mark.timeout(60)
CLIP = Path(__file__).parent / "fixtures" / "motionsense_clip_jog9_sub1.csv"
OURS_Q = OursSession(protocol.Config.for_ranges(50, 16, 2000, "")).quantum
THINGY_Q = Thingy52Session.__new__(Thingy52Session).quantum
QUANTUM = {"ours": OURS_Q, "thingy52": THINGY_Q}


@pytest.fixture(scope="module")
def clip() -> Recording:
    return load_samples(CLIP)


def assert_matches_recording(t, raw, rec: Recording, quantum, rate=50.0):
    """Every delivered sample is the recording's sample at that time, within half a count."""
    assert np.all(np.diff(t) > 0), "per-device time strictly increasing"
    idx = np.rint((t - rec.t[0]) * rate).astype(int)
    assert np.allclose(t, rec.t[idx], atol=1e-6)
    err = np.abs(raw.astype(np.float64) - rec.raw[idx].astype(np.float64))
    assert np.all(err <= quantum / 2 + 1e-6 * np.abs(rec.raw[idx]) + 1e-7), err.max(axis=0)
    return idx


async def stream(wearables, targets, *, bleak_adapter, until, timeout=30.0, **ingest_kw):
    """Run an ingestor until ``until(stats)`` holds; returns ({device_id: (t, raw)}, ingestor)."""
    got: dict[str, list] = {}
    ingestor = Ingestor(targets, bleak=bleak_adapter.bleak_options(), **ingest_kw)

    async def consume():
        async for b in ingestor.samples():
            got.setdefault(b.device_id, []).append(b)

    async with ingestor:
        task = asyncio.create_task(consume())
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not until(ingestor) and loop.time() < deadline:
            await asyncio.sleep(0.05)
    await task
    out = {k: (np.concatenate([b.t for b in v]), np.concatenate([b.raw for b in v])) for k, v in got.items()}
    return out, ingestor


def run(coro):
    return asyncio.run(coro)


# ------------------------------------------------------------------------------ done criteria
@pytest.mark.parametrize("profile", ["ours", "thingy52"])
def test_capture_of_emulated_wearable_round_trips_real_motionsense(tmp_path, clip, profile):
    out = tmp_path / f"cap_{profile}.csv"
    rc = cli(["capture", "--emulate", str(CLIP), "--profile", profile, "--speed", "20", "--out", str(out)])
    assert rc == 0
    cap = read_recording(out)
    assert len(cap) == len(clip), "no sample lost or duplicated"
    idx = assert_matches_recording(cap.t, cap.raw, clip, QUANTUM[profile])
    np.testing.assert_array_equal(idx, np.arange(len(clip)))
    assert np.abs(cap.raw - clip.raw).max() > 0  # quantized, not a copy of the float values


def test_capture_refuses_bad_options(tmp_path, capsys):
    assert cli(["capture", "--emulate", str(CLIP), "--out", str(tmp_path / "x.csv"), "--link", "127.0.0.1:1"]) == 2
    assert cli(["capture", "--emulate", str(tmp_path / "missing.csv"), "--out", str(tmp_path / "x.csv")]) == 2
    assert "no such recording" in capsys.readouterr().err


# ------------------------------------------------------------------- bleak's public API works
def test_bleak_public_api_over_bumble_backend(clip):
    async def main():
        radio = VirtualRadio()
        adapter = await BumbleAdapter.open(radio=radio)
        async with EmulatedWearable(clip, radio=radio, name="EdgeA", speed=50):
            device = await BleakScanner.find_device_by_name("EdgeA", timeout=5, backend=BleakScannerBumble,
                                                            bumble=adapter)
            assert device is not None
            found = await BleakScanner.discover(timeout=0.5, return_adv=True, backend=BleakScannerBumble,
                                                bumble=adapter, service_uuids=[protocol.SERVICE_UUID])
            assert device.address in found and protocol.SERVICE_UUID in found[device.address][1].service_uuids
            frames = []
            async with BleakClient(device, backend=BleakClientBumble, bumble=adapter) as client:
                assert client.mtu_size == 247
                assert client.services.get_service(protocol.SERVICE_UUID) is not None
                cfg = protocol.decode_config(await client.read_gatt_char(protocol.CONFIG_UUID))
                assert cfg.rate_hz == 50 and cfg.firmware.startswith("emu-")
                with pytest.raises(BleakGATTProtocolError):
                    await client.write_gatt_char(protocol.CONTROL_UUID, b"\x7f", response=True)
                await client.start_notify(protocol.DATA_UUID, lambda _c, d: frames.append(bytes(d)))
                await client.write_gatt_char(protocol.CONTROL_UUID, protocol.encode_control(protocol.OP_START),
                                             response=True)
                while len(frames) < 3:
                    await asyncio.sleep(0.02)
                await client.write_gatt_char(protocol.CONTROL_UUID,
                                             protocol.encode_control(protocol.OP_SET_RATE, 25), response=True)
                assert protocol.decode_config(await client.read_gatt_char(protocol.CONFIG_UUID)).rate_hz == 25
                with pytest.raises(BleakGATTProtocolError):  # 30 Hz does not divide the recording's 50 Hz
                    await client.write_gatt_char(protocol.CONTROL_UUID,
                                                 protocol.encode_control(protocol.OP_SET_RATE, 30), response=True)
        await adapter.close()
        return frames

    frames = run(main())
    decoded = [protocol.decode_frame(f) for f in frames[:3]]
    assert [f.seq for f in decoded] == [0, 1, 2]
    assert all(len(f.samples) == 15 for f in decoded)  # the negotiated MTU carries 15 samples per frame


def test_default_mtu_frames_carry_one_sample(clip):
    adapter_box = {}

    async def main():
        radio = VirtualRadio()
        adapter = await BumbleAdapter.open(radio=radio)
        adapter.preferred_mtu = 23  # a central that never negotiates a larger MTU
        adapter_box["a"] = adapter
        async with EmulatedWearable(Recording(clip.t[:60], clip.raw[:60]), radio=radio, speed=20) as w:
            got, ing = await stream([w], [DeviceTarget(service_uuid=protocol.SERVICE_UUID)], bleak_adapter=adapter,
                                    until=lambda i: sum(s.samples for s in i.stats.values()) >= 60)
        await adapter.close()
        return got, ing, w

    got, ing, w = run(main())
    (t, raw), = got.values()
    assert len(t) == 60 and w.stats.frames_sent == 60
    assert_matches_recording(t, raw, clip, OURS_Q)


# ---------------------------------------------------------------------------------- faults
FAULTS = {
    "drop": Faults(drop=0.15, seed=1),
    "reorder": Faults(reorder=0.3, seed=2),
    "corrupt": Faults(corrupt=0.2, seed=3),
    "disconnect": Faults(disconnect_every=1.5, seed=4),
    "stall": Faults(stall_every=3.0, stall_for=1.0, seed=5),
}


@pytest.mark.parametrize("kind", list(FAULTS))
def test_fault_switches_are_survived(clip, kind):
    faults = FAULTS[kind]

    async def main():
        radio = VirtualRadio()
        adapter = await BumbleAdapter.open(radio=radio)
        async with EmulatedWearable(clip, radio=radio, speed=10, faults=faults) as w:
            got, ing = await stream(
                [w], [DeviceTarget(address=str(w.address))], bleak_adapter=adapter,
                until=lambda i: w.finished.is_set() and not i.connected or (
                    w.finished.is_set() and sum(s.samples for s in i.stats.values()) >= w.stats.samples_sent
                    - 15 * (w.stats.dropped + w.stats.corrupted)),
                # a short watchdog only where a stall is the fault: elsewhere a loaded machine must not trip it
                stall_timeout=0.6 if kind == "stall" else 5.0, backoff=Backoff(0.05, 0.5), max_hold=1.0)
            await asyncio.sleep(0)
        await adapter.close()
        return got, ing, w

    got, ing, w = run(main())
    (t, raw), = got.values()
    stats, = ing.stats.values()
    idx = assert_matches_recording(t, raw, clip, OURS_Q)
    delivered = set(idx.tolist())
    if kind == "drop":
        first, last = idx[0] // 15, idx[-1] // 15  # 15 samples per frame at the negotiated MTU
        detectable = [s for s in w.stats.dropped_seqs if first < s < last]  # a gap needs frames on both sides
        assert w.stats.dropped > 0 and stats.lost_frames == len(detectable) > 0
        assert len(delivered) == len(clip) - w.stats.samples_sent + stats.samples
    if kind == "reorder":
        assert w.stats.reordered > 0 and stats.reordered > 0
        assert delivered == set(range(len(clip))), "reordered frames put back in place, none lost"
    if kind == "corrupt":
        assert w.stats.corrupted > 0
        assert sum(stats.malformed.values()) == w.stats.corrupted, "every corrupted frame counted and dropped"
        assert set(stats.malformed) <= {"short", "length", "crc", "version"}
        assert stats.frames + sum(stats.malformed.values()) == w.stats.frames_sent
    if kind == "disconnect":
        assert w.stats.forced_disconnects >= 3 and stats.connections >= 4
        assert len(delivered) >= len(clip) - 15 * w.stats.forced_disconnects
    if kind == "stall":
        assert w.stats.stalls >= 1 and stats.stalls >= 1 and stats.connections >= 2
        assert delivered == set(range(len(clip))), "playback resumes after the reconnect"
    if kind in ("drop", "corrupt"):  # the gaps are where the faults were, nowhere else
        assert len(delivered) >= len(clip) - 15 * (w.stats.dropped + w.stats.corrupted)


def test_thingy_corrupt_frames_counted(clip):
    async def main():
        radio = VirtualRadio()
        adapter = await BumbleAdapter.open(radio=radio)
        rec = Recording(clip.t[:150], clip.raw[:150])
        async with EmulatedWearable(rec, radio=radio, profile="thingy52", speed=10,
                                    faults=Faults(corrupt=0.1, seed=7)) as w:
            got, ing = await stream([w], [DeviceTarget(name="Thingy")], bleak_adapter=adapter,
                                    until=lambda i: w.finished.is_set() and sum(
                                        s.frames + sum(s.malformed.values()) for s in i.stats.values()) >= 150)
        await adapter.close()
        return got, ing, w

    got, ing, w = run(main())
    stats, = ing.stats.values()
    assert w.stats.corrupted > 0 and stats.malformed["length"] == w.stats.corrupted
    assert stats.frames == 150 - w.stats.corrupted


# ----------------------------------------------------------------------- several at once
def test_several_wearables_at_once(clip):
    async def main():
        radio = VirtualRadio()
        adapter = await BumbleAdapter.open(radio=radio)
        recs = [Recording(clip.t[:200], clip.raw[i * 50: i * 50 + 200]) for i in range(3)]
        ws = [EmulatedWearable(recs[0], radio=radio, name="EdgeA", address="C0:ED:6E:00:00:0A", speed=8),
              EmulatedWearable(recs[1], radio=radio, name="EdgeB", address="C0:ED:6E:00:00:0B", speed=8),
              EmulatedWearable(recs[2], radio=radio, name="Thingy", address="C0:ED:6E:00:00:0C", speed=8,
                               profile="thingy52")]
        for w in ws:
            await w.start()
        try:
            targets = [DeviceTarget(service_uuid=protocol.SERVICE_UUID, multiple=True),
                       DeviceTarget(name="Thingy", device_id="thingy-left-wrist")]
            got, ing = await stream(ws, targets, bleak_adapter=adapter,
                                    until=lambda i: len(i.stats) == 3 and all(
                                        s.samples >= 200 for s in i.stats.values()))
        finally:
            for w in ws:
                await w.stop()
            await adapter.close()
        return got, ing, recs

    got, ing, recs = run(main())
    assert set(got) == {"C0:ED:6E:00:00:0A", "C0:ED:6E:00:00:0B", "thingy-left-wrist"}
    for key, rec, q in zip(sorted(got), [recs[0], recs[1], recs[2]], [OURS_Q, OURS_Q, THINGY_Q]):
        t, raw = got[key]
        assert len(t) == 200
        assert_matches_recording(t, raw, rec, q)
    assert {s.profile for s in ing.stats.values()} == {"ours", "thingy52"}


def test_repeating_wearable_keeps_device_time_running(clip):
    """A looped recording continues the device clock, so every loop is delivered, in order."""
    rec = Recording(clip.t[:75], clip.raw[:75])

    async def main():
        radio = VirtualRadio()
        adapter = await BumbleAdapter.open(radio=radio)
        async with EmulatedWearable(rec, radio=radio, speed=10, repeat=True) as w:
            got, _ = await stream([w], [DeviceTarget(name="EdgeIMU")], bleak_adapter=adapter,
                                  until=lambda i: sum(s.samples for s in i.stats.values()) >= 3 * 75)
        await adapter.close()
        return got

    (t, raw), = run(main()).values()
    assert len(t) >= 3 * 75 and np.all(np.diff(t) > 0)
    np.testing.assert_allclose(t[:225], np.arange(225) / 50.0, atol=1e-6)
    err = np.abs(raw[:225].astype(np.float64) - np.tile(rec.raw, (3, 1)))
    assert np.all(err <= OURS_Q / 2 + 1e-6)


def test_a_name_bound_device_is_released_on_disconnect_and_a_replacement_at_a_new_address_is_used(clip):
    """Wearable at address A streams, is killed; another with the same name at B takes over. With an
    address allow-list, a same-named device at an unlisted address is never used."""
    rec = Recording(clip.t[:150], clip.raw[:150])

    async def main(allowed=()):
        radio = VirtualRadio()
        adapter = await BumbleAdapter.open(radio=radio)
        target = DeviceTarget(name="EdgeWr", device_id="wrist", allowed_addresses=allowed)
        ingestor = Ingestor([target], bleak=adapter.bleak_options(), backoff=Backoff(initial=0.2, maximum=0.5),
                            stall_timeout=1.0)
        seen = []

        async def consume():
            async for b in ingestor.samples():
                seen.append(b)

        first = EmulatedWearable(rec, radio=radio, name="EdgeWr", address="C0:ED:6E:00:00:A1", speed=5, repeat=True)
        second = EmulatedWearable(rec, radio=radio, name="EdgeWr", address="C0:ED:6E:00:00:B2", speed=5, repeat=True)
        await first.start()
        async with ingestor:
            task = asyncio.create_task(consume())
            loop = asyncio.get_running_loop()

            async def wait(cond, timeout):
                deadline = loop.time() + timeout
                while not cond() and loop.time() < deadline:
                    await asyncio.sleep(0.05)
                return cond()

            assert await wait(lambda: ingestor.stats.get("C0:ED:6E:00:00:A1") and
                              ingestor.stats["C0:ED:6E:00:00:A1"].samples > 50, 20)
            await first.stop()  # the wearable dies ...
            await second.start()  # ... and its replacement advertises the same name at a new address
            got_b = await wait(lambda: ingestor.stats.get("C0:ED:6E:00:00:B2") is not None and
                               ingestor.stats["C0:ED:6E:00:00:B2"].samples > 50, 8 if allowed else 20)
            await second.stop()
        await task
        await adapter.close()
        return got_b, {b.device_id for b in seen}

    got_b, ids = run(main())
    assert got_b and ids == {"wrist"}  # the replacement streams under the same device id
    got_b, _ = run(main(allowed=("C0:ED:6E:00:00:A1",)))
    assert not got_b  # not on the allow-list: never connected
