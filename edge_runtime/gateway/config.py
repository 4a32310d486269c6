"""The gateway's TOML config, validated up front with errors that name the field.

Every table and key is checked (unknown keys too: a typo must not silently fall back to a default),
and every error reads ``gateway.toml: sinks[1].url: must start with mqtt:// or mqtts://``. The
example with every option is ``deploy/gateway.example.toml``; the reference is ``docs/gateway.md``.
"""

from __future__ import annotations

import os
import re
import string
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from edge_runtime.errors import UserError
from edge_runtime.redaction import redact_url
from edge_runtime.sinks.http import HttpSettings
from edge_runtime.sinks.mqtt import MqttSettings
from edge_runtime.spool import DEFAULT_SYNCHRONOUS, DROP_POLICIES, SYNCHRONOUS, SpoolBound
from firmware_bridge.profiles import DEFAULT_PROFILE, PROFILE_NAMES

LOG_LEVELS = ("debug", "info", "warning", "error")
SINK_TYPES = ("jsonl", "mqtt", "http")
FORMATS = ("json", "binary")  # what a sink sends per record (edge_runtime/sinks/formats.py)
DEFAULT_FORMAT = {"jsonl": "json", "mqtt": "binary", "http": "binary"}  # binary on metered links
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$")
_BLE_ADDRESS = re.compile(r"^([0-9A-Fa-f]{2}:){5}[0-9A-Fa-f]{2}$")


class ConfigError(UserError):
    """The config file is missing, not TOML, or has a field with a bad value (named in the message)."""


@dataclass(frozen=True)
class DeviceConfig:
    id: str  # the device_id in every output record and metric
    address: str | None = None  # connect to this BLE address
    name: str | None = None  # or scan for a device advertising this name
    emulate: str | None = None  # or start an emulated wearable streaming this recording over BLE
    replay: str | None = None  # or feed this recording straight to the engine (no BLE at all)
    profile: str = DEFAULT_PROFILE
    emulate_speed: float = 1.0  # emulate/replay playback speed (1 = real time)
    emulate_loop: bool = True  # restart the recording when it ends
    allowed_addresses: tuple[str, ...] = ()  # with name: only these BLE addresses may answer to it

    @property
    def kind(self) -> str:
        return "address" if self.address else "name" if self.name else "emulate" if self.emulate else "replay"

    @property
    def recording(self) -> str | None:
        return self.emulate or self.replay


@dataclass(frozen=True)
class SinkConfig:
    name: str
    type: str
    path: str | None = None  # jsonl: file path, "-" = stdout
    fsync: bool = False  # jsonl
    mqtt: MqttSettings | None = None
    http: HttpSettings | None = None
    batch_size: int = 100
    spooled: bool = True  # network sinks go through the spool; jsonl is written directly
    format: str | None = None  # "json" | "binary"; None: DEFAULT_FORMAT[type]
    queue_records: int = 10_000  # unspooled sinks: records queued before back-pressure (edge_runtime.sinks.direct)

    @property
    def wire_format(self) -> str:
        return self.format or DEFAULT_FORMAT[self.type]


@dataclass(frozen=True)
class SpoolConfig:
    path: str = "spool.sqlite"
    max_records: int | None = SpoolBound.max_records  # the bound's defaults live with the spool
    max_bytes: int | None = SpoolBound.max_bytes
    drop_policy: str = SpoolBound.drop_policy
    synchronous: str = DEFAULT_SYNCHRONOUS

    @property
    def bound(self) -> SpoolBound:
        return SpoolBound(self.max_records, self.max_bytes, self.drop_policy)


@dataclass(frozen=True)
class BleConfig:
    backend: str = "system"  # system: bleak's platform backend (BlueZ, CoreBluetooth); virtual: bumble, no hardware
    virtual_link: str | None = None  # virtual radio: HOST:PORT where `edge-runtime emulate --link` wearables join
    stall_timeout_s: float = 5.0  # no frame for this long: reconnect


@dataclass(frozen=True)
class MetricsConfig:
    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = 9108

    @property
    def listen(self) -> str:
        return f"{self.host}:{self.port}"


@dataclass(frozen=True)
class TrustConfig:
    """Whose bundle signatures are accepted, besides the project key shipped in the package."""

    keys: tuple[str, ...] = ()  # public key files (.pub) or folders of them
    keys_dir: str | None = None  # every *.pub here; None: $EDGE_RUNTIME_TRUSTED_KEYS or /etc/edge-runtime/trusted-keys
    allow_unsigned: bool = False  # development only: logged as a warning and exported as a metric

    def trust(self):
        from edge_runtime.signing import default_trust

        extra = ((self.keys_dir,) if self.keys_dir else ()) + self.keys
        return default_trust(extra, allow_unsigned=self.allow_unsigned)


@dataclass(frozen=True)
class GatewayConfig:
    source: str  # the file it came from, for messages
    bundle: str  # bundle name (shipped, or under bundles_dir) or a folder given as a path
    devices: tuple[DeviceConfig, ...]
    sinks: tuple[SinkConfig, ...]
    spool: SpoolConfig = field(default_factory=SpoolConfig)
    metrics: MetricsConfig = field(default_factory=MetricsConfig)
    ble: BleConfig = field(default_factory=BleConfig)
    log_level: str = "info"
    drain_timeout_s: float = 10.0  # SIGTERM: how long to keep delivering before exiting
    max_pending_windows: int = 10_000  # produced, not yet accepted; beyond it the newest are dropped (counted)
    reconnect_max_s: float = 30.0  # BLE reconnect backoff cap
    bundles_dir: str | None = None  # bare bundle names are looked up here first, then among the shipped ones
    trust: TrustConfig = field(default_factory=TrustConfig)

    def warnings(self) -> list[str]:
        """Settings that work but expose something: logged as warnings when the gateway starts."""
        import ipaddress

        out = []
        for s in self.sinks:
            url = s.mqtt.url if s.mqtt else s.http.url if s.http else None
            if url is None:
                continue
            parts = urlsplit(url)
            has_password = parts.password is not None or bool((s.mqtt or s.http).password)
            if parts.scheme in ("mqtt", "http") and has_password:
                out.append(f"sink {s.name}: a password is sent in plaintext over {parts.scheme}:// "
                           f"(use {parts.scheme}s:// so the broker/server is authenticated and the password encrypted)")
        if self.metrics.enabled:
            host = self.metrics.host
            try:
                loopback = host == "localhost" or ipaddress.ip_address(host.strip("[]")).is_loopback
            except ValueError:
                loopback = False
            if not loopback:
                out.append(f"metrics.listen {host}:{self.metrics.port} is not a loopback address: anyone who "
                           "can reach it reads the device ids, rates and sink state (no authentication)")
        if self.trust.allow_unsigned:
            out.append("trust.allow_unsigned is set: an unsigned bundle would be run (development only)")
        return out

    def load_bundle(self):
        """The configured bundle, verified and signature-checked with this config's trust."""
        from edge_runtime.bundle import load_bundle

        return load_bundle(self.bundle, trust=self.trust.trust(), bundles_dir=self.bundles_dir)


def load_config(path: str | Path) -> GatewayConfig:
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such config file") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    return parse_config(data, str(path), base=path.parent)


def parse_config(data: dict[str, Any], source: str = "gateway.toml", base: Path | None = None) -> GatewayConfig:
    """Validate a parsed TOML document; relative paths are resolved against ``base``."""
    base = base or Path.cwd()
    root = _TomlTable(data, source, "", base)
    gw = root.table("gateway")
    bundle = root.string("bundle", required=True)
    bundles_dir = root.string("bundles_dir")
    tr = root.table("trust")
    keys = tr.get_list("keys")
    trust = TrustConfig(keys=tuple(_resolve(k, base) for k in keys),
                        keys_dir=_resolve(tr.string("keys_dir"), base),
                        allow_unsigned=tr.boolean("allow_unsigned", default=TrustConfig.allow_unsigned))
    for i, k in enumerate(trust.keys + ((trust.keys_dir,) if trust.keys_dir else ())):
        if not Path(k).exists():
            tr.fail("keys" if i < len(trust.keys) else "keys_dir", f"not found: {k}")
    tr.done()
    devices = tuple(_device(t) for t in root.array("devices", required=True))
    ids = [d.id for d in devices]
    for i, d in enumerate(ids):
        if d in ids[:i]:
            root.fail(f"devices[{i}].id", f"duplicate device id {d!r}")
    sinks = tuple(_sink(t, i, base) for i, t in enumerate(root.array("sinks", required=True)))
    names = [s.name for s in sinks]
    for i, n in enumerate(names):
        if n in names[:i]:
            root.fail(f"sinks[{i}].name", f"duplicate sink name {n!r} (give each sink a distinct name)")
    sp = root.table("spool")
    spool = SpoolConfig(
        path=_resolve(sp.string("path", default=SpoolConfig.path), base),
        max_records=sp.integer("max_records", default=SpoolConfig.max_records, minimum=1, allow_none=True),
        max_bytes=sp.integer("max_bytes", default=SpoolConfig.max_bytes, minimum=1, allow_none=True),
        drop_policy=sp.choice("drop_policy", DROP_POLICIES, default=SpoolConfig.drop_policy),
        synchronous=sp.choice("synchronous", SYNCHRONOUS, default=SpoolConfig.synchronous),
    )
    sp.done()
    mt = root.table("metrics")
    listen = mt.string("listen", default=MetricsConfig().listen)
    host, _, port = listen.rpartition(":")
    if not host or not port.isdigit() or not 0 <= int(port) < 65536:
        mt.fail("listen", f"must be HOST:PORT, e.g. {MetricsConfig().listen}, not {listen!r}")
    metrics = MetricsConfig(enabled=mt.boolean("enabled", default=MetricsConfig.enabled), host=host, port=int(port))
    mt.done()
    bt = root.table("ble")
    needs_virtual = any(d.emulate for d in devices)
    backend = bt.choice("backend", ("system", "virtual"), default="virtual" if needs_virtual else "system")
    if needs_virtual and backend != "virtual":
        bt.fail("backend", "emulated devices need the virtual radio (backend = \"virtual\")")
    link = bt.string("virtual_link")
    if link is not None:
        lh, _, lp = link.rpartition(":")
        if not lh or not lp.isdigit() or not 0 <= int(lp) < 65536:
            bt.fail("virtual_link", f"must be HOST:PORT (port 0 picks a free one), not {link!r}")
    ble = BleConfig(backend=backend, virtual_link=link,
                    stall_timeout_s=bt.number("stall_timeout_s", default=BleConfig.stall_timeout_s, minimum=0.5))
    bt.done()
    config = GatewayConfig(
        source=source,
        bundle=_bundle_ref(bundle, base),
        devices=devices,
        sinks=sinks,
        spool=spool,
        metrics=metrics,
        ble=ble,
        log_level=gw.choice("log_level", LOG_LEVELS, default=GatewayConfig.log_level),
        drain_timeout_s=gw.number("drain_timeout_s", default=GatewayConfig.drain_timeout_s, minimum=0),
        max_pending_windows=gw.integer("max_pending_windows", default=GatewayConfig.max_pending_windows, minimum=1),
        reconnect_max_s=gw.number("reconnect_max_s", default=GatewayConfig.reconnect_max_s, minimum=0.1),
        bundles_dir=_resolve(bundles_dir, base),
        trust=trust,
    )
    gw.done()
    root.done()
    return config


def _device(t: "_TomlTable") -> DeviceConfig:
    dev_id = t.string("id", required=True)
    if not _ID.match(dev_id):
        t.fail("id", "must be 1-64 characters of letters, digits and . _ : - (it names topics and metrics)")
    address, name = t.string("address"), t.string("name")
    emulate, replay = t.string("emulate"), t.string("replay")
    if sum(x is not None for x in (address, name, emulate, replay)) != 1:
        t.fail("", "give exactly one of address (BLE address), name (advertised name), "
                   "emulate (a recording streamed by an emulated wearable) or replay (a recording, no BLE)")
    for key, rec in (("emulate", emulate), ("replay", replay)):
        if rec is not None and not Path(_resolve(rec, t.base)).exists():
            t.fail(key, f"recording not found: {rec}")
    d = DeviceConfig(
        id=dev_id,
        address=address,
        name=name,
        emulate=_resolve(emulate, t.base) if emulate else None,
        replay=_resolve(replay, t.base) if replay else None,
        profile=t.choice("profile", PROFILE_NAMES, default=DeviceConfig.profile),
        emulate_speed=t.number("emulate_speed", default=DeviceConfig.emulate_speed, minimum=0.01),
        emulate_loop=t.boolean("emulate_loop", default=DeviceConfig.emulate_loop),
        allowed_addresses=tuple(t.get_list("addresses")),
    )
    if d.allowed_addresses and name is None:
        t.fail("addresses", "an address allow-list goes with name (a device bound by address has one already)")
    for a in d.allowed_addresses:
        if not _BLE_ADDRESS.match(a):
            t.fail("addresses", f"{a!r} is not a BLE address (AA:BB:CC:DD:EE:FF)")
    t.done()
    return d


def _sink(t: "_TomlTable", index: int, base: Path) -> SinkConfig:
    kind = t.choice("type", SINK_TYPES, required=True)
    name = t.string("name", default=f"{kind}{index}" if index else kind)
    if not _ID.match(name):
        t.fail("name", "must be letters, digits and . _ : -")
    batch = t.integer("batch_size", default=SinkConfig.batch_size, minimum=1)
    fmt = t.choice("format", FORMATS, default=DEFAULT_FORMAT[kind])
    if kind == "jsonl" and fmt != "json":
        t.fail("format", "a jsonl sink writes text: format must be \"json\" (binary is for mqtt and http)")
    if kind == "jsonl":
        path = t.string("path", required=True)
        sink = SinkConfig(name=name, type=kind, path=path if path == "-" else _resolve(path, base),
                          fsync=t.boolean("fsync", default=SinkConfig.fsync), batch_size=batch,
                          spooled=t.boolean("spooled", default=False),
                          queue_records=t.integer("queue_records", default=SinkConfig.queue_records, minimum=1))
    elif kind == "mqtt":
        url = t.string("url", required=True)
        parts = urlsplit(url)
        if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname:
            t.fail("url", f"must look like mqtt://HOST[:PORT] or mqtts://HOST[:PORT], not {redact_url(url)!r}")
        try:
            parts.port
        except ValueError:
            t.fail("url", f"bad port in {redact_url(url)!r}")
        topic = t.string("topic", default=MqttSettings.topic)
        _check_topic(t, topic)
        password = t.string("password")
        password_env = t.string("password_env")
        if password_env is not None:
            if password is not None:
                t.fail("password_env", "give password or password_env, not both")
            if password_env not in os.environ:
                t.fail("password_env", f"environment variable {password_env} is not set")
            password = os.environ[password_env]
        files = {k: t.string(k) for k in ("ca_file", "cert_file", "key_file")}
        for k, v in files.items():
            if v is not None and not Path(_resolve(v, base)).exists():
                t.fail(k, f"file not found: {v}")
        if (files["cert_file"] is None) != (files["key_file"] is None):
            t.fail("cert_file", "cert_file and key_file go together (client certificate)")
        qos = t.integer("qos", default=MqttSettings.qos, minimum=0)
        if qos > 1:
            t.fail("qos", "must be 0 or 1 (1 = at least once, the default)")
        settings = MqttSettings(
            url=url, topic=topic, qos=qos, client_id=t.string("client_id"),
            username=t.string("username"), password=password,
            ca_file=_resolve(files["ca_file"], base) if files["ca_file"] else None,
            cert_file=_resolve(files["cert_file"], base) if files["cert_file"] else None,
            key_file=_resolve(files["key_file"], base) if files["key_file"] else None,
            tls_insecure=t.boolean("tls_insecure", default=MqttSettings.tls_insecure),
            keepalive=t.integer("keepalive_s", default=MqttSettings.keepalive, minimum=5),
            ack_timeout_s=t.number("ack_timeout_s", default=MqttSettings.ack_timeout_s, minimum=0.1),
        )
        sink = SinkConfig(name=name, type=kind, mqtt=settings, batch_size=batch, format=fmt)
    else:
        url = t.string("url", required=True)
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            t.fail("url", f"must look like http(s)://HOST[:PORT]/PATH, not {redact_url(url)!r}")
        try:
            parts.port
        except ValueError:
            t.fail("url", f"bad port in {redact_url(url)!r}")
        if parts.username is not None and (t.data.get("username") is not None or t.data.get("password") is not None):
            t.fail("url", "has credentials and username/password are given too: give them in one place")
        headers = t.table("headers")
        hdrs = {k: headers.string(k, required=True) for k in list(headers.data)}
        headers.done()
        ca = t.string("ca_file")
        if ca is not None and not Path(_resolve(ca, base)).exists():
            t.fail("ca_file", f"file not found: {ca}")
        settings = HttpSettings(
            url=url, headers=hdrs, username=t.string("username"), password=t.string("password"),
            ca_file=_resolve(ca, base) if ca else None, timeout_s=t.number("timeout_s", default=HttpSettings.timeout_s, minimum=0.1),
        )
        sink = SinkConfig(name=name, type=kind, http=settings, batch_size=batch, format=fmt)
    t.done()
    return sink


def _check_topic(t: "_TomlTable", topic: str) -> None:
    if "+" in topic or "#" in topic:
        t.fail("topic", "must not contain MQTT wildcards (+ or #)")
    try:
        fields = {f for _, f, _, _ in string.Formatter().parse(topic) if f is not None}
    except ValueError as exc:
        t.fail("topic", f"bad template: {exc}")
    if fields - {"device_id"}:
        t.fail("topic", f"only {{device_id}} may be substituted, found {', '.join(sorted(fields - {'device_id'}))}")


def _bundle_ref(ref: str, base: Path) -> str:
    """A bundle name stays a name (never a folder of that name next to the config or in the working
    directory); a path (``./x``, ``/x``, ``a/b``) is resolved against the config's folder."""
    from edge_runtime.bundle import looks_like_path

    return _resolve(ref, base) if looks_like_path(ref) else ref


def _resolve(p: str | None, base: Path) -> str | None:
    if p is None:
        return None
    path = Path(p).expanduser()
    return str(path if path.is_absolute() else (base / path))


class _TomlTable:
    """A TOML table being validated: typed getters that know their dotted path for messages."""

    def __init__(self, data: Any, source: str, path: str, base: Path | None = None):
        self.source, self.path, self.base = source, path, base or Path.cwd()
        if not isinstance(data, dict):
            self.fail("", "must be a table")
        self.data = data
        self.seen: set[str] = set()

    def _where(self, key: str) -> str:
        return ".".join(p for p in (self.path, key) if p) or "(top level)"

    def fail(self, key: str, message: str) -> None:
        raise ConfigError(f"{self.source}: {self._where(key)}: {message}")

    def _get(self, key: str, required: bool) -> Any:
        self.seen.add(key)
        if key not in self.data:
            if required:
                self.fail(key, "is required")
            return None
        return self.data[key]

    def string(self, key: str, required: bool = False, default: str | None = None) -> Any:
        v = self._get(key, required)
        if v is None:
            return default
        if not isinstance(v, str) or not v:
            self.fail(key, "must be a non-empty string")
        return v

    def boolean(self, key: str, default: bool) -> bool:
        v = self._get(key, False)
        if v is None:
            return default
        if not isinstance(v, bool):
            self.fail(key, "must be true or false")
        return v

    def integer(self, key: str, default: int | None, minimum: int | None = None, allow_none: bool = False) -> Any:
        v = self._get(key, False)
        if v is None:
            return default
        if allow_none and v == 0:
            return None  # 0 = unbounded
        if isinstance(v, bool) or not isinstance(v, int):
            self.fail(key, "must be an integer")
        if minimum is not None and v < minimum:
            self.fail(key, f"must be at least {minimum}" + (" (or 0 for no bound)" if allow_none else ""))
        return v

    def number(self, key: str, default: float, minimum: float | None = None) -> float:
        v = self._get(key, False)
        if v is None:
            return default
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            self.fail(key, "must be a number")
        if minimum is not None and v < minimum:
            self.fail(key, f"must be at least {minimum}")
        return float(v)

    def choice(self, key: str, choices: tuple[str, ...], default: str | None = None, required: bool = False) -> Any:
        v = self.string(key, required=required, default=default)
        if v not in choices:
            self.fail(key, f"must be one of {', '.join(choices)}, not {v!r}")
        return v

    def get_list(self, key: str) -> list[str]:
        v = self._get(key, False)
        if v is None:
            return []
        if not isinstance(v, list) or not all(isinstance(x, str) and x for x in v):
            self.fail(key, "must be a list of non-empty strings")
        return v

    def table(self, key: str, required: bool = False) -> "_TomlTable":
        v = self._get(key, required)
        return _TomlTable({} if v is None else v, self.source, self._where(key), self.base)

    def array(self, key: str, required: bool = False) -> list["_TomlTable"]:
        v = self._get(key, required)
        if v is None:
            return []
        if not isinstance(v, list) or not v:
            self.fail(key, f"must be a non-empty array of tables ([[{key}]])")
        return [_TomlTable(item, self.source, f"{self._where(key)}[{i}]", self.base) for i, item in enumerate(v)]

    def done(self) -> None:
        unknown = sorted(set(self.data) - self.seen)
        if unknown:
            self.fail(unknown[0], "unknown key (a typo?)")
