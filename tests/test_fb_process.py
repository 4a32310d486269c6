"""The emulated wearable as its own process: killed and restarted during streaming, ingestion recovers."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from edge_runtime.recording import load_samples
from firmware_bridge.bleak_bumble import BumbleAdapter
from firmware_bridge.ingest import Backoff, DeviceTarget, Ingestor
from firmware_bridge.link import VirtualRadio

CLIP = Path(__file__).parent / "fixtures" / "motionsense_clip_jog9_sub1.csv"
CYCLES = 6


def spawn(port: int) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "edge_runtime.cli", "emulate", str(CLIP), "--link", f"127.0.0.1:{port}",
         "--name", "EdgeK", "--repeat", "--speed", "2"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=Path(__file__).resolve().parents[1])


@pytest.mark.timeout(170)
def test_kill_and_restart_emulator_process_repeatedly():
    clip = load_samples(CLIP)

    async def main():
        radio = VirtualRadio()
        port = await radio.serve("127.0.0.1", 0)
        adapter = await BumbleAdapter.open(radio=radio)
        ingestor = Ingestor([DeviceTarget(name="EdgeK")], bleak=adapter.bleak_options(), stall_timeout=30.0,  # only the link loss can end a session here
                            backoff=Backoff(0.05, 0.5))
        batches: list = []
        memory: list[int] = []
        per_cycle: list[int] = []

        async def consume():
            async for b in ingestor.samples():
                batches.append((b.t[0], b.t[-1], len(b.t), float(np.abs(b.raw).max())))

        async def wait_for(cond, timeout):
            deadline = time.monotonic() + timeout
            while not cond():
                if time.monotonic() > deadline:
                    raise AssertionError("timed out")
                await asyncio.sleep(0.02)

        async with ingestor:
            consumer = asyncio.create_task(consume())
            for cycle in range(CYCLES):
                proc = spawn(port)
                try:
                    stats_now = lambda: next(iter(ingestor.stats.values()), None)  # noqa: E731
                    before = stats_now().samples if stats_now() else 0
                    await wait_for(lambda: stats_now() is not None and stats_now().connections == cycle + 1, 60)
                    await wait_for(lambda: stats_now().samples >= before + 45, 30)  # streaming
                    per_cycle.append(stats_now().samples - before)
                finally:
                    proc.send_signal(signal.SIGKILL)
                    proc.wait(timeout=10)
                # the radio notices the dead process; the central sees a connection timeout
                await wait_for(lambda: not ingestor.connected and len(radio.link.controllers) == 1, 10)
                if cycle == 1:
                    tracemalloc.start()
                if cycle >= 1:
                    memory.append(tracemalloc.get_traced_memory()[0])
            stats = next(iter(ingestor.stats.values()))
        await consumer
        tracemalloc.stop()
        await adapter.close()
        await radio.close()
        return stats, batches, memory, per_cycle

    stats, batches, memory, per_cycle = asyncio.run(main())
    assert stats.connections == CYCLES and stats.disconnects >= CYCLES, "reconnected after every kill"
    assert all(n >= 45 for n in per_cycle)
    starts = np.array([b[0] for b in batches])
    ends = np.array([b[1] for b in batches])
    assert np.all(starts[1:] > ends[:-1]), "device time stays increasing across device restarts"
    assert sum(b[2] for b in batches) == stats.samples
    assert max(b[3] for b in batches) <= np.abs(clip.raw).max() + 0.01
    assert sum(stats.malformed.values()) == 0
    print("traced memory after each cycle:", memory)
    growth = memory[-1] - memory[0]
    assert growth < 256 * 1024, f"memory grew by {growth} bytes over {CYCLES - 2} kill/restart cycles: {memory}"


@pytest.mark.timeout(60)
def test_capture_device_over_link_from_emulator_process(tmp_path):
    """`edge-runtime capture --device NAME --link` serves the radio; `edge-runtime emulate --link` joins it."""
    from edge_runtime.cli import main as cli
    from edge_runtime.recording import read_recording
    from firmware_bridge.profiles import Thingy52Session

    port = _free_port()
    proc = _emulate(port, "--name", "Thingy", "--profile", "thingy52", "--speed", "10")
    try:
        out = tmp_path / "cap.csv"
        assert cli(["capture", "--device", "Thingy", "--link", f"127.0.0.1:{port}", "--out", str(out),
                    "--seconds", "9"]) == 0
    finally:
        proc.kill()
        proc.wait(timeout=10)
    clip = load_samples(CLIP)
    cap = read_recording(out)
    assert len(cap) == len(clip)
    np.testing.assert_allclose(cap.t, clip.t, atol=1e-6)
    quantum = Thingy52Session.__new__(Thingy52Session).quantum
    assert np.all(np.abs(cap.raw - clip.raw) <= quantum / 2 + 1e-6)


@pytest.mark.timeout(170)
def test_emulate_repeat_keeps_looping_the_recording(tmp_path):
    """`edge-runtime emulate --repeat` streams the recording again and again until its radio goes away."""
    from edge_runtime.cli import main as cli
    from edge_runtime.recording import read_recording

    port = _free_port()
    proc = _emulate(port, "--name", "Looper", "--repeat", "--speed", "20")
    try:
        out = tmp_path / "loop.csv"
        assert cli(["capture", "--device", "Looper", "--link", f"127.0.0.1:{port}", "--out", str(out),
                    "--seconds", "8"]) == 0
        assert proc.wait(timeout=30) == 1  # it ended only because the radio (served by capture) went away
    finally:
        proc.kill()
        proc.wait(timeout=10)
    cap = read_recording(out)
    clip = load_samples(CLIP)
    assert len(cap) > 1.5 * len(clip), f"{len(cap)} samples captured, the recording has {len(clip)}"
    assert np.all(np.diff(cap.t) > 0)  # the device clock keeps running across loops


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _emulate(port: int, *options: str) -> subprocess.Popen:
    """`edge-runtime emulate CLIP --link 127.0.0.1:PORT OPTIONS...` in its own process."""
    return subprocess.Popen(
        [sys.executable, "-m", "edge_runtime.cli", "emulate", str(CLIP), "--link", f"127.0.0.1:{port}", *options],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=Path(__file__).resolve().parents[1])
