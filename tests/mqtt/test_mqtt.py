"""The MQTT adapter against a real mosquitto (see tests/mosquitto.py).

Real broker I/O, so the real clock: every wait is bounded by trio.fail_after, and no
test asserts a duration. Each test gets its own broker on free loopback ports.
"""

from __future__ import annotations

import logging
import os
import random
import subprocess
import sys
import tracemalloc
from pathlib import Path

import hypothesis
import hypothesis.strategies as st
import pytest
import trio
import trustme

from herald.config import Config, DeviceConfig, MqttConfig
from herald.mqtt import (
    Broker,
    Message,
    MqttClient,
    MqttRefused,
    MqttSettings,
    MqttTlsError,
)
from herald.mqtt.driver import contained
from herald.mqtt.limit import PublishLimiter, encode_varint
from herald.secret import Secret
from mosquitto import Mosquitto, MosquittoFactory
from mqtt_clients import (
    AVAILABILITY,
    DAEMON,
    ECHO,
    SAY,
    barrier,
    launch,
    make_client,
    publish,
    receive,
    retained,
    settings_for,
    wait_for,
    wait_retained,
)


async def test_round_trip_qos1_and_online(mosquitto: Mosquitto, nursery: trio.Nursery) -> None:
    client = make_client(mosquitto)
    port: Broker = client  # the daemon's view (checked by mypy)
    await launch(nursery, client)
    assert port.connected.value and client.status.startswith("connected")
    await wait_retained(mosquitto, AVAILABILITY, "online")

    await publish(mosquitto, SAY, "hello")
    [message] = await receive(client)
    assert (message.topic, message.payload, message.qos) == (SAY, b"hello", 1)
    assert not (message.retain or message.dup or message.oversize)
    assert message.size == 5
    client.ack(message)
    client.ack(message)  # twice: ignored

    await client.publish(ECHO, "from herald")  # we subscribe to ECHO too
    [echo] = await receive(client)
    assert (echo.topic, echo.payload) == (ECHO, b"from herald")
    client.ack(echo)


async def test_qos0_message_needs_no_ack(mosquitto: Mosquitto, nursery: trio.Nursery) -> None:
    client = make_client(mosquitto)
    await launch(nursery, client)
    await publish(mosquitto, SAY, "quick", qos=0)
    [message] = await receive(client)
    assert (message.payload, message.qos, message.mid) == (b"quick", 0, 0)
    client.ack(message)  # a no-op


async def test_subscription_qos2_is_refused(mosquitto: Mosquitto) -> None:
    with pytest.raises(ValueError, match="QoS 2"):
        MqttClient(settings_for(mosquitto), [(SAY, 2)])


# --- persistent session and manual acknowledgement ---


async def test_commands_sent_while_stopped_arrive_on_restart(
    mosquitto: Mosquitto, nursery: trio.Nursery
) -> None:
    first = make_client(mosquitto)
    await launch(nursery, first)  # creates the session and its subscriptions
    await first.shutdown([(AVAILABILITY, "offline", True)])

    for i in range(5):
        await publish(mosquitto, SAY, f"queued {i}")

    second = make_client(mosquitto)
    await launch(nursery, second)
    messages = await receive(second, 5)
    assert [m.payload for m in messages] == [f"queued {i}".encode() for i in range(5)]
    assert not any(m.dup for m in messages)
    for message in messages:
        second.ack(message)


async def test_unacknowledged_command_is_redelivered_with_dup(
    mosquitto: Mosquitto, nursery: trio.Nursery
) -> None:
    first = make_client(mosquitto)
    scope = await launch(nursery, first)
    await publish(mosquitto, SAY, "handled")
    await publish(mosquitto, SAY, "in flight")
    handled, in_flight = await receive(first, 2)
    first.ack(handled)
    await barrier(first)  # (a PUBACK still queued when herald dies is lost: a dup later)
    scope.cancel()  # herald dies before "in flight" is handled
    await wait_for(lambda: not first.connected.value)
    await wait_retained(mosquitto, AVAILABILITY, "offline")  # the last will

    second = make_client(mosquitto)
    await launch(nursery, second)
    await publish(mosquitto, SAY, "next")
    again, following = await receive(second, 2)
    assert (again.payload, again.dup) == (b"in flight", True)
    assert (following.payload, following.dup) == (b"next", False)
    first.ack(in_flight)  # an ack from a dead connection is ignored
    second.ack(again)
    second.ack(following)


KILLED_ADAPTER = """
import sys
import trio
from herald.mqtt import MqttClient, MqttSettings

async def main() -> None:
    settings = MqttSettings(
        host="127.0.0.1", port=int(sys.argv[1]), client_id="herald-test",
        will=(sys.argv[2] + "/availability", b"offline"),
    )
    client = MqttClient(
        settings, [(sys.argv[2] + "/say", 1)],
        online_messages=[(sys.argv[2] + "/availability", "online", True)],
    )
    async with trio.open_nursery() as nursery:
        await nursery.start(client.run)
        await client.connected.wait_until(bool)
        print("connected", flush=True)
        async for message in client.messages:  # never acknowledged
            print("got", message.payload.decode(), flush=True)

trio.run(main)
"""


async def test_sigkilled_adapter_loses_nothing_and_leaves_its_will(
    mosquitto: Mosquitto, nursery: trio.Nursery
) -> None:
    process = await trio.lowlevel.open_process(
        [sys.executable, "-c", KILLED_ADAPTER, str(mosquitto.port), "herald/kitchen"],
        stdout=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(DAEMON)},
    )
    assert process.stdout is not None
    output = b""

    async def wait_output(lines: int) -> None:
        nonlocal output
        assert process.stdout is not None
        with trio.fail_after(15):
            while output.count(b"\n") < lines:
                chunk = await process.stdout.receive_some()
                assert chunk, f"the adapter process ended: {output!r}"
                output += chunk

    try:
        await wait_output(1)
        await wait_retained(mosquitto, AVAILABILITY, "online")
        for i in range(3):
            await publish(mosquitto, SAY, f"command {i}")
        await wait_output(4)
        assert output.decode().splitlines()[1:] == [f"got command {i}" for i in range(3)]
    finally:
        process.kill()
        await process.wait()
    await wait_retained(mosquitto, AVAILABILITY, "offline")

    client = make_client(mosquitto)
    await launch(nursery, client)
    messages = await receive(client, 3)
    assert [(m.payload, m.dup) for m in messages] == [
        (f"command {i}".encode(), True) for i in range(3)
    ]


# --- broker outages ---


async def test_broker_killed_and_restarted(mosquitto: Mosquitto, nursery: trio.Nursery) -> None:
    client = make_client(mosquitto)
    await launch(nursery, client)
    # The broker saves after every change, but one SIGKILLed in the same instant as a
    # SUBSCRIBE can lose it (measured): let it process one more round trip first.
    await barrier(client)
    mosquitto.kill()
    await wait_for(lambda: not client.connected.value)
    await client.publish(ECHO, "during the outage")  # queued by paho, never raises
    await client.publish(ECHO, "lost, QoS0", qos=0)
    mosquitto.start()  # same port, same database (saved on every change)
    await publish(mosquitto, SAY, "after the restart")
    await wait_for(lambda: client.connected.value)
    messages = await receive(client, 2)
    assert {(m.topic, m.payload) for m in messages} == {
        (ECHO, b"during the outage"),
        (SAY, b"after the restart"),
    }
    assert client.stats.connects == 2
    assert client.last_error is None
    await wait_retained(mosquitto, AVAILABILITY, "online")


async def test_resubscribes_to_a_broker_that_forgot_the_session(
    mosquitto: Mosquitto, nursery: trio.Nursery
) -> None:
    client = make_client(mosquitto)
    await launch(nursery, client)
    mosquitto.restart(kill=True, wipe=True)
    await wait_for(lambda: client.stats.connects == 2 and client.connected.value)
    await publish(mosquitto, SAY, "to the new session")
    [message] = await receive(client)
    assert message.payload == b"to the new session"


async def test_silent_broker_is_detected_by_keepalive(
    mosquitto: Mosquitto, nursery: trio.Nursery
) -> None:
    client = make_client(mosquitto, keepalive=1)
    await launch(nursery, client)
    mosquitto.pause()
    try:
        await wait_for(lambda: not client.connected.value)
    finally:
        mosquitto.resume()
    assert "Keep alive timeout" in client.status
    await wait_for(lambda: client.connected.value)
    await publish(mosquitto, SAY, "awake")
    [message] = await receive(client)
    assert message.payload == b"awake"


# --- availability ---


async def test_shutdown_publishes_offline_and_disconnects_cleanly(
    mosquitto: Mosquitto, nursery: trio.Nursery
) -> None:
    client = make_client(mosquitto, will=(AVAILABILITY, b"lost"))
    await launch(nursery, client)
    await wait_retained(mosquitto, AVAILABILITY, "online")
    with trio.fail_after(5):
        await client.shutdown([(AVAILABILITY, "offline", True)])
    assert not client.connected.value
    with trio.fail_after(5):
        assert [m async for m in client.messages] == []  # closed
    await wait_retained(mosquitto, AVAILABILITY, "offline")
    await wait_for(lambda: "Client herald-test disconnected." in mosquitto.log())
    assert await retained(mosquitto, AVAILABILITY) == "offline"  # the will was not sent
    await client.publish(ECHO, "after shutdown")  # ignored, no error


async def test_shutdown_while_the_broker_is_down(
    mosquitto: Mosquitto, nursery: trio.Nursery
) -> None:
    client = make_client(mosquitto)
    await launch(nursery, client)
    mosquitto.kill()
    await wait_for(lambda: not client.connected.value)
    with trio.fail_after(5):
        await client.shutdown([(AVAILABILITY, "offline", True)])


# --- retained messages ---


async def test_retained_message_is_flagged(mosquitto: Mosquitto, nursery: trio.Nursery) -> None:
    await publish(mosquitto, SAY, "old", retain=True)
    client = make_client(mosquitto, ignore_retained=False)
    await launch(nursery, client)
    [old] = await receive(client)
    assert (old.payload, old.retain) == (b"old", True)
    await publish(mosquitto, SAY, "live")
    [live] = await receive(client)
    assert (live.payload, live.retain) == (b"live", False)
    client.ack(old)
    client.ack(live)


async def test_retained_messages_are_ignored_by_default(
    mosquitto: Mosquitto, nursery: trio.Nursery
) -> None:
    await publish(mosquitto, SAY, "old", retain=True)
    client = make_client(mosquitto)
    await launch(nursery, client)
    await publish(mosquitto, SAY, "live")
    [live] = await receive(client)
    assert (live.payload, live.retain) == (b"live", False)


# --- payload size limit ---


async def test_oversize_message_is_cut_flagged_and_acknowledged(
    mosquitto: Mosquitto, nursery: trio.Nursery
) -> None:
    big = random.Random(2).randbytes(100_000)
    client = make_client(mosquitto, max_payload=1024)
    scope = await launch(nursery, client)
    await publish(mosquitto, SAY, big)
    await publish(mosquitto, SAY, big[:1024])
    oversize, fits = await receive(client, 2)
    assert (oversize.oversize, oversize.size, oversize.payload) == (True, 100_000, big[:1024])
    assert (fits.oversize, fits.size, fits.payload) == (False, 1024, big[:1024])
    assert client.stats.oversize == 1
    client.ack(oversize)  # the daemon answers `rejected`, and acknowledges
    client.ack(fits)
    await barrier(client)
    scope.cancel()
    await wait_for(lambda: not client.connected.value)

    again = make_client(mosquitto, max_payload=1024)
    await launch(nursery, again)
    await publish(mosquitto, SAY, "next")
    [message] = await receive(again)
    assert message.payload == b"next"  # nothing redelivered


async def test_oversize_message_is_never_buffered_whole(
    mosquitto: Mosquitto, nursery: trio.Nursery
) -> None:
    huge = b"x" * (16 * 1024 * 1024)
    client = make_client(mosquitto, max_payload=1024)
    await launch(nursery, client)
    tracemalloc.start()
    try:
        await publish(mosquitto, SAY, huge)
        [message] = await receive(client)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert (message.oversize, message.size, len(message.payload)) == (True, len(huge), 1024)
    assert peak < 2 * 1024 * 1024  # paho alone would hold all 16 MiB at once
    client.ack(message)


def publish_packet(topic: bytes, payload: bytes, *, qos: int = 1, props: bytes = b"") -> bytes:
    variable = len(topic).to_bytes(2, "big") + topic
    if qos:
        variable += (7).to_bytes(2, "big")
    variable += encode_varint(len(props)) + props
    body = variable + payload
    return bytes([0x30 | qos << 1]) + encode_varint(len(body)) + body


def test_limiter_cuts_only_oversize_publish() -> None:
    marker = b"mark"
    small = publish_packet(b"a/b", b"x" * 10)
    ping = bytes([0xD0, 0x00])
    large = publish_packet(b"a/b", b"y" * 300, props=b"\x01\x01")  # payload format indicator
    stream = small + ping + large + small
    prop = b"\x26" + b"\x00\x04mark" + b"\x00\x03300"
    cut = publish_packet(b"a/b", b"y" * 16, props=prop)
    limiter = PublishLimiter(16, marker.decode())
    assert limiter.feed(stream) == small + ping + cut + small
    assert limiter.cut == 1


@hypothesis.given(
    sizes=st.lists(st.integers(0, 400), min_size=1, max_size=6),
    cuts=st.lists(st.integers(1, 2000), max_size=20),
)
def test_limiter_cuts_any_stream_however_it_is_chunked(sizes: list[int], cuts: list[int]) -> None:
    packets, expected = [], []
    for n in sizes:  # QoS 0 and 1, topics of 1-7 bytes, payloads around the limit of 100
        topic, payload, qos = b"t" * (n % 7 + 1), bytes([n % 256]) * n, n % 2
        packets.append(publish_packet(topic, payload, qos=qos))
        if n <= 100:
            expected.append(packets[-1])
        else:
            prop = b"\x26\x00\x01m" + len(str(n)).to_bytes(2, "big") + str(n).encode()
            expected.append(publish_packet(topic, payload[:100], qos=qos, props=prop))
    stream = b"".join(packets)
    limiter = PublishLimiter(100, "m")
    out, pos = b"", 0
    for cut in sorted(cuts):
        out += limiter.feed(stream[pos:cut])
        pos = max(pos, cut)
    out += limiter.feed(stream[pos:])
    assert out == b"".join(expected)


# --- credentials and TLS ---

PASSWORD = "canary-Pa55w0rd-9f3b"


async def test_tls_password_and_client_certificate(
    mosquitto_factory: MosquittoFactory,
    mqtt_ca: trustme.CA,
    nursery: trio.Nursery,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    broker = mosquitto_factory(users={"herald": PASSWORD}, ca=mqtt_ca, require_certificate=True)
    assert broker.tls_port is not None and broker.ca_file is not None
    identity = mqtt_ca.issue_cert("herald-client.test")
    certfile, keyfile = tmp_path / "client.pem", tmp_path / "client.key"
    identity.cert_chain_pems[0].write_to_path(str(certfile))
    identity.private_key_pem.write_to_path(str(keyfile))
    client = make_client(
        broker,
        host="localhost",
        port=broker.tls_port,
        tls=True,
        ca_file=str(broker.ca_file),
        certfile=str(certfile),
        keyfile=str(keyfile),
        username="herald",
        password=Secret(PASSWORD),
    )
    await launch(nursery, client)
    await publish(broker, SAY, "over TLS")
    [message] = await receive(client)
    assert message.payload == b"over TLS"
    assert PASSWORD not in caplog.text
    assert PASSWORD not in repr(client.settings)


async def test_wrong_password_is_a_clear_error_without_the_password(
    mosquitto_factory: MosquittoFactory, nursery: trio.Nursery, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    broker = mosquitto_factory(users={"herald": "the-right-one"})
    client = make_client(broker, username="herald", password=Secret(PASSWORD))
    await launch(nursery, client, wait=False)
    await wait_for(lambda: client.last_error is not None)
    error = client.last_error
    assert isinstance(error, MqttRefused) and error.bad_credentials
    # mosquitto 2.0 answers a wrong password with "Not authorized"
    assert "refused the connection: Not authorized" in str(error)
    assert "check the MQTT user name and password" in str(error)
    assert not client.connected.value
    assert client.status.startswith(str(error))
    texts = [str(error), repr(error), client.status, caplog.text]
    assert not any(PASSWORD in text or PASSWORD[:8] in text for text in texts)


async def test_wrong_ca_is_a_clear_error(
    mosquitto_factory: MosquittoFactory,
    mqtt_ca: trustme.CA,
    nursery: trio.Nursery,
    tmp_path: Path,
) -> None:
    broker = mosquitto_factory(ca=mqtt_ca)
    assert broker.tls_port is not None
    other_ca = tmp_path / "other-ca.pem"
    trustme.CA().cert_pem.write_to_path(str(other_ca))
    client = make_client(broker, port=broker.tls_port, tls=True, ca_file=str(other_ca))
    await launch(nursery, client, wait=False)
    await wait_for(lambda: client.last_error is not None)
    error = client.last_error
    assert isinstance(error, MqttTlsError)
    assert "certificate of the broker" in str(error) and "failed verification" in str(error)
    assert f"against the CA file {str(other_ca)!r}" in str(error)


async def test_missing_ca_file_is_a_clear_error(
    mosquitto: Mosquitto, nursery: trio.Nursery
) -> None:
    client = make_client(mosquitto, tls=True, ca_file="/nonexistent/ca.pem")
    await launch(nursery, client, wait=False)
    await wait_for(lambda: client.last_error is not None)
    assert isinstance(client.last_error, MqttTlsError)
    assert "cannot read the CA file '/nonexistent/ca.pem'" in str(client.last_error)


# --- nothing escapes a callback ---


async def test_error_while_reading_a_message_is_contained(
    mosquitto: Mosquitto,
    nursery: trio.Nursery,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    client = make_client(mosquitto)
    to_message = client._to_message

    def fragile(msg: object) -> Message:
        message = to_message(msg)  # type: ignore[arg-type]
        if message.payload == b"poison":
            raise RuntimeError("boom")
        return message

    monkeypatch.setattr(client, "_to_message", fragile)
    scope = await launch(nursery, client)
    await publish(mosquitto, SAY, "poison")
    await publish(mosquitto, SAY, "fine")
    [message] = await receive(client)
    assert message.payload == b"fine"
    assert client.connected.value and client.stats.connects == 1
    assert "unreadable message" in caplog.text
    client.ack(message)
    await barrier(client)
    scope.cancel()
    await wait_for(lambda: not client.connected.value)

    again = make_client(mosquitto)
    await launch(nursery, again)
    await publish(mosquitto, SAY, "next")
    [message] = await receive(again)
    assert message.payload == b"next"  # the poison was acknowledged, not redelivered


def test_contained_logs_and_swallows(caplog: pytest.LogCaptureFixture) -> None:
    @contained
    def callback(value: int) -> None:
        raise ZeroDivisionError(value)

    callback(1)
    assert "error in callback (contained)" in caplog.text
    assert "ZeroDivisionError" in caplog.text


# --- settings ---


def test_settings_from_config() -> None:
    config = Config(
        device=DeviceConfig(id="kitchen"),
        mqtt=MqttConfig(host="broker.lan", port=8883, username="herald", tls=True),
        mqtt_password=Secret(PASSWORD),
    )
    settings = MqttSettings.from_config(config)
    assert settings.client_id == "herald-kitchen"
    assert settings.will == ("herald/kitchen/availability", b"offline")
    assert (settings.host, settings.port, settings.tls) == ("broker.lan", 8883, True)
    assert settings.password == Secret(PASSWORD)
    assert settings.ca_file is None
    assert PASSWORD not in repr(settings)
    anonymous = MqttSettings.from_config(Config(device=DeviceConfig(id="hall")))
    assert (anonymous.username, anonymous.password) == (None, None)
