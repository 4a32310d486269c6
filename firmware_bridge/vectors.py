"""The published test vectors (``test_vectors.json``): regenerate with ``python -m firmware_bridge.vectors``.

The JSON is the contract: the host codec and the reference firmware's framing are both tested
against it, so a change to either that alters a byte on the wire fails a test.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from firmware_bridge import protocol, thingy52

PATH = Path(__file__).with_name("test_vectors.json")


def build() -> dict:
    frames = []
    cases = [
        ("one sample, default MTU", 0, 0, [[0, 0, 2048, 0, 0, 0]]),
        ("int16 extremes", 1, 20000, [[-32768, 32767, -1, 1, -32768, 32767]]),
        ("seq and time wrap", 65535, 0xFFFFFFFF, [[1, 2, 3, 4, 5, 6], [-6, -5, -4, -3, -2, -1]]),
        ("fifteen samples (MTU 247)", 1234, 987654321,
         [[i * 100 - 700, -i * 37, 2048 + i, i * i, -i * 3, 32767 - i] for i in range(15)]),
    ]
    for name, seq, t_us, samples in cases:
        frames.append({"name": name, "seq": seq, "t_us": t_us, "samples": samples,
                       "hex": protocol.encode_frame(seq, t_us, samples).hex()})
    good = bytes.fromhex(frames[0]["hex"])
    bad_crc = good[:-1] + bytes([good[-1] ^ 0xFF])
    bad_version = bytes([0x21]) + good[1:-1]
    bad_version += bytes([protocol.crc8(bad_version)])
    zero_count = bytes([0x10]) + good[1:7]
    zero_count += b"\x00" * 12 + bytes([protocol.crc8(zero_count + b"\x00" * 12)])
    invalid = [
        {"name": "empty", "hex": "", "reason": "short"},
        {"name": "truncated", "hex": good[:-3].hex(), "reason": "short"},
        {"name": "bad crc", "hex": bad_crc.hex(), "reason": "crc"},
        {"name": "version 2", "hex": bad_version.hex(), "reason": "version"},
        {"name": "count says 2, holds 1", "hex": (bytes([0x12]) + good[1:]).hex(), "reason": "length"},
        {"name": "count 0", "hex": zero_count.hex(), "reason": "length"},
        {"name": "trailing byte", "hex": (good + b"\x00").hex(), "reason": "length"},
    ]
    cfg = protocol.Config.for_ranges(50.0, 16, 2000, "ref-1.0.0")
    config = {"rate_hz": cfg.rate_hz, "acc_range_g": cfg.acc_range_g, "gyro_range_dps": cfg.gyro_range_dps,
              "acc_scale": cfg.acc_scale, "gyro_scale": cfg.gyro_scale, "firmware": cfg.firmware,
              "hex": protocol.encode_config(cfg).hex()}
    physical = [[v * cfg.acc_scale for v in row[:3]] + [v * cfg.gyro_scale for v in row[3:]]
                for row in frames[1]["samples"]]
    control = [{"op": "start", "hex": protocol.encode_control(protocol.OP_START).hex()},
               {"op": "stop", "hex": protocol.encode_control(protocol.OP_STOP).hex()},
               {"op": "set_rate", "rate_hz": 100, "hex": protocol.encode_control(protocol.OP_SET_RATE, 100).hex()}]
    thingy_counts = [1024, -512, 16, 32, -64, 5760, 160, -16, 0]
    thingy = {
        "raw": [{"counts": thingy_counts, "hex": thingy52.encode_raw(thingy_counts[:3], thingy_counts[3:6],
                                                                    thingy_counts[6:]).hex(),
                 "acc_g": [c / 1024 for c in thingy_counts[:3]],
                 "gyro_rad_s": [c / 32 * math.pi / 180 for c in thingy_counts[3:6]],
                 "compass_ut": [c / 16 for c in thingy_counts[6:]]}],
        "config": [{"motion_freq_hz": 50, "hex": thingy52.encode_config(thingy52.MotionConfig(motion_freq_hz=50)).hex()}],
        "invalid": [{"name": "17 bytes", "hex": "00" * 17, "reason": "length"},
                    {"name": "20 bytes", "hex": "00" * 20, "reason": "length"}],
    }
    return {
        "profile": "edge IMU streaming profile v1 (docs/ble_protocol.md)",
        "uuids": {"service": protocol.SERVICE_UUID, "data": protocol.DATA_UUID, "config": protocol.CONFIG_UUID,
                  "control": protocol.CONTROL_UUID},
        "crc8": [{"ascii": "123456789", "crc": protocol.crc8(b"123456789")},
                 {"ascii": "", "crc": protocol.crc8(b"")}],
        "max_samples": {str(mtu): protocol.max_samples(mtu) for mtu in (23, 27, 35, 64, 185, 247, 517)},
        "frames": frames,
        "invalid_frames": invalid,
        "config": config,
        "physical": {"frame": frames[1]["name"], "config": "config", "values": physical},
        "control": control,
        "thingy52": thingy,
    }


def main() -> None:
    PATH.write_text(json.dumps(build(), indent=1) + "\n")
    print(f"wrote {PATH}")


if __name__ == "__main__":
    main()
