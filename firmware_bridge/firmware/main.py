# Reference firmware (MicroPython + aioble): the edge IMU streaming profile v1 on an MPU-6050.
# Copy framing.py, imu.py and this file to the board (e.g. an ESP32 with a GY-521 on I2C 21/22).
import asyncio
import time

import aioble
import bluetooth
from machine import I2C, Pin
from micropython import const

import framing
from imu import MPU6050

FIRMWARE = "ref-1.0.0"
NAME = "EdgeIMU"
SERVICE = bluetooth.UUID("e5a10001-7d2b-4c8e-9f3a-1b6c0d2e4f60")
DATA = bluetooth.UUID("e5a10002-7d2b-4c8e-9f3a-1b6c0d2e4f60")
CONFIG = bluetooth.UUID("e5a10003-7d2b-4c8e-9f3a-1b6c0d2e4f60")
CONTROL = bluetooth.UUID("e5a10004-7d2b-4c8e-9f3a-1b6c0d2e4f60")
_ADV_INTERVAL_US = const(100_000)
_PREFERRED_MTU = const(247)

imu = MPU6050(I2C(0, scl=Pin(22), sda=Pin(21), freq=400_000))
service = aioble.Service(SERVICE)
data_char = aioble.Characteristic(service, DATA, notify=True)
config_char = aioble.Characteristic(service, CONFIG, read=True)
control_char = aioble.Characteristic(service, CONTROL, write=True, capture=True)
aioble.register_services(service)
aioble.config(mtu=_PREFERRED_MTU)

streaming = asyncio.Event()


def publish_config():
    acc_scale, gyro_scale = imu.scales()
    config_char.write(framing.encode_config(imu.rate_hz, imu.acc_range_g, imu.gyro_range_dps,
                                            acc_scale, gyro_scale, FIRMWARE))


async def control_task():
    while True:
        _conn, value = await control_char.written()
        op, rate = framing.decode_control(value)
        if op == framing.OP_START:
            streaming.set()
        elif op == framing.OP_STOP:
            streaming.clear()
        elif op == framing.OP_SET_RATE and imu.set_rate(rate):
            publish_config()


device_us = 0  # the device clock on the wire: microseconds of samples taken, wraps at 2**32


async def stream(connection):
    # ticks_us() wraps at an implementation-defined period, so it only paces; the wire clock counts samples
    global device_us
    fb = framing.FrameBuilder(framing.max_samples(connection.mtu or 23))
    next_tick = time.ticks_us()
    while connection.is_connected():
        if not streaming.is_set():
            await streaming.wait()
            next_tick = time.ticks_us()
        period_us = 1_000_000 // imu.rate_hz
        fb.capacity = framing.max_samples(connection.mtu or 23)
        fb.begin(device_us)
        full = False
        while not full:
            delay = time.ticks_diff(next_tick, time.ticks_us())
            if delay > 0:
                await asyncio.sleep_ms(delay // 1000)
            full = fb.add(*imu.read())
            next_tick = time.ticks_add(next_tick, period_us)
            device_us = (device_us + period_us) & 0xFFFFFFFF
        data_char.notify(connection, fb.finish())


async def peripheral_task():
    while True:
        connection = await aioble.advertise(_ADV_INTERVAL_US, name=NAME, services=[SERVICE])
        streaming.clear()
        try:
            await stream(connection)
        except aioble.DeviceDisconnectedError:
            pass


async def main():
    publish_config()
    await asyncio.gather(control_task(), peripheral_task())


asyncio.run(main())
