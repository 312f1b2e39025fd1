"""`herald run` end to end: a real mosquitto, the emulator, ALSA's file plugin.

The daemon is a real subprocess; commands go in with mosquitto_pub and everything
it publishes is read with mosquitto_sub. Audio is compared sample for sample with
the emulator's audio after removing the silence herald plays between utterances.
These tests use the real clock (real processes); they bound waits with fail_after
and never assert a duration.
"""

from __future__ import annotations

import json
import signal
import socket
from pathlib import Path

import trio
import trustme

from cartesia_emulator import Emulator
from daemon_harness import KEY, Herald, Observer, expected, publish, start_online, stop_cleanly
from mosquitto import Mosquitto, MosquittoFactory

SAY = "herald/kitchen/say"
AVAILABILITY = "herald/kitchen/availability"
STATE = "herald/kitchen/state"


async def started(herald: Herald, observer: Observer) -> Herald:
    return await start_online(herald, observer)


async def stop(herald: Herald) -> int:
    return await stop_cleanly(herald)


# --- speaking ----------------------------------------------------------------------


async def test_plain_and_json_say_are_spoken_bit_exact(
    herald: Herald, observer: Observer, mosquitto: Mosquitto
) -> None:
    plain = "Hello from the kitchen."
    await publish(mosquitto, SAY, plain)
    await observer.wait_for(lambda: [e["event"] for e in observer.events()].count("finished") == 1)
    await publish(mosquitto, SAY, {"id": "j1", "text": "The laundry is done.", "priority": "high"})
    await observer.wait_event("j1", "finished")
    assert observer.of("j1") == ["queued", "started", "finished"]
    started_event = next(
        e for e in observer.events() if e["id"] == "j1" and e["event"] == "started"
    )
    assert started_event["source"] == "cartesia"
    assert isinstance(started_event["latency_ms"], int | float)
    assert started_event["latency_ms"] >= 0
    plain_id = observer.events()[0]["id"]
    assert observer.of(plain_id) == ["queued", "started", "finished"]
    assert await stop(herald) == 0
    assert herald.captured() == expected(plain, "The laundry is done.")


async def test_priority_goes_first_and_interrupt_cuts_in(
    herald: Herald, observer: Observer, mosquitto: Mosquitto, emulator: Emulator
) -> None:
    emulator.faults.chunk_samples = 1200
    emulator.faults.chunk_delay = 0.2  # 50 ms of audio every 200 ms: a long first utterance
    await publish(
        mosquitto, SAY, {"id": "a", "text": "First one is rather long, it takes a while."}
    )
    await observer.wait_event("a", "started")
    await publish(mosquitto, SAY, {"id": "b", "text": "Normal priority."})
    await publish(mosquitto, SAY, {"id": "c", "text": "High priority.", "priority": "high"})
    await observer.wait_for(
        lambda: observer.of("b") == ["queued"] and observer.of("c") == ["queued"]
    )
    await publish(mosquitto, SAY, {"id": "d", "text": "Interrupting now.", "interrupt": True})
    await observer.wait_event("a", "interrupted")
    emulator.faults.chunk_delay = 0.0
    await observer.wait_event("b", "finished")
    order = [e["id"] for e in observer.events() if e["event"] == "started"]
    assert order == ["a", "d", "c", "b"]
    assert observer.of("a") == ["queued", "started", "interrupted"]
    for id in "bcd":
        assert observer.of(id) == ["queued", "started", "finished"]


async def test_stop_cancels_the_cartesia_context(
    herald: Herald, observer: Observer, mosquitto: Mosquitto, emulator: Emulator
) -> None:
    emulator.faults.chunk_samples = 1200
    emulator.faults.chunk_delay = 0.2
    await publish(mosquitto, SAY, {"id": "long", "text": "This will be stopped before it ends."})
    await observer.wait_event("long", "started")
    await publish(mosquitto, "herald/kitchen/stop", "")
    await observer.wait_event("long", "interrupted")
    contexts = {
        m.msg["context_id"] for m in emulator.received if "stopped" in str(m.msg.get("transcript"))
    }
    cancels = [m.msg for m in emulator.received if m.msg.get("cancel") is True]
    assert [c["context_id"] for c in cancels] == list(contexts)
    assert observer.of("long") == ["queued", "started", "interrupted"]


async def test_stop_one_id_and_ttl_drop(
    herald: Herald, observer: Observer, mosquitto: Mosquitto, emulator: Emulator
) -> None:
    emulator.faults.chunk_samples = 1200
    emulator.faults.chunk_delay = 0.2
    await publish(
        mosquitto, SAY, {"id": "p", "text": "Playing for a little while now, please wait."}
    )
    await observer.wait_event("p", "started")
    await publish(mosquitto, SAY, {"id": "late", "text": "Too late.", "ttl": 0.3})
    await publish(mosquitto, SAY, {"id": "q", "text": "Queued and then stopped."})
    await publish(mosquitto, "herald/kitchen/stop", {"id": "q"})
    await observer.wait_event("late", "dropped")
    await observer.wait_event("q", "interrupted")
    assert observer.of("late") == ["queued", "dropped"]
    assert observer.of("q") == ["queued", "interrupted"]
    emulator.faults.chunk_delay = 0.0
    await observer.wait_event("p", "finished")


async def test_a_bad_payload_is_rejected_and_the_next_good_one_spoken(
    herald: Herald, observer: Observer, mosquitto: Mosquitto
) -> None:
    await publish(mosquitto, SAY, '{"text": 5}')
    await publish(mosquitto, SAY, '{"text": "ok", "priority": "urgent"}')
    await publish(mosquitto, "herald/kitchen/volume/set", "loud")
    await publish(mosquitto, SAY, {"id": "good", "text": "Still working."})
    await observer.wait_event("good", "finished")
    rejected = [e for e in observer.events() if e["event"] == "rejected"]
    assert len(rejected) == 3
    assert all(e["id"] is None for e in rejected)
    assert '"text"' in rejected[0]["error"]
    assert "urgent" in rejected[1]["error"]
    assert rejected[2]["topic"] == "herald/kitchen/volume/set"
    assert await stop(herald) == 0
    assert herald.captured() == expected("Still working.")


async def test_retained_say_is_never_spoken(
    tmp_path: Path, mosquitto: Mosquitto, emulator: Emulator, observer: Observer
) -> None:
    await publish(mosquitto, SAY, {"id": "stale", "text": "Retained, never say me."}, retain=True)
    h = await started(Herald(tmp_path, mosquitto, emulator), observer)
    try:
        await publish(mosquitto, SAY, {"id": "fresh", "text": "Live one."})
        await observer.wait_event("fresh", "finished")
        assert observer.of("stale") == []
    finally:
        h.kill()


async def test_volume_and_state(herald: Herald, observer: Observer, mosquitto: Mosquitto) -> None:
    await publish(mosquitto, "herald/kitchen/volume/set", "35")
    await observer.wait_for(lambda: json.loads(observer.last(STATE) or "{}").get("volume") == 35)
    state = json.loads(observer.last(STATE) or "{}")
    assert state == {"state": "idle", "cloud": "online", "volume": 35, "queue": 0, "mute": False}


# --- resilience --------------------------------------------------------------------


async def test_commands_published_while_herald_was_killed_are_all_spoken(
    tmp_path: Path, mosquitto: Mosquitto, emulator: Emulator, observer: Observer
) -> None:
    h = await started(Herald(tmp_path, mosquitto, emulator), observer)
    emulator.faults.ttfb = 30.0  # nothing gets spoken: the commands wait unacknowledged
    for i in range(3):
        await publish(mosquitto, SAY, {"id": f"k{i}", "text": f"Command number {i} here."})
    await observer.wait_for(lambda: all(observer.of(f"k{i}") for i in range(3)))
    h.kill()
    await h.wait()
    await observer.wait_for(lambda: observer.last(AVAILABILITY) == "offline")  # the last will
    await publish(mosquitto, SAY, {"id": "k3", "text": "Sent while herald was down."})
    emulator.faults.ttfb = 0.0
    h2 = await started(Herald(tmp_path, mosquitto, emulator), observer)
    try:
        for i in range(4):
            await observer.wait_event(f"k{i}", "finished")
    finally:
        h2.kill()


async def test_broker_killed_and_restarted_mid_run(
    tmp_path: Path, mosquitto: Mosquitto, emulator: Emulator, nursery: trio.Nursery
) -> None:
    obs = Observer(mosquitto)
    await nursery.start(obs.run)
    h = await started(Herald(tmp_path, mosquitto, emulator), obs)
    try:
        mosquitto.kill()
        await trio.sleep(0.5)
        mosquitto.start()
        obs2 = Observer(mosquitto)
        await nursery.start(obs2.run)
        for i in range(3):
            await publish(mosquitto, SAY, {"id": f"o{i}", "text": f"Outage command {i}."})
        for i in range(3):
            await obs2.wait_event(f"o{i}", "finished")
        await obs2.wait_for(lambda: obs2.last(AVAILABILITY) == "online")
    finally:
        h.kill()


async def test_tls_and_password(
    tmp_path: Path,
    mosquitto_factory: MosquittoFactory,
    emulator: Emulator,
    nursery: trio.Nursery,
) -> None:
    ca = trustme.CA()
    broker = mosquitto_factory(users={"herald": "s3cret-pass"}, ca=ca)
    assert broker.ca_file is not None and broker.tls_port is not None
    obs = Observer(broker)
    await nursery.start(obs.run)
    h = _tls_herald(tmp_path, broker, emulator, broker.ca_file)
    await started(h, obs)
    try:
        await publish(broker, SAY, {"id": "tls", "text": "Over TLS."})
        await obs.wait_event("tls", "finished")
    finally:
        h.kill()
    assert "s3cret-pass" not in h.logs()


async def test_a_wrong_ca_is_refused_with_a_clear_error(
    tmp_path: Path, mosquitto_factory: MosquittoFactory, emulator: Emulator
) -> None:
    broker = mosquitto_factory(users={"herald": "s3cret-pass"}, ca=trustme.CA())
    other_ca = tmp_path / "other-ca.pem"
    trustme.CA().cert_pem.write_to_path(str(other_ca))
    h = _tls_herald(tmp_path, broker, emulator, other_ca)
    await h.start()
    try:
        with trio.fail_after(20):
            while "certificate" not in h.logs().lower():
                await trio.sleep(0.1)
    finally:
        h.kill()
    logs = h.logs()
    assert "verify" in logs.lower() or "certificate" in logs.lower()
    assert "s3cret-pass" not in logs


def _tls_herald(tmp_path: Path, broker: Mosquitto, emulator: Emulator, ca_file: Path) -> Herald:
    """A herald that reaches ``broker``'s TLS listener as user herald, trusting ``ca_file``."""
    h = Herald(tmp_path, broker, emulator, env={"HERALD_MQTT_PASSWORD": "s3cret-pass"})
    mqtt = f"""
[mqtt]
host = "127.0.0.1"
port = {broker.tls_port}
tls = true
ca_file = "{ca_file}"
username = "herald"
discovery = false
"""
    h.config.write_text(_replace_mqtt(h.config.read_text(), mqtt))
    return h


def _replace_mqtt(config: str, mqtt_section: str) -> str:
    start = config.index("[mqtt]")
    end = config.index("[cartesia]")
    return config[:start] + mqtt_section.strip() + "\n\n" + config[end:]


# --- lifecycle ------------------------------------------------------------------------


async def test_sd_notify_watchdog_and_sigterm(
    tmp_path: Path, mosquitto: Mosquitto, emulator: Emulator, observer: Observer
) -> None:
    path = str(tmp_path / "notify.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(path)
        sock.setblocking(False)
        h = Herald(
            tmp_path, mosquitto, emulator, env={"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "400000"}
        )
        h.env["NOTIFY_SOCKET"] = path  # the harness strips inherited NOTIFY_* only
        await started(h, observer)
        got: list[str] = []

        async def read_until(wanted: str) -> None:
            with trio.fail_after(20):
                while not any(wanted in m for m in got):
                    await trio.lowlevel.wait_readable(sock)
                    got.append(sock.recv(4096).decode())

        await read_until("READY=1")
        await read_until("WATCHDOG=1")
        watchdogs_before = sum("WATCHDOG=1" in m for m in got)
        h.signal(signal.SIGTERM)
        await read_until("STOPPING=1")
        assert await h.wait() == 0
    ready = next(i for i, m in enumerate(got) if "READY=1" in m)
    stopping = next(i for i, m in enumerate(got) if "STOPPING=1" in m)
    assert ready < stopping
    assert watchdogs_before >= 1
    await observer.wait_for(lambda: observer.last(AVAILABILITY) == "offline")
    with trio.fail_after(5):
        while emulator.active_connections:
            await trio.sleep(0.05)


async def test_sigint_also_stops_cleanly(herald: Herald, observer: Observer) -> None:
    herald.signal(signal.SIGINT)
    assert await herald.wait() == 0
    await observer.wait_for(lambda: observer.last(AVAILABILITY) == "offline")


async def test_sighup_reloads_the_config(herald: Herald, observer: Observer) -> None:
    herald.config.write_text(herald.config.read_text() + '\n[offline]\nlocal_voice = "none"\n')
    text = herald.config.read_text().replace("[audio]\n", "[audio]\nvolume = 40\n")
    herald.config.write_text(text)
    herald.signal(signal.SIGHUP)
    await observer.wait_for(lambda: json.loads(observer.last(STATE) or "{}").get("volume") == 40)
    # a broken config on the next SIGHUP is refused and herald keeps running
    herald.config.write_text(text.replace("volume = 40", "volume = 400"))
    herald.signal(signal.SIGHUP)
    with trio.fail_after(10):
        while "keeping the old one" not in herald.logs():
            await trio.sleep(0.05)
    assert herald.process is not None and herald.process.returncode is None
    assert KEY not in herald.logs()


async def test_a_clean_restart_loses_no_announcement(
    tmp_path: Path, mosquitto: Mosquitto, emulator: Emulator, observer: Observer
) -> None:
    h = await started(Herald(tmp_path, mosquitto, emulator), observer)
    emulator.faults.ttfb = 30.0  # r1 waits for audio, r2 waits in the queue
    await publish(mosquitto, SAY, {"id": "r1", "text": "Before the restart."})
    await publish(mosquitto, SAY, {"id": "r2", "text": "Also before it."})
    await observer.wait_for(lambda: observer.of("r2") == ["queued"])
    assert await stop(h) == 0
    assert observer.of("r1") == ["queued"]  # no terminal event: it was not handled
    emulator.faults.ttfb = 0.0
    h2 = await started(Herald(tmp_path, mosquitto, emulator), observer)
    try:
        await observer.wait_event("r1", "finished")
        await observer.wait_event("r2", "finished")
    finally:
        h2.kill()
