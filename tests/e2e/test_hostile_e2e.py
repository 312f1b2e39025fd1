"""Hostile input and heavy load, end to end (issue 14): the real daemon, mosquitto, the
emulator with its fault switches, ALSA's file plugin. Each test would fail on the
herald the issue was filed against; none asserts a wall-clock duration (the bench
`bench/hostile.py` measures those)."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import trio

from cartesia_emulator import Emulator
from daemon_harness import KEY, Herald, Observer, publish, start_online, stop_cleanly
from mosquitto import INSTALLED_QUEUE, Mosquitto

SAY = "herald/kitchen/say"
STREAM = "herald/kitchen/say/stream"
STOP = "herald/kitchen/stop"
STATE = "herald/kitchen/state"
TERMINAL = ("finished", "failed", "interrupted", "dropped")
QUIET = '[offline]\nlocal_voice = "none"\n'


def ended(observer: Observer, id: str) -> list[str]:
    return [e for e in observer.of(id) if e in TERMINAL]


async def say(mosquitto: Mosquitto, observer: Observer, id: str, text: str) -> list[str]:
    await publish(mosquitto, SAY, {"id": id, "text": text})
    await observer.wait_for(lambda: bool(ended(observer, id)), timeout=30)
    return observer.of(id)


async def publish_many(mosquitto: Mosquitto, topic: str, payloads: list[str]) -> None:
    """Many QoS 1 messages in one mosquitto_pub (one per line), as a busy home would."""
    args = ["mosquitto_pub", *mosquitto.cli_args(), "-t", topic, "-q", "1", "-l"]
    with trio.fail_after(60):
        await trio.run_process(args, stdin="".join(p + "\n" for p in payloads).encode())


async def test_a_frame_nested_1000_deep_costs_itself_only(
    tmp_path: Path, mosquitto: Mosquitto, emulator: Emulator, observer: Observer
) -> None:
    emulator.faults.deep_frame_after_chunks = 1
    herald = await start_online(Herald(tmp_path, mosquitto, emulator, extra=QUIET), observer)
    assert await say(mosquitto, observer, "d1", "The frame after this one is hostile.") == [
        "queued",
        "started",
        "finished",
    ]
    assert herald.process is not None and herald.process.returncode is None
    assert await stop_cleanly(herald) == 0


async def test_300_muted_says_all_get_their_event(
    tmp_path: Path, mosquitto: Mosquitto, emulator: Emulator, observer: Observer
) -> None:
    herald = await start_online(Herald(tmp_path, mosquitto, emulator, extra=QUIET), observer)
    await publish(mosquitto, "herald/kitchen/mute/set", "ON")
    await observer.wait_for(lambda: json.loads(observer.last(STATE) or "{}").get("mute") is True)
    ids = [f"m{i}" for i in range(300)]
    await publish_many(mosquitto, SAY, [json.dumps({"id": i, "text": "Shh."}) for i in ids])
    await observer.wait_for(lambda: all(ended(observer, i) for i in ids), timeout=60)
    assert all(ended(observer, i) == ["dropped"] for i in ids)
    assert await stop_cleanly(herald) == 0


async def test_a_stop_is_not_stuck_behind_500_queued_says(
    tmp_path: Path, mosquitto: Mosquitto, emulator: Emulator, observer: Observer
) -> None:
    emulator.faults.chunk_delay = 0.05  # each say takes a while to speak
    herald = await start_online(Herald(tmp_path, mosquitto, emulator, extra=QUIET), observer)
    ids = [f"q{i}" for i in range(500)]
    text = "This announcement is one of very many in a row, and it is not short."
    await publish_many(mosquitto, SAY, [json.dumps({"id": i, "text": text}) for i in ids])
    await publish(mosquitto, STOP, "")
    await observer.wait_for(lambda: all(ended(observer, i) for i in ids), timeout=60)
    started = [i for i in ids if "started" in observer.of(i)]
    # Were the stop stuck behind them, all 500 would have been spoken first.
    assert len(started) <= 2, started
    assert {ended(observer, i)[0] for i in ids} <= {"interrupted", "dropped"}
    full = [i for i in ids if ended(observer, i) == ["dropped"]]
    assert full, "the queue has a cap: past it a say is dropped at once"
    assert await stop_cleanly(herald) == 0


async def test_a_400_chunk_stream_loses_no_word(
    tmp_path: Path, mosquitto: Mosquitto, emulator: Emulator, observer: Observer
) -> None:
    herald = await start_online(Herald(tmp_path, mosquitto, emulator, extra=QUIET), observer)
    # 400 chunks of one letter each, a space after every 20th: what overflowed herald's
    # input was the number of chunks handled at once, not their length, and 20 words
    # play in 6 s where 400 took a minute.
    words = [chr(97 + i % 26) + (" " if i % 20 == 19 else "") for i in range(400)]
    chunks = [json.dumps({"id": "s", "text": w}) for w in words]
    chunks.append(json.dumps({"id": "s", "text": "", "final": True}))
    await publish_many(mosquitto, STREAM, chunks)
    await observer.wait_for(lambda: bool(ended(observer, "s")), timeout=120)
    assert ended(observer, "s") == ["finished"]
    heard = "".join(str(r.msg["transcript"]) for r in emulator.received if "transcript" in r.msg)
    assert heard == "".join(words)
    assert await stop_cleanly(herald) == 0


async def test_a_server_that_stalls_after_one_chunk_does_not_hang_the_speaker(
    tmp_path: Path, mosquitto: Mosquitto, emulator: Emulator, observer: Observer
) -> None:
    emulator.faults.hang_after_chunks = 1
    herald = await start_online(Herald(tmp_path, mosquitto, emulator, extra=QUIET), observer)
    events = await say(mosquitto, observer, "h1", "One chunk, and then nothing at all for ages.")
    assert events[-1] in ("failed", "finished")
    emulator.faults.hang_after_chunks = None
    assert (await say(mosquitto, observer, "h2", "The next say plays."))[-1] == "finished"
    assert await stop_cleanly(herald) == 0


async def test_an_at_beyond_its_ttl_is_dropped_and_a_reused_id_is_spoken_again(
    tmp_path: Path, mosquitto: Mosquitto, emulator: Emulator, observer: Observer
) -> None:
    herald = await start_online(Herald(tmp_path, mosquitto, emulator, extra=QUIET), observer)
    far = int((time.time() + 3600) * 1000)  # a clock an hour off, or a mistake
    await publish(mosquitto, SAY, {"id": "far", "text": "An hour from now.", "at": far})
    await observer.wait_for(lambda: bool(ended(observer, "far")))
    dropped = next(e for e in observer.events() if e["id"] == "far" and e["event"] == "dropped")
    assert dropped["reason"] == "ttl"
    door = {"id": "door-1", "text": "Someone is at the front door."}
    await publish(mosquitto, SAY, door)
    await observer.wait_for(lambda: ended(observer, "door-1") == ["finished"])
    await publish(mosquitto, SAY, door)  # the README's example, a second time
    await observer.wait_for(lambda: ended(observer, "door-1") == ["finished", "finished"])
    assert observer.of("door-1").count("started") == 2
    assert await stop_cleanly(herald) == 0


async def test_a_server_error_with_the_key_in_it_is_masked_everywhere(
    tmp_path: Path, mosquitto: Mosquitto, emulator: Emulator, observer: Observer
) -> None:
    emulator.faults.echo_api_key = True
    emulator.faults.error_after_chunks = (1, 500, "internal failure")
    herald = await start_online(Herald(tmp_path, mosquitto, emulator, extra=QUIET), observer)
    await say(mosquitto, observer, "k1", "This one fails with the key in the text.")
    failed = next(e for e in observer.events() if e["id"] == "k1" and e["event"] == "failed")
    assert "request made with API key" in failed["error"]  # the hostile text arrived
    everything = json.dumps(observer.events()) + str(observer.last(STATE))
    assert KEY not in everything and KEY not in herald.logs()
    assert await stop_cleanly(herald) == 0


async def test_done_before_audio_is_not_finished_without_started(
    tmp_path: Path, mosquitto: Mosquitto, emulator: Emulator, observer: Observer
) -> None:
    emulator.faults.done_before_audio = True
    herald = await start_online(Herald(tmp_path, mosquitto, emulator, extra=QUIET), observer)
    events = await say(mosquitto, observer, "n1", "Done before a single sample.")
    assert events == ["queued", "started", "failed"] or "started" not in events
    assert not (events[-1] == "finished" and "started" not in events)
    assert await stop_cleanly(herald) == 0


async def test_nothing_to_speak_is_rejected_not_chimed(
    tmp_path: Path, mosquitto: Mosquitto, emulator: Emulator, observer: Observer
) -> None:
    herald = await start_online(Herald(tmp_path, mosquitto, emulator, extra=QUIET), observer)
    for text in ("...", "\u200b\u200b", "\ufeff\u200b"):
        await publish(mosquitto, SAY, text)
    await observer.wait_for(lambda: sum(e["event"] == "rejected" for e in observer.events()) == 3)
    rejected = [e for e in observer.events() if e["event"] == "rejected"]
    assert all("nothing to speak" in e["error"] for e in rejected)
    assert not any(e["event"] in ("queued", "failed") for e in observer.events())
    assert await stop_cleanly(herald) == 0


async def test_a_say_that_killed_herald_twice_is_answered_not_played_again(
    tmp_path: Path, mosquitto: Mosquitto, emulator: Emulator, observer: Observer
) -> None:
    emulator.faults.chunk_delay = 0.2  # long enough to be killed while it plays
    long = " ".join(["This say is long enough to be playing when herald dies."] * 6)
    herald = Herald(tmp_path, mosquitto, emulator, extra=QUIET)
    await start_online(herald, observer)
    await publish(mosquitto, SAY, {"id": "p", "text": long})
    for crash in (1, 2):
        await observer.wait_for(lambda n=crash: observer.of("p").count("started") >= n)
        herald.kill()  # as a crash would: no clean stop
        await herald.wait()
        await start_online(herald, observer)
    await observer.wait_for(lambda: "failed" in observer.of("p"), timeout=30)
    failed = [e for e in observer.events() if e["id"] == "p" and e["event"] == "failed"]
    assert "stopped unexpectedly, twice" in failed[-1]["error"]
    assert await stop_cleanly(herald) == 0


async def test_sigterm_before_ready_exits_at_once(
    tmp_path: Path, mosquitto: Mosquitto, emulator: Emulator, observer: Observer
) -> None:
    herald = Herald(tmp_path, mosquitto, emulator, extra=QUIET)
    closed = mosquitto.port + 1 if mosquitto.port < 65000 else 1
    text = herald.config.read_text().replace(f"port = {mosquitto.port}", f"port = {closed}")
    herald.config.write_text(text)
    await herald.start()
    # Started and trying the unreachable broker (its first failure is logged after the
    # signal handlers are in place): READY is up to 20 s away. A fixed sleep here lost
    # the race on a loaded machine, with SIGTERM arriving while Python still imported.
    with trio.fail_after(20):
        while "MQTT: " not in herald.logs():
            await trio.sleep(0.05)
    herald.signal(signal.SIGTERM)
    # A bound on the wait, not a measurement: the herald the issue found took 19.7 s.
    assert await herald.wait(timeout=5) == 0


async def test_a_fifo_as_the_state_file_does_not_hang_start_up(
    tmp_path: Path, mosquitto: Mosquitto, emulator: Emulator, observer: Observer
) -> None:
    os.mkfifo(tmp_path / "state-kitchen.json")
    herald = await start_online(Herald(tmp_path, mosquitto, emulator, extra=QUIET), observer)
    assert "not a regular file" in herald.logs()
    assert await stop_cleanly(herald) == 0


async def test_a_flood_of_qos1_says_gets_every_answer(
    tmp_path: Path, emulator: Emulator, nursery: trio.Nursery
) -> None:
    # The broker queues as install.sh sets it up (its default, 1,000, drops the rest of
    # the flood itself). 2,000 says at once make 4,000 events, past paho's queue of
    # 1,000: they must go out at the pace the broker acknowledges them, not be dropped
    # (found by bench/hostile.py: 851 of 3,000 says got their answers).
    broker = Mosquitto(tmp_path / "broker", settings=INSTALLED_QUEUE)
    broker.start()
    try:
        observer = Observer(broker)
        await nursery.start(observer.run)
        emulator.faults.chunk_delay = 0.05  # the first say plays on while the rest arrive
        herald = await start_online(Herald(tmp_path, broker, emulator, extra=QUIET), observer)
        ids = [f"f{i}" for i in range(2000)]
        says = [json.dumps({"id": i, "text": "One of many."}) for i in ids]
        await publish_many(broker, SAY, says)

        def ended_ids() -> set[str]:
            return {e["id"] for e in observer.events() if e["event"] in TERMINAL}

        async def until_ended(n: int) -> None:
            # Polled: a predicate over 4,000 events on every message would cost more
            # than the flood itself.
            with trio.fail_after(60):
                while len(ended_ids() & set(ids)) < n:
                    await trio.sleep(0.5)

        await until_ended(1800)  # all but the queue's 100 dropped at once
        await publish(broker, STOP, "")
        await until_ended(len(ids))
        assert "outgoing queue full" not in herald.logs()
        assert await stop_cleanly(herald) == 0
    finally:
        broker.kill()
