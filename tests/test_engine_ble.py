"""The engine's async adapter on the real ingestion stream: an emulated wearable streams a real
MotionSense clip over a real BLE stack (bumble, virtual link) to bleak-based ingestion, whose
``SampleBatch`` stream goes straight into ``Engine.push``, as the gateway feeds it. The windows must be those of the clip
itself, within the wire format's int16 quantization, and nothing but records reaches the sink."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pytest
from edge_runtime.testing import make_bundle

from edge_runtime.engine import Engine, stack_values
from edge_runtime.recording import load_samples

pytest.importorskip("bumble")
pytest.importorskip("bleak")

from firmware_bridge.bleak_bumble import BumbleAdapter  # noqa: E402
from firmware_bridge.emulator import EmulatedWearable  # noqa: E402
from firmware_bridge.ingest import DeviceTarget, Ingestor  # noqa: E402
from firmware_bridge.link import VirtualRadio  # noqa: E402

CLIP = Path(__file__).parent / "fixtures" / "motionsense_clip_jog9_sub1.csv"


@pytest.mark.timeout(90)
def test_engine_transforms_the_ble_ingestion_stream(tmp_path):
    bundle = make_bundle(tmp_path / "b", "affine_mag2_w128")
    clip = load_samples(CLIP)
    expected_windows = len(clip) // bundle.window  # 400 samples -> 3 tiles

    async def main():
        radio = VirtualRadio()
        adapter = await BumbleAdapter.open(radio=radio)
        engine = Engine(bundle)
        received = []
        async with EmulatedWearable(clip, radio=radio, name="EdgeA", speed=20):
            ingestor = Ingestor([DeviceTarget(name="EdgeA", device_id="wearer-1")], bleak=adapter.bleak_options())
            async with ingestor:
                async def consume():
                    async for batch in ingestor.samples():
                        received.extend(engine.push(batch.device_id, batch.t, batch.raw))
                        if len(received) >= expected_windows:
                            return

                await asyncio.wait_for(consume(), timeout=60)  # a bound for a hang, not a pause: it returns on the event
        await adapter.close()
        return engine, received

    engine, received = asyncio.run(main())
    assert len(received) == expected_windows
    assert [r.seq for r in received] == list(range(expected_windows))
    assert {r.device_id for r in received} == {"wearer-1"}
    ref = Engine(bundle).push("ref", clip.t, clip.raw)
    # same timeline (device clock starts where the clip does) and the same values within int16 steps
    np.testing.assert_allclose([r.start_time - received[0].start_time for r in received],
                               [r.start_time - ref[0].start_time for r in ref], atol=1e-6)
    np.testing.assert_allclose(stack_values(received), stack_values(ref), atol=0.005)
    s = engine.stats()["wearer-1"]
    assert s["windows_dropped"] == 0 and s["restarts"] == 0 and s["samples_out_of_order"] == 0
