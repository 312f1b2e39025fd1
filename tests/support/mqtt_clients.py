"""herald's MQTT client against a real mosquitto: settings, launch, publish, receive."""

from __future__ import annotations

import random
from collections.abc import Callable

import trio

from herald.mqtt import (
    Message,
    MqttClient,
    MqttSettings,
)
from mosquitto import Mosquitto
from repo import REPO

SAY = "herald/kitchen/say"
ECHO = "herald/kitchen/echo"
AVAILABILITY = "herald/kitchen/availability"
ONLINE = [(AVAILABILITY, "online", True)]
DAEMON = REPO / "daemon"


def settings_for(broker: Mosquitto, **changes: object) -> MqttSettings:
    options: dict[str, object] = {
        "host": "127.0.0.1",
        "port": broker.port,
        "client_id": "herald-test",
        "will": (AVAILABILITY, b"offline"),
    }
    options.update(changes)
    return MqttSettings(**options)  # type: ignore[arg-type]


def make_client(broker: Mosquitto, **changes: object) -> MqttClient:
    subscriptions = [(SAY, 1), (ECHO, 1)]
    ignore_retained = bool(changes.pop("ignore_retained", True))
    return MqttClient(
        settings_for(broker, **changes),
        subscriptions,
        online_messages=ONLINE,
        ignore_retained=ignore_retained,
        rng=random.Random(1),
    )


async def launch(
    nursery: trio.Nursery, client: MqttClient, *, wait: bool = True
) -> trio.CancelScope:
    """Run ``client`` in ``nursery``; cancelling the returned scope kills it (no DISCONNECT)."""
    scope = trio.CancelScope()

    async def run(task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        with scope:
            await client.run(task_status=task_status)

    await nursery.start(run)
    if wait:
        with trio.fail_after(10):
            await client.connected.wait_until(bool)
    return scope


async def publish(
    broker: Mosquitto, topic: str, payload: bytes | str, *, qos: int = 1, retain: bool = False
) -> None:
    data = payload.encode() if isinstance(payload, str) else payload
    flags = ["-r"] if retain else []
    args = ["mosquitto_pub", *broker.cli_args(), "-t", topic, "-q", str(qos), *flags, "-s"]
    with trio.fail_after(10):
        await trio.run_process(args, stdin=data)


async def retained(broker: Mosquitto, topic: str) -> str | None:
    """The retained payload on ``topic`` (None if there is none)."""
    args = ["mosquitto_sub", *broker.cli_args(), "-t", topic, "-C", "1", "-W", "1"]
    with trio.fail_after(10):
        result = await trio.run_process(args, capture_stdout=True, check=False)
    return result.stdout.decode().rstrip("\n") if result.returncode == 0 else None


async def wait_retained(broker: Mosquitto, topic: str, expected: str) -> None:
    with trio.fail_after(10):
        while (value := await retained(broker, topic)) != expected:
            await trio.sleep(0.05)
    assert value == expected


async def receive(client: MqttClient, count: int = 1) -> list[Message]:
    messages: list[Message] = []
    with trio.fail_after(10):
        while len(messages) < count:
            messages.append(await client.messages.receive())
    return messages


async def barrier(client: MqttClient) -> None:
    """Once our own echo is back, everything queued before it (PUBACKs) was sent.

    QoS0, so that it needs no PUBACK of its own.
    """
    await client.publish(ECHO, "barrier", qos=0)
    [echo] = await receive(client)
    assert (echo.payload, echo.qos) == (b"barrier", 0)


async def wait_for(predicate: Callable[[], bool]) -> None:
    with trio.fail_after(10):
        while not predicate():
            await trio.sleep(0.02)


# --- the basics ---
