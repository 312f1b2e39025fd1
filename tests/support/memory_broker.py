"""An in-memory stand-in for herald's Broker port, for in-process daemon tests on MockClock."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import trio
import trio.testing

from herald.mqtt import Message
from herald.observable import Observable


class MemoryBroker:
    """Implements herald.mqtt.Broker in memory: always connected, records publishes.
    ``publish_delay``: seconds each publish takes (a slow link, a broker's PUBACK)."""

    def __init__(self, *, publish_delay: float = 0.0) -> None:
        self.publish_delay = publish_delay
        self.connected = Observable(True)
        self.denied = Observable[tuple[str, ...]](())
        self._send, self.messages = trio.open_memory_channel[Message](100)
        self.published: list[tuple[str, str, bool]] = []
        self.published_at: list[float] = []  # trio time of each, beside `published`
        self.acked: list[Message] = []
        self.acked_at: list[float | None] = []  # None: acked outside trio

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        task_status.started()

    def ack(self, message: Message) -> None:
        self.acked.append(message)
        self.acked_at.append(_now())

    async def publish(
        self, topic: str, payload: bytes | str, *, qos: int = 1, retain: bool = False
    ) -> None:
        if self.publish_delay:
            await trio.sleep(self.publish_delay)
        text = payload.decode() if isinstance(payload, bytes) else payload
        self.published.append((topic, text, retain))
        self.published_at.append(trio.current_time())

    async def outbound_room(self) -> None:
        await trio.lowlevel.checkpoint()

    async def shutdown(self, final: Sequence[tuple[str, bytes | str, bool]] = ()) -> None:
        pass

    def deliver(self, topic: str, payload: bytes) -> None:
        self._send.send_nowait(Message(topic=topic, payload=payload, qos=1, mid=1))

    async def feed(self, topic: str, payload: bytes) -> None:
        """`deliver`, waiting while herald's input is full (as the socket would)."""
        await self._send.send(Message(topic=topic, payload=payload, qos=1, mid=1))

    def json_on(self, topic: str) -> list[dict[str, Any]]:
        return [json.loads(p) for t, p, _ in self.published if t == topic]


def _now() -> float | None:
    try:
        return trio.current_time()
    except RuntimeError:  # a test calling the router outside trio.run
        return None
