"""Does herald hear its topics? SUBACK verdicts and the delivery probe, against real
mosquitto brokers: one with an ``acl_file`` (mosquitto 2.0 grants every subscription and
checks read access only on delivery) and one with the dynamic-security plugin (which
refuses a denied subscription in its SUBACK, 0x87). Plus the probe's timing rules,
directly.

Real broker I/O, so the real clock: every wait is bounded by trio.fail_after.
"""

from __future__ import annotations

import logging
import random

import pytest
import trio

from herald.mqtt import Broker, Hearing, MqttClient, MqttSettings, TopicHearing
from herald.mqtt.hearing import PROBE_QUIET, DeliveryProbe, acl_fix, denial_message
from herald.secret import Secret
from mosquitto import Mosquitto, MosquittoFactory, dynsec_plugin
from test_mqtt import launch, publish, receive, wait_for

SAY = "herald/kitchen/say"
ALL = "herald/all/say"
STOP_ALL = "herald/all/stop"
HERMES = "hermes/tts/say"
PASSWORD = "canary-acl-Pa55-7d1e"


def client_for(
    broker: Mosquitto, topics: list[str], *, probe: str = "own", client_id: str = "herald-kitchen"
) -> MqttClient:
    settings = MqttSettings(
        host="127.0.0.1",
        port=broker.port,
        client_id=client_id,
        username="herald",
        password=Secret(PASSWORD),
        topic_prefix="herald",
        probe=probe,  # type: ignore[arg-type]
    )
    return MqttClient(settings, [(t, 1) for t in topics], rng=random.Random(1))


async def settled(client: MqttClient) -> dict[str, TopicHearing]:
    with trio.fail_after(15):
        hearing = await client.hearing.wait_until(lambda hs: all(h.settled for h in hs))
    return {h.topic: h for h in hearing}


# The read/write mix-up an ACL author easily makes: "herald/all/# is where Home
# Assistant writes", so `write`, where herald needs `read`.
ACL = ["user herald", "topic readwrite herald/kitchen/#", "topic write herald/all/#"]


async def test_acl_file_grants_then_never_delivers_and_the_probe_finds_it(
    mosquitto_factory: MosquittoFactory, nursery: trio.Nursery, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="herald.mqtt")
    broker = mosquitto_factory(users={"herald": PASSWORD}, acl=ACL)
    client = client_for(broker, [SAY, ALL, HERMES])
    port: Broker = client  # the daemon's view (checked by mypy)
    await launch(nursery, client)
    hearing = await settled(client)
    assert hearing[SAY].hearing is Hearing.HEARD
    # What mosquitto 2.0.11 really does: the SUBACK granted the subscription (else it
    # would be REFUSED); only the probe shows that nothing is delivered.
    assert hearing[ALL].hearing is Hearing.SILENT
    assert "did not deliver a test message" in hearing[ALL].reason
    assert hearing[HERMES].hearing is Hearing.GRANTED  # not herald's tree: not probed
    assert port.denied.value == (ALL,)

    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1, errors
    assert errors[0].startswith(f"MQTT: herald hears nothing on {ALL}: the broker accepted")
    assert "fix: let user 'herald' read herald/all/say" in errors[0]
    assert 'under "user herald": topic readwrite herald/#' in errors[0]
    assert PASSWORD not in caplog.text

    # The probes never reach the daemon; commands still do.
    await publish(broker, SAY, "hello")
    [message] = await receive(client)
    assert message.payload == b"hello"
    client.ack(message)


async def test_no_write_access_leaves_a_topic_untested(
    mosquitto_factory: MosquittoFactory, nursery: trio.Nursery
) -> None:
    broker = mosquitto_factory(
        users={"herald": PASSWORD}, acl=["user herald", "topic readwrite herald/kitchen/#"]
    )
    client = client_for(broker, [SAY, STOP_ALL])
    await launch(nursery, client)
    hearing = await settled(client)
    assert hearing[SAY].hearing is Hearing.HEARD
    assert hearing[STOP_ALL].hearing is Hearing.UNTESTED
    assert "refused herald's test message (Not authorized)" in hearing[STOP_ALL].reason
    assert client.denied.value == ()  # unknown is not denied


@pytest.mark.skipif(dynsec_plugin() is None, reason="no mosquitto dynamic-security plugin")
async def test_dynamic_security_refuses_in_the_suback(
    mosquitto_factory: MosquittoFactory, nursery: trio.Nursery, caplog: pytest.LogCaptureFixture
) -> None:
    broker = mosquitto_factory(
        users={"herald": PASSWORD},
        dynsec={
            "herald": [
                ("subscribePattern", "herald/kitchen/#", True),
                ("publishClientSend", "herald/#", True),
            ]
        },
    )
    client = client_for(broker, [SAY, ALL])
    await launch(nursery, client)
    hearing = await settled(client)
    assert hearing[SAY].hearing is Hearing.HEARD
    assert hearing[ALL] == TopicHearing(
        ALL,
        Hearing.REFUSED,
        "the broker refused the subscription (Not authorized)",
        "Not authorized",
    )
    assert client.denied.value == (ALL,)
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert errors == [denial_message(hearing[ALL], "herald", "herald")]
    assert client.connected.value  # deaf on one topic, still up on the others


async def test_anyone_elses_probe_is_dropped_too(
    mosquitto: Mosquitto, nursery: trio.Nursery
) -> None:
    daemon = MqttClient(
        MqttSettings(host="127.0.0.1", port=mosquitto.port, client_id="herald-d", probe="off"),
        [(SAY, 1)],
    )
    await launch(nursery, daemon)
    doctor = MqttClient(
        MqttSettings(host="127.0.0.1", port=mosquitto.port, client_id="herald-doc", probe="all"),
        [(SAY, 1)],
    )
    await launch(nursery, doctor)
    assert (await settled(doctor))[SAY].hearing is Hearing.HEARD  # its probe reached SAY
    await publish(mosquitto, SAY, "after the probe")
    [message] = await receive(daemon)  # the doctor's probe was dropped before it
    assert message.payload == b"after the probe"
    daemon.ack(message)
    assert daemon.hearing.value == (TopicHearing(SAY, Hearing.GRANTED),)


async def test_a_backlog_of_commands_is_not_mistaken_for_deafness(
    mosquitto: Mosquitto, nursery: trio.Nursery
) -> None:
    """Commands queued while herald was away fill the inflight window (16) and herald
    holds them unacknowledged for longer than PROBE_QUIET: the probe, queued behind
    them, must wait for them instead of being called lost."""
    settings = MqttSettings(
        host="127.0.0.1", port=mosquitto.port, client_id="herald-k", topic_prefix="herald"
    )
    first = MqttClient(settings, [(SAY, 1)])
    await launch(nursery, first)
    await first.shutdown()
    for i in range(20):
        await publish(mosquitto, SAY, f"queued {i}")

    client = MqttClient(settings, [(SAY, 1)])
    await launch(nursery, client)
    held = await receive(client, 16)
    await trio.sleep(PROBE_QUIET + 1)  # speaking the backlog takes a while
    assert client.hearing.value[0].hearing is Hearing.PENDING
    for message in held:
        client.ack(message)
    rest = await receive(client, 4)
    for message in rest:
        client.ack(message)
    assert [m.payload for m in held + rest] == [f"queued {i}".encode() for i in range(20)]
    assert (await settled(client))[SAY].hearing is Hearing.HEARD


async def test_the_last_verdict_stands_until_the_next_probe_answers(
    mosquitto_factory: MosquittoFactory, nursery: trio.Nursery
) -> None:
    broker = mosquitto_factory(users={"herald": PASSWORD}, acl=ACL)
    client = client_for(broker, [SAY, ALL])
    await launch(nursery, client)
    await settled(client)
    changes: list[tuple[str, ...]] = []

    async def watch() -> None:
        while True:
            changes.append(await client.denied.wait_change())

    nursery.start_soon(watch)
    broker.restart()
    await wait_for(lambda: client.stats.connects == 2)
    await trio.sleep(PROBE_QUIET + 1)  # the new probe has answered by now
    assert client.denied.value == (ALL,)
    assert changes == []  # never flipped to () and back


async def test_wildcard_filters_are_not_probed(mosquitto: Mosquitto, nursery: trio.Nursery) -> None:
    settings = MqttSettings(
        host="127.0.0.1", port=mosquitto.port, client_id="herald-w", probe="all"
    )
    client = MqttClient(settings, [(SAY, 1), ("herald/+/stop", 1), ("$share/g/herald/x", 0)])
    await launch(nursery, client)
    hearing = await settled(client)
    assert hearing[SAY].hearing is Hearing.HEARD
    assert hearing["herald/+/stop"].hearing is Hearing.GRANTED
    assert hearing["$share/g/herald/x"].hearing is Hearing.GRANTED
    assert client.connected.value and client.stats.connects == 1


# --- the probe's rules, directly ---


def test_silent_only_after_quiet_with_the_window_open() -> None:
    probe = DeliveryProbe("t", ["a", "b", "c"], 100.0, quiet=2.0, limit=60.0)
    probe.puback("a", 100.1, "Success", failure=False, no_match=False)
    probe.puback("b", 100.1, "Not authorized", failure=True, no_match=False)
    assert probe.results["b"].hearing is Hearing.UNTESTED
    assert probe.settle(101.0, window_full=False) == pytest.approx(102.1)
    probe.arrival(101.5)  # a queued command arrived: the probe may be behind it
    assert probe.settle(102.2, window_full=False) == pytest.approx(103.5)
    assert probe.settle(110.0, window_full=True) == 160.0  # nothing decided while full
    assert "a" not in probe.results
    probe.arrival(110.0)  # herald acknowledged one: the window opened
    assert probe.settle(111.0, window_full=False) == pytest.approx(112.0)
    probe.heard("c")  # arrived before its PUBACK
    probe.settle(112.0, window_full=False)
    assert probe.results["a"].hearing is Hearing.SILENT
    assert probe.results["c"].hearing is Hearing.HEARD
    assert probe.done


def test_no_matching_subscribers_is_proof_and_time_runs_out() -> None:
    probe = DeliveryProbe("t", ["a", "b"], 0.0, quiet=2.0, limit=60.0)
    probe.puback("a", 0.1, "No matching subscribers", failure=False, no_match=True)
    assert probe.results["a"].hearing is Hearing.SILENT
    assert probe.settle(59.0, window_full=True) == 60.0  # "b" never got a PUBACK
    assert probe.settle(60.0, window_full=True) is None
    assert probe.results["b"] == TopicHearing(
        "b", Hearing.UNTESTED, "delivery not tested: no answer in time"
    )
    probe.heard("b")  # too late: the verdict stands
    assert probe.results["b"].hearing is Hearing.UNTESTED


def test_acl_fix_names_the_lines() -> None:
    assert acl_fix([ALL, HERMES], "herald", "herald") == (
        "let user 'herald' read herald/all/say, hermes/tts/say in the broker's ACL "
        '(mosquitto acl_file, under "user herald": topic readwrite herald/#; '
        "topic read hermes/tts/say; then systemctl reload mosquitto)"
    )
    anonymous = acl_fix([HERMES], None, "herald")
    assert anonymous.startswith("let anonymous clients read hermes/tts/say")
    assert 'before any "user" line: topic read hermes/tts/say;' in anonymous
