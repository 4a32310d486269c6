# Reference firmware framing for the edge IMU streaming profile v1 (docs/ble_protocol.md).
# MicroPython and CPython: only `struct`, no allocation-heavy helpers. Tested under CPython against
# firmware_bridge/test_vectors.json, the same vectors as the host codec.
import struct

VERSION = 1
HEADER_SIZE = 7
SAMPLE_SIZE = 12
MAX_COUNT = 15
OP_START = 0x01
OP_STOP = 0x02
OP_SET_RATE = 0x03
CONFIG_VERSION = 1


def crc8(buf, n=None):
    # CRC-8/SMBUS: poly 0x07, init 0 (check value of b"123456789" is 0xF4)
    crc = 0
    if n is None:
        n = len(buf)
    for i in range(n):
        crc ^= buf[i]
        for _ in range(8):
            if crc & 0x80:
                crc = ((crc << 1) ^ 0x07) & 0xFF
            else:
                crc = (crc << 1) & 0xFF
    return crc


def max_samples(att_mtu):
    room = att_mtu - 3 - HEADER_SIZE - 1
    n = room // SAMPLE_SIZE
    if n < 1:
        return 1
    if n > MAX_COUNT:
        return MAX_COUNT
    return n


class FrameBuilder:
    """Fills one preallocated frame buffer sample by sample (no allocation per sample)."""

    def __init__(self, capacity=MAX_COUNT):
        self.capacity = capacity
        self.buf = bytearray(HEADER_SIZE + SAMPLE_SIZE * MAX_COUNT + 1)
        self.count = 0
        self.seq = 0
        self.t_us = 0

    def begin(self, t_us):
        self.count = 0
        self.t_us = t_us & 0xFFFFFFFF

    def add(self, ax, ay, az, gx, gy, gz):
        struct.pack_into("<6h", self.buf, HEADER_SIZE + SAMPLE_SIZE * self.count, ax, ay, az, gx, gy, gz)
        self.count += 1
        return self.count >= self.capacity

    def finish(self):
        """The frame bytes (a memoryview into the buffer); advances the sequence number."""
        struct.pack_into("<BHI", self.buf, 0, (VERSION << 4) | self.count, self.seq, self.t_us)
        end = HEADER_SIZE + SAMPLE_SIZE * self.count
        self.buf[end] = crc8(self.buf, end)
        self.seq = (self.seq + 1) & 0xFFFF
        return memoryview(self.buf)[: end + 1]


def encode_frame(seq, t_us, samples):
    fb = FrameBuilder(len(samples))
    fb.seq = seq & 0xFFFF
    fb.begin(t_us)
    for s in samples:
        fb.add(s[0], s[1], s[2], s[3], s[4], s[5])
    return bytes(fb.finish())


def encode_config(rate_hz, acc_range_g, gyro_range_dps, acc_scale, gyro_scale, firmware):
    return struct.pack("<BfHHff", CONFIG_VERSION, rate_hz, acc_range_g, gyro_range_dps,
                       acc_scale, gyro_scale) + firmware.encode()


def decode_control(data):
    # -> (opcode, rate_hz or None); (None, None) when malformed
    if len(data) == 1 and data[0] in (OP_START, OP_STOP):
        return data[0], None
    if len(data) == 3 and data[0] == OP_SET_RATE:
        rate = data[1] | (data[2] << 8)
        if rate >= 1:
            return OP_SET_RATE, rate
    return None, None
