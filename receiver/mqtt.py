"""Records from a broker: a persistent MQTT session (QoS 1) acknowledged only after they are stored.

The client id names a session the broker keeps while the receiver is away (``clean_session=False``):
it queues what gateways publish meanwhile and resends whatever was delivered but not acknowledged.
Messages are acknowledged by hand (PUBACK) once ``Receiver.handle`` has committed them, so a crash
between arrival and commit means a redelivery, never a loss; redeliveries are de-duplicated on the
envelope id. Between paho's network thread and the storing thread sits a bounded queue: when it is
full the network thread waits (the broker holds the rest), and each wait is counted.
"""

from __future__ import annotations

import logging
import queue
import ssl
import threading
from urllib.parse import urlsplit

from edge_runtime.errors import UserError
from edge_runtime.sinks.mqtt import DEFAULT_TOPIC
from receiver.service import Receiver

log = logging.getLogger("receiver.mqtt")


def subscription(template: str = DEFAULT_TOPIC) -> str:
    """The gateway's topic template (``wearables/{device_id}/windows``) -> a subscription filter."""
    if "{device_id}" not in template:
        raise UserError(f"--topic {template!r}: must contain {{device_id}}, as the gateway's topic does")
    levels = template.split("/")
    if any("{device_id}" in lvl and lvl != "{device_id}" for lvl in levels):
        raise UserError(f"--topic {template!r}: {{device_id}} must be a whole topic level to subscribe to it")
    if any(c in template for c in "+#"):
        raise UserError(f"--topic {template!r}: give the gateway's template, without wildcards")
    return "/".join("+" if lvl == "{device_id}" else lvl for lvl in levels)


class MqttSource:
    def __init__(self, receiver: Receiver, url: str, topic: str = DEFAULT_TOPIC,
                 client_id: str = "edge-runtime-receiver", ca_file: str | None = None, queue_size: int = 1000):
        parts = urlsplit(url)
        if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname:
            raise UserError(f"--mqtt {url!r}: must look like mqtt://HOST[:PORT] or mqtts://HOST[:PORT]")
        self.receiver = receiver
        self.url, self.filter, self.client_id, self.ca_file = url, subscription(topic), client_id, ca_file
        self.host, self.tls = parts.hostname, parts.scheme == "mqtts"
        self.port = parts.port or (8883 if self.tls else 1883)
        self.user, self.password = parts.username, parts.password
        self.queue: queue.Queue = queue.Queue(maxsize=queue_size)
        self.queue_full_waits = 0
        self.messages = 0
        self.connected = threading.Event()
        self._stop = threading.Event()
        self._client = None
        self._worker: threading.Thread | None = None

    def start(self) -> None:
        import paho.mqtt.client as mqtt

        c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=self.client_id, clean_session=False,
                        manual_ack=True)
        if self.user:
            c.username_pw_set(self.user, self.password)
        if self.tls:
            c.tls_set(ca_certs=self.ca_file, cert_reqs=ssl.CERT_REQUIRED)
        c.reconnect_delay_set(min_delay=1, max_delay=30)
        c.on_connect, c.on_disconnect, c.on_message = self._on_connect, self._on_disconnect, self._on_message
        self._client = c
        self._worker = threading.Thread(target=self._store_loop, name="receiver-mqtt-store", daemon=True)
        self._worker.start()
        c.connect_async(self.host, self.port, keepalive=30)
        c.loop_start()

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            log.warning("mqtt connect refused: %s", reason_code)
            return
        client.subscribe(self.filter, qos=1)
        self.connected.set()
        log.info("subscribed to %s on %s:%s (session %s%s)", self.filter, self.host, self.port, self.client_id,
                 ", resumed" if flags.session_present else "")

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:
        if self.connected.is_set() and not self._stop.is_set():
            log.warning("mqtt disconnected (%s); reconnecting", reason_code)
        self.connected.clear()

    def _on_message(self, client, userdata, msg) -> None:
        item = (msg.mid, msg.qos, bytes(msg.payload))
        try:
            self.queue.put_nowait(item)
            return
        except queue.Full:
            self.queue_full_waits += 1  # the bound was hit: hold the network thread (and the broker)
        while not self._stop.is_set():  # when stopping, it stays unacknowledged: the broker resends it
            try:
                self.queue.put(item, timeout=0.2)
                return
            except queue.Full:
                continue

    def _store_loop(self) -> None:
        while True:
            try:
                first = self.queue.get(timeout=0.2)
            except queue.Empty:
                if self._stop.is_set():
                    return
                continue
            batch = [first]
            while len(batch) < 500:
                try:
                    batch.append(self.queue.get_nowait())
                except queue.Empty:
                    break
            while True:
                try:
                    self.receiver.handle([p for _, _, p in batch], source=f"mqtt {self.filter}")
                    break
                except Exception as exc:  # e.g. the disk is full: not stored, so not acknowledged
                    log.error("could not store %d messages (%r); retrying, they stay unacknowledged",
                              len(batch), exc)
                    if self._stop.wait(2.0):
                        return
            self.messages += len(batch)
            for mid, qos, _ in batch:
                if qos:
                    self._client.ack(mid, qos)

    def stop(self) -> None:
        """Store and acknowledge what has arrived, then leave the session to the broker."""
        self._stop.set()
        if self._worker is not None:
            self._worker.join(timeout=30)
        if self._client is not None:
            self._client.disconnect()
            self._client.loop_stop()
