"""What the daemon sees of MQTT: the `Broker` port and the message type."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import NamedTuple, Protocol

import trio

from herald.observable import Observable


@dataclass(frozen=True, slots=True, kw_only=True)
class Message:
    """One incoming message.

    ``retain``: the broker sent it from its retained store (it was published before we
    subscribed), not live. ``dup``: the broker sent it before and got no acknowledgement,
    e.g. herald died before handling it; the daemon de-duplicates by command id.
    ``oversize``: the payload was larger than the adapter's ``max_payload``; ``payload``
    then holds only its first ``max_payload`` bytes and ``size`` the original length.
    A QoS1 message must be passed to `Broker.ack` once handled (spoken, dropped or
    rejected); until then the broker keeps it and redelivers it on the next connection.
    """

    topic: str
    payload: bytes
    qos: int
    retain: bool = False
    dup: bool = False
    oversize: bool = False
    size: int = -1  # original payload size in bytes; -1: len(payload)
    mid: int = 0  # the packet identifier, for ack (0 for QoS0)
    connection: int = field(default=0, repr=False)  # which connection it arrived on

    def __post_init__(self) -> None:
        if self.size < 0:
            object.__setattr__(self, "size", len(self.payload))


@dataclass
class MqttStatistics:
    """Counters of one client, for logs and health reports."""

    received: int = 0
    dropped: int = 0  # incoming queue full (QoS1 ones are redelivered after a reconnect)
    oversize: int = 0
    retained_ignored: int = 0
    publish_dropped: int = 0  # paho's outgoing queue full
    connects: int = 0


class Publication(NamedTuple):
    """A message to publish at a fixed moment (on connect, on shutdown)."""

    topic: str
    payload: bytes | str
    retain: bool = False


class Broker(Protocol):
    """The MQTT port of the daemon; `herald.mqtt.MqttClient` is the real one."""

    @property
    def connected(self) -> Observable[bool]:
        """True while connected and subscribed."""
        ...

    @property
    def denied(self) -> Observable[tuple[str, ...]]:
        """The subscribed topics herald hears nothing on, in subscription order: refused
        in the broker's SUBACK, or accepted but not delivered (a broker ACL that checks
        read access only on delivery, as mosquitto's acl_file does). () when all are
        heard. Updated after each connect; it keeps its value while disconnected."""
        ...

    @property
    def messages(self) -> trio.abc.ReceiveChannel[Message]:
        """Incoming messages, in arrival order; closed when the client stops."""
        ...

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Connect and stay connected until cancelled or shut down."""
        ...

    def ack(self, message: Message) -> None:
        """Acknowledge a handled QoS1 message; no-op for QoS0."""
        ...

    async def publish(
        self, topic: str, payload: bytes | str, *, qos: int = 1, retain: bool = False
    ) -> None:
        """Queue a message for the broker; never raises for a missing connection."""
        ...

    async def outbound_room(self) -> None:
        """Return once the broker takes publications at the pace we make them: a
        bounded wait while many of ours await the broker's acknowledgement."""
        ...

    async def shutdown(self, final: Sequence[tuple[str, bytes | str, bool]] = ()) -> None:
        """Publish ``final`` (bounded wait), then disconnect cleanly: no last will."""
        ...
