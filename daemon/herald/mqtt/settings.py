"""What the MQTT adapter needs to know: the broker, the credentials, the session."""

from __future__ import annotations

import dataclasses
import secrets
from dataclasses import dataclass
from typing import Literal

from herald.config import Config
from herald.secret import Secret

DEFAULT_SESSION_EXPIRY = 7 * 24 * 3600  # commands queued up to a week while herald is down
DEFAULT_MAX_PAYLOAD = 64 * 1024


def availability_topic(topic_prefix: str, device_id: str) -> str:
    """`P/D/availability`: retained `online` / `offline`, also the last will."""
    return f"{topic_prefix}/{device_id}/availability"


@dataclass(frozen=True, slots=True, kw_only=True)
class MqttSettings:
    """Connection settings of one MQTT client (see `from_config`).

    ``client_id`` must be stable and unique per device: the broker keeps the persistent
    session (subscriptions and queued QoS1 commands) under it, and a second client with
    the same id takes the session over. ``session_expiry`` (seconds) is how long the
    broker keeps that session while herald is away. ``will`` is (topic, payload),
    published retained with QoS1 by the broker when the connection dies uncleanly.
    ``max_payload`` bounds an incoming payload: a larger one is delivered cut to this
    size and flagged ``oversize``. ``topic_prefix`` is herald's own topic tree (e.g.
    ``herald``; "" if none); ``probe`` says which subscriptions get a delivery probe after
    each SUBACK (see `herald.mqtt.hearing`): ``own`` those under ``topic_prefix``,
    ``all`` every one (herald doctor), ``off`` none.
    """

    host: str
    port: int = 1883
    client_id: str
    username: str | None = None
    password: Secret | None = None
    tls: bool = False
    ca_file: str | None = None  # None: the system CAs (with tls)
    certfile: str | None = None  # client certificate (with tls), with keyfile
    keyfile: str | None = None
    keepalive: int = 15  # a silently dead link is noticed in about 1.5x this
    session_expiry: int = DEFAULT_SESSION_EXPIRY
    will: tuple[str, bytes] | None = None
    max_payload: int = DEFAULT_MAX_PAYLOAD
    connect_timeout: float = 10.0  # TCP connect + TLS handshake, then again for CONNACK
    topic_prefix: str = ""
    probe: Literal["own", "all", "off"] = "own"

    def __post_init__(self) -> None:
        if not self.host:
            raise ValueError("MqttSettings.host is empty")
        if not 0 < self.port < 65536:
            raise ValueError(f"MqttSettings.port = {self.port}: not a TCP port")
        if not self.client_id:
            raise ValueError("MqttSettings.client_id is empty: a persistent session needs one")
        if not 0 < self.keepalive < 65536:
            raise ValueError(f"MqttSettings.keepalive = {self.keepalive}: 1-65535 seconds")
        if not 0 <= self.session_expiry < 2**32:
            raise ValueError(f"MqttSettings.session_expiry = {self.session_expiry}: 0-2**32-1")
        if self.max_payload < 1:
            raise ValueError(f"MqttSettings.max_payload = {self.max_payload}: must be positive")
        if bool(self.certfile) != bool(self.keyfile):
            raise ValueError("MqttSettings.certfile and keyfile go together")
        if self.password is not None and not self.username:
            raise ValueError("MqttSettings.password needs a username")
        if self.probe not in ("own", "all", "off"):
            raise ValueError(f"MqttSettings.probe = {self.probe!r}: own, all or off")

    def probes(self, topic: str) -> bool:
        """Whether the subscription to ``topic`` gets a delivery probe (never a filter
        with wildcards, or a shared or $-topic: nothing can be published to those)."""
        if "+" in topic or "#" in topic or topic.startswith("$"):
            return False
        if self.probe == "all":
            return True
        return (
            self.probe == "own"
            and bool(self.topic_prefix)
            and (topic.startswith(f"{self.topic_prefix}/"))
        )

    @classmethod
    def for_tool(cls, config: Config, role: str, timeout: float) -> MqttSettings:
        """Settings for a short-lived command-line connection (doctor, discovery remove):
        a client id of its own (taking herald's would disconnect a running daemon and its
        persistent session), no last will, no session kept after it."""
        return dataclasses.replace(
            cls.from_config(config),
            client_id=f"herald-{role}-{config.device.id}-{secrets.token_hex(3)}",
            will=None,
            session_expiry=0,
            connect_timeout=timeout,
        )

    @classmethod
    def from_config(cls, config: Config) -> MqttSettings:
        """Settings for herald's own connection: client id ``herald-<device.id>``, last
        will ``offline`` on ``P/D/availability``."""
        mqtt = config.mqtt
        device_id = config.device.id
        username = mqtt.username or None
        return cls(
            host=mqtt.host,
            port=mqtt.port,
            client_id=f"herald-{device_id}",
            username=username,
            password=config.mqtt_password if username else None,
            tls=mqtt.tls,
            ca_file=mqtt.ca_file or None,
            certfile=mqtt.certfile or None,
            keyfile=mqtt.keyfile or None,
            will=(availability_topic(mqtt.topic_prefix, device_id), b"offline"),
            topic_prefix=mqtt.topic_prefix,
        )
