"""`herald doctor`'s ``topics`` line, and the daemon's own ERROR line, against real
mosquitto brokers whose ACL denies some of herald's topics (issue 14.7): one with an
``acl_file`` (grants the subscription, then delivers nothing), one with the
dynamic-security plugin (refuses it in the SUBACK), and a running `herald run` that
doctor's probes must not disturb.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
import trio

from cartesia_emulator import Emulator
from daemon_harness import Herald, Observer, config_text, publish, start_online
from herald.cli.doctor import check_broker, run_doctor
from herald.config import Config, build_config
from mosquitto import Mosquitto, MosquittoFactory, dynsec_plugin

PASSWORD = "canary-doctor-Pa55-31c9"
# "herald/all/# is where Home Assistant writes": `write` where herald needs `read`.
ACL = ["user herald", "topic readwrite herald/kitchen/#", "topic write herald/all/#"]


def config_for(broker: Mosquitto, tmp_path: Path, **mqtt: Any) -> Config:
    secret = tmp_path / "mqtt_password"
    secret.write_text(PASSWORD + "\n")
    values = {"host": "127.0.0.1", "port": broker.port, "discovery": False, **mqtt}
    if broker.users:
        values |= {"username": "herald", "password_file": str(secret)}
    return build_config({"device": {"id": "kitchen"}, "mqtt": values}, {})


def lines(checks: list[Any]) -> dict[str, str]:
    return {c.name: c.line() for c in checks}


async def test_an_acl_file_that_denies_reading_is_found(
    mosquitto_factory: MosquittoFactory, tmp_path: Path
) -> None:
    broker = mosquitto_factory(users={"herald": PASSWORD}, acl=ACL)
    out = lines(await check_broker(config_for(broker, tmp_path)))
    assert out["broker"].startswith("ok    broker    connected to 127.0.0.1:")
    assert out["topics"] == (
        "FAIL  topics    herald hears nothing on 2 of its 9 topics, the broker's ACL denies "
        "them to user 'herald': herald/all/say (subscription granted, nothing delivered), "
        "herald/all/stop (subscription granted, nothing delivered); fix: let user 'herald' "
        "read herald/all/say, herald/all/stop in the broker's ACL (mosquitto acl_file, "
        'under "user herald": topic readwrite herald/#; then systemctl reload mosquitto)'
    )


@pytest.mark.skipif(dynsec_plugin() is None, reason="no mosquitto dynamic-security plugin")
async def test_a_refused_subscription_is_named_with_its_reason(
    mosquitto_factory: MosquittoFactory, tmp_path: Path
) -> None:
    broker = mosquitto_factory(
        users={"herald": PASSWORD},
        dynsec={
            "herald": [
                ("subscribePattern", "herald/#", True),
                ("subscribePattern", "homeassistant/status", False),
                ("publishClientSend", "herald/#", True),
            ]
        },
    )
    cfg = config_for(broker, tmp_path, discovery=True, hermes=True)
    out = lines(await check_broker(cfg))
    topics = out["topics"]
    assert topics.startswith("FAIL  topics    herald hears nothing on 2 of its 11 topics")
    assert "hermes/tts/say (subscription refused: Not authorized)" in topics
    assert "homeassistant/status (subscription refused: Not authorized)" in topics
    assert (
        "topic read hermes/tts/say; topic read homeassistant/status; then systemctl reload"
        in topics
    )


async def test_all_heard_and_what_cannot_be_verified(
    mosquitto_factory: MosquittoFactory, tmp_path: Path
) -> None:
    open_broker = mosquitto_factory()
    out = lines(await check_broker(config_for(open_broker, tmp_path)))
    assert out["topics"] == (
        "ok    topics    subscribed to all 9 topics of herald run; 9 delivered"
    )
    strict = mosquitto_factory(
        users={"herald": PASSWORD},
        acl=["user herald", "topic readwrite herald/kitchen/#", "topic read herald/all/#"],
    )
    out = lines(await check_broker(config_for(strict, tmp_path)))
    assert out["topics"].startswith(
        "ok    topics    subscribed to all 9 topics of herald run; 7 delivered; not "
        "verifiable: herald/all/say, herald/all/stop (doctor may not publish a test message "
        "there"
    )


async def test_no_broker_no_topics_line_failure(mosquitto: Mosquitto, tmp_path: Path) -> None:
    cfg = config_for(mosquitto, tmp_path)
    mosquitto.kill()
    out = lines(await check_broker(cfg))
    assert out["broker"].startswith("FAIL  broker")
    assert out["topics"] == "skip  topics    no broker connection"


async def test_doctor_beside_a_running_daemon_disturbs_nothing(
    tmp_path: Path,
    mosquitto: Mosquitto,
    emulator: Emulator,
    observer: Observer,
    herald: Herald,
) -> None:
    cfg = build_config(
        {
            "device": {"id": "kitchen"},
            "mqtt": {"host": "127.0.0.1", "port": mosquitto.port, "discovery": False},
            "cartesia": {"url": emulator.ws_url, "api_url": emulator.http_url},
            "audio": {"device": f"file:FILE={tmp_path / 'doctor.raw'},FORMAT=raw"},
            "cache": {"dir": str(tmp_path)},
        },
        {"CARTESIA_API_KEY": "sk_car_test"},
    )
    out = io.StringIO()
    assert await run_doctor(cfg, out) == 0, out.getvalue()
    assert "ok    topics    subscribed to all 9 topics of herald run; 9 delivered" in (
        out.getvalue()
    )
    # The daemon dropped doctor's probes (on say, stop, volume, replay...): it acted on
    # none, rejected none, and stayed online under its own session.
    await publish(mosquitto, "herald/kitchen/say", {"id": "after", "text": "Still here."})
    await observer.wait_event("after", "finished")
    events = observer.events()
    assert [e["id"] for e in events] == ["after"] * 3, events
    assert observer.last("herald/kitchen/availability") == "online"
    state = json.loads(observer.last("herald/kitchen/state") or "{}")
    assert state.get("volume") != 0 and state.get("mute") is not True
    assert "dropped a delivery probe on herald/kitchen/replay" in herald.logs()


async def test_the_daemon_logs_each_deaf_topic(
    tmp_path: Path, mosquitto_factory: MosquittoFactory, emulator: Emulator
) -> None:
    # The observer (mosquitto_sub, mosquitto_pub: the first user) may read everything.
    users = {"observer": "observer-pw", "herald": PASSWORD}
    broker = mosquitto_factory(users=users, acl=["user observer", "topic readwrite #", *ACL])
    observer = Observer(broker)
    async with trio.open_nursery() as nursery:
        with trio.fail_after(10):
            await nursery.start(observer.run)
        herald = Herald(tmp_path, broker, emulator, env={"HERALD_MQTT_PASSWORD": PASSWORD})
        herald.config.write_text(
            config_text(tmp_path, broker, emulator, mqtt_extra='username = "herald"')
        )
        await start_online(herald, observer)
        with trio.fail_after(15):
            while "herald hears nothing on herald/all/stop" not in herald.logs():
                await trio.sleep(0.1)
        herald.kill()
        nursery.cancel_scope.cancel()
    errors = [line for line in herald.logs().splitlines() if "ERROR" in line]
    assert len(errors) == 2, errors
    assert "herald hears nothing on herald/all/say: the broker accepted" in errors[0]
    assert "fix: let user 'herald' read herald/all/say" in errors[0]
    assert PASSWORD not in herald.logs()
