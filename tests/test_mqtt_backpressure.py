"""A consumer that falls behind slows the broker down: the adapter stops reading the
socket while its queue is full, so no message is dropped (issue 14: 197 of 300 QoS 1
says were stuck, 873 of 1000 QoS 0 ones lost). Real mosquitto on a loopback port."""

from __future__ import annotations

import trio

from herald.mqtt import MqttClient
from mosquitto import Mosquitto
from test_mqtt import SAY, launch, make_client


async def publish_lines(broker: Mosquitto, topic: str, lines: list[str], qos: int) -> None:
    args = ["mosquitto_pub", *broker.cli_args(), "-t", topic, "-q", str(qos), "-l"]
    with trio.fail_after(30):
        await trio.run_process(args, stdin="".join(f"{line}\n" for line in lines).encode())


async def drain(client: MqttClient, count: int) -> list[bytes]:
    payloads = []
    with trio.move_on_after(30):
        while len(payloads) < count:
            message = await client.messages.receive()
            payloads.append(message.payload)
            client.ack(message)
    return payloads


async def test_a_backlog_of_qos1_messages_is_delivered_whole(
    mosquitto: Mosquitto, nursery: trio.Nursery
) -> None:
    client = make_client(mosquitto)
    await launch(nursery, client)
    sent = [f"say {i}" for i in range(300)]
    await publish_lines(mosquitto, SAY, sent, qos=1)
    await trio.sleep(1.0)  # the consumer is away: far more than the queue's 64 wait
    assert [p.decode() for p in await drain(client, len(sent))] == sent
    assert client.stats.dropped == 0


async def test_a_burst_of_qos0_messages_is_not_dropped_by_herald(
    mosquitto: Mosquitto, nursery: trio.Nursery
) -> None:
    client = make_client(mosquitto)
    await launch(nursery, client)
    sent = [f"burst {i}" for i in range(1000)]
    await publish_lines(mosquitto, SAY, sent, qos=0)
    await trio.sleep(1.0)
    assert [p.decode() for p in await drain(client, len(sent))] == sent
    assert client.stats.dropped == 0
