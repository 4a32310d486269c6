"""MQTT sink (paho-mqtt 2.x): QoS 1, TLS, username/password, one topic per device.

A batch is delivered when the broker has acknowledged (PUBACK) every message of it. paho's network
thread reconnects by itself with backoff; while it is disconnected ``send`` fails fast so the
records stay in the spool. paho resends unacknowledged QoS 1 messages after a reconnect and the
forwarder may resend a batch whose acknowledgements were lost: delivery is at-least-once, and
consumers de-duplicate on the envelope id.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import ssl
import threading
import time
from dataclasses import dataclass
from typing import Sequence
from urllib.parse import urlsplit

from edge_runtime.sinks.base import Sink, SinkUnavailable
from edge_runtime.sinks.envelope import Envelope
from edge_runtime.sinks.formats import JsonEncoder

log = logging.getLogger("edge_runtime.sinks.mqtt")

DEFAULT_TOPIC = "wearables/{device_id}/windows"


@dataclass(frozen=True)
class MqttSettings:
    url: str  # mqtt://host[:1883] or mqtts://host[:8883]; user:password@ in the URL is accepted
    topic: str = DEFAULT_TOPIC
    qos: int = 1
    client_id: str | None = None
    username: str | None = None
    password: str | None = None
    ca_file: str | None = None  # CA bundle for the broker's certificate (mqtts); system CAs if unset
    cert_file: str | None = None  # client certificate (mutual TLS)
    key_file: str | None = None
    tls_insecure: bool = False  # skip hostname verification (self-signed test brokers only)
    keepalive: int = 30
    ack_timeout_s: float = 10.0
    max_queued: int = 1000  # cap on paho's own in-memory queue

    @property
    def host(self) -> str:
        return urlsplit(self.url).hostname or "localhost"

    @property
    def tls(self) -> bool:
        return urlsplit(self.url).scheme == "mqtts"

    @property
    def port(self) -> int:
        return urlsplit(self.url).port or (8883 if self.tls else 1883)


def topic_for(template: str, device_id: str) -> str:
    """The device's topic; characters with a meaning in MQTT topics are replaced in the id."""
    safe = "".join("_" if c in "+#/\0" else c for c in device_id)
    return template.format(device_id=safe)


class MqttSink(Sink):
    kind = "mqtt"

    def __init__(self, name: str, settings: MqttSettings, encoder=None):
        super().__init__(name)
        self.settings = settings
        self.encoder = encoder or JsonEncoder()  # formats.py: json or binary payloads
        self._client = None
        self._connected = threading.Event()
        self.reconnects = 0  # connections made after the first one
        self._ever_connected = False
        self._closing = False

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    async def open(self, wait_s: float = 1.0) -> None:
        """Start paho's network thread; wait briefly for the first connection (not required)."""
        if self._client is not None:
            return
        import paho.mqtt.client as mqtt

        s = self.settings
        client_id = s.client_id or f"edge-runtime-{socket.gethostname()}-{self.name}-{os.getpid()}"
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=True)
        user = s.username or urlsplit(s.url).username
        password = s.password or urlsplit(s.url).password
        if user:
            client.username_pw_set(user, password)
        if s.tls:
            client.tls_set(ca_certs=s.ca_file, certfile=s.cert_file, keyfile=s.key_file, cert_reqs=ssl.CERT_REQUIRED)
            client.tls_insecure_set(s.tls_insecure)
        client.reconnect_delay_set(min_delay=1, max_delay=30)
        client.max_queued_messages_set(s.max_queued)
        client.max_inflight_messages_set(100)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        self._client = client
        client.connect_async(s.host, s.port, keepalive=s.keepalive)
        client.loop_start()
        await asyncio.to_thread(self._connected.wait, wait_s)

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            log.warning("mqtt connect refused", extra={"sink": self.name, "reason": str(reason_code)})
            return
        if self._ever_connected:
            self.reconnects += 1
        self._ever_connected = True
        self._connected.set()
        log.info("mqtt connected", extra={"sink": self.name, "broker": f"{self.settings.host}:{self.settings.port}"})

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:
        if self._connected.is_set() and not self._closing:
            log.warning("mqtt disconnected", extra={"sink": self.name, "reason": str(reason_code)})
        self._connected.clear()

    async def send(self, batch: Sequence[Envelope]) -> None:
        if not batch:
            return
        if self._client is None:
            await self.open(wait_s=0)
        if not self._connected.is_set():
            raise SinkUnavailable(f"not connected to {self.settings.host}:{self.settings.port}")
        await asyncio.to_thread(self._publish_and_wait, batch)

    def _publish_and_wait(self, batch: Sequence[Envelope]) -> None:
        import paho.mqtt.client as mqtt

        s = self.settings
        infos = []
        for env in batch:
            info = self._client.publish(topic_for(s.topic, env.device_id), self.encoder.encode(env), qos=s.qos)
            if info.rc != mqtt.MQTT_ERR_SUCCESS:
                break  # not connected or paho's queue full: the rest waits in the spool
            infos.append(info)
        deadline = time.monotonic() + s.ack_timeout_s
        delivered = 0
        for info in infos:
            remaining = deadline - time.monotonic()
            try:
                if remaining > 0:
                    info.wait_for_publish(timeout=remaining)
            except (RuntimeError, ValueError):
                pass  # paho raises when the message can no longer be sent: treated as not acked
            if not info.is_published():
                break
            delivered += 1
        if delivered < len(batch):
            raise SinkUnavailable(f"broker acknowledged {delivered} of {len(batch)} messages", delivered=delivered)

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is None:
            return
        self._closing = True
        client.disconnect()
        await asyncio.to_thread(client.loop_stop)
        self._connected.clear()
