# MPU-6050 (GY-521 board) driver for the reference firmware: 6-axis samples as raw int16 counts.
# Registers from the InvenSense MPU-6000/6050 register map (rev 4.2).
import struct

ADDR = 0x68
PWR_MGMT_1 = 0x6B
SMPLRT_DIV = 0x19
CONFIG = 0x1A
GYRO_CONFIG = 0x1B
ACCEL_CONFIG = 0x1C
ACCEL_XOUT_H = 0x3B

ACC_RANGES = {2: 0, 4: 1, 8: 2, 16: 3}  # g -> AFS_SEL
GYRO_RANGES = {250: 0, 500: 1, 1000: 2, 2000: 3}  # deg/s -> FS_SEL


class MPU6050:
    def __init__(self, i2c, acc_range_g=16, gyro_range_dps=2000, rate_hz=50, addr=ADDR):
        self.i2c = i2c
        self.addr = addr
        self.acc_range_g = acc_range_g
        self.gyro_range_dps = gyro_range_dps
        self._buf = bytearray(14)
        self._w(PWR_MGMT_1, 0x01)  # wake, PLL on gyro X
        self._w(CONFIG, 0x03)  # DLPF 44 Hz: gyro output rate 1 kHz
        self._w(ACCEL_CONFIG, ACC_RANGES[acc_range_g] << 3)
        self._w(GYRO_CONFIG, GYRO_RANGES[gyro_range_dps] << 3)
        self.set_rate(rate_hz)

    def _w(self, reg, val):
        self.i2c.writeto_mem(self.addr, reg, bytes([val]))

    def set_rate(self, rate_hz):
        div = 1000 // rate_hz - 1
        if div < 0 or div > 255 or 1000 % rate_hz:
            return False
        self._w(SMPLRT_DIV, div)
        self.rate_hz = rate_hz
        return True

    def scales(self):
        # g per count, rad/s per count (full scale over int16)
        return self.acc_range_g / 32768.0, self.gyro_range_dps / 32768.0 * 3.141592653589793 / 180.0

    def read(self):
        # -> (ax, ay, az, gx, gy, gz) int16 counts; temperature (bytes 6-7) skipped
        self.i2c.readfrom_mem_into(self.addr, ACCEL_XOUT_H, self._buf)
        v = struct.unpack(">7h", self._buf)
        return v[0], v[1], v[2], v[4], v[5], v[6]
