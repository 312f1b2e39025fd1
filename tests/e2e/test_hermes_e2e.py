"""Rhasspy/Hermes end to end: `herald run` answering `hermes/tts/say`.

The peer is rhasspy-hermes, Rhasspy's own message library: it builds the
`hermes/tts/say` payloads and parses the `hermes/tts/sayFinished` replies, so a field
name herald gets wrong (siteId, sessionId) fails here. The broker is a real mosquitto,
messages go in with mosquitto_pub and come out through mosquitto_sub (the harness
Observer subscribes `hermes/#` too); audio goes through ALSA's file plugin and is
compared sample for sample with the emulator's.

Contract (shared/product.md): with `[mqtt] hermes = true`, `hermes/tts/say` with Hermes
JSON `{text, siteId, id, lang}` is spoken when siteId is the device id or "default",
and `hermes/tts/sayFinished` `{id, siteId}` is published when done (Rhasspy echoes
sessionId too, and its own TTS publishes sayFinished even when speaking failed).
"""

from __future__ import annotations

from pathlib import Path

from rhasspyhermes.tts import TtsError, TtsSay, TtsSayFinished

from cartesia_emulator import Emulator
from daemon_harness import (
    Herald,
    Observer,
    config_text,
    expected,
    publish,
    start_online,
    stop_cleanly,
)
from mosquitto import Mosquitto

SAY = TtsSay.topic()  # "hermes/tts/say"
FINISHED = TtsSayFinished.topic()  # "hermes/tts/sayFinished"
HERALD_SAY = "herald/kitchen/say"


def hermes_herald(
    tmp_path: Path, broker: Mosquitto, emulator: Emulator, *, hermes: bool = True
) -> Herald:
    """A herald (device "kitchen") whose config sets `[mqtt] hermes`."""
    h = Herald(tmp_path, broker, emulator)
    h.config.write_text(
        config_text(
            tmp_path, broker, emulator, mqtt_extra=f"hermes = {'true' if hermes else 'false'}"
        )
    )
    return h


def finished_messages(observer: Observer) -> list[TtsSayFinished]:
    """Every `hermes/tts/sayFinished` seen, parsed by rhasspy-hermes."""
    return [TtsSayFinished.from_json(p) for t, p in observer.messages if t == FINISHED]


def finished_for(observer: Observer, id: str) -> list[TtsSayFinished]:
    return [f for f in finished_messages(observer) if f.id == id]


async def wait_finished(observer: Observer, id: str) -> TtsSayFinished:
    await observer.wait_for(lambda: bool(finished_for(observer, id)))
    return finished_for(observer, id)[0]


async def say(broker: Mosquitto, message: TtsSay) -> None:
    await publish(broker, SAY, message.to_json())


async def test_hermes_say_is_spoken_bit_exact_and_answered_with_say_finished(
    tmp_path: Path, mosquitto: Mosquitto, emulator: Emulator, observer: Observer
) -> None:
    h = await start_online(hermes_herald(tmp_path, mosquitto, emulator), observer)
    try:
        text = "Hello from Rhasspy."
        await say(mosquitto, TtsSay(text=text, site_id="kitchen", id="h1", lang="en"))
        done = await wait_finished(observer, "h1")
        assert done.id == "h1"
        assert done.site_id == "kitchen"
        assert done.session_id is None
        # herald's own event stream reports the Hermes id like any say
        await observer.wait_event("h1", "finished")
        assert observer.of("h1") == ["queued", "started", "finished"]
        assert await stop_cleanly(h) == 0
    finally:
        h.kill()
    assert len(finished_messages(observer)) == 1
    assert h.captured() == expected(text)


async def test_say_finished_comes_when_speaking_is_done_and_echoes_the_session(
    tmp_path: Path, mosquitto: Mosquitto, emulator: Emulator, observer: Observer
) -> None:
    emulator.faults.chunk_samples = 1200
    emulator.faults.chunk_delay = 0.2  # 50 ms of audio every 200 ms: it plays for a while
    h = await start_online(hermes_herald(tmp_path, mosquitto, emulator), observer)
    try:
        message = TtsSay(
            text="A longer sentence from a Rhasspy dialogue session, spoken slowly.",
            site_id="kitchen",
            id="s1",
            session_id="session-42",
            lang="en_US",  # Rhasspy's form of a language code
        )
        await say(mosquitto, message)
        await observer.wait_event("s1", "started")
        assert finished_for(observer, "s1") == []  # not when queued or started
        emulator.faults.chunk_delay = 0.0
        done = await wait_finished(observer, "s1")
        assert (done.id, done.site_id, done.session_id) == ("s1", "kitchen", "session-42")
        await observer.wait_event("s1", "finished")
        assert observer.of("s1") == ["queued", "started", "finished"]
    finally:
        h.kill()


async def test_site_default_is_spoken_and_other_sites_are_ignored(
    tmp_path: Path, mosquitto: Mosquitto, emulator: Emulator, observer: Observer
) -> None:
    h = await start_online(hermes_herald(tmp_path, mosquitto, emulator), observer)
    try:
        await say(mosquitto, TtsSay(text="For the bedroom only.", site_id="bedroom", id="bed"))
        await say(mosquitto, TtsSay(text="For every site.", site_id="default", id="d1"))
        done = await wait_finished(observer, "d1")
        assert (done.id, done.site_id) == ("d1", "default")
        await observer.wait_event("d1", "finished")
        assert observer.of("d1") == ["queued", "started", "finished"]
        assert await stop_cleanly(h) == 0
    finally:
        h.kill()
    # the bedroom one, published first, was handled before d1: nothing at all for it
    assert observer.of("bed") == []
    assert [e for e in observer.events() if e["event"] == "rejected"] == []
    assert [f.id for f in finished_messages(observer)] == ["d1"]
    assert h.captured() == expected("For every site.")


async def test_hermes_is_off_by_default(
    herald: Herald, observer: Observer, mosquitto: Mosquitto
) -> None:
    await say(mosquitto, TtsSay(text="Nobody listens to Hermes.", site_id="kitchen", id="x"))
    await publish(mosquitto, HERALD_SAY, {"id": "after", "text": "Herald's own topic works."})
    await observer.wait_event("after", "finished")
    assert await stop_cleanly(herald) == 0
    assert observer.of("x") == []
    assert finished_messages(observer) == []
    assert [e for e in observer.events() if e["event"] == "rejected"] == []
    assert herald.captured() == expected("Herald's own topic works.")


async def test_hermes_false_ignores_hermes(
    tmp_path: Path, mosquitto: Mosquitto, emulator: Emulator, observer: Observer
) -> None:
    h = await start_online(hermes_herald(tmp_path, mosquitto, emulator, hermes=False), observer)
    try:
        await say(mosquitto, TtsSay(text="Still nobody listens.", site_id="default", id="y"))
        await publish(mosquitto, HERALD_SAY, {"id": "after", "text": "Only this one."})
        await observer.wait_event("after", "finished")
        assert await stop_cleanly(h) == 0
    finally:
        h.kill()
    assert observer.of("y") == []
    assert finished_messages(observer) == []
    assert h.captured() == expected("Only this one.")


async def test_a_bad_hermes_payload_is_rejected_and_the_next_good_one_spoken(
    tmp_path: Path, mosquitto: Mosquitto, emulator: Emulator, observer: Observer
) -> None:
    h = await start_online(hermes_herald(tmp_path, mosquitto, emulator), observer)
    try:
        await say(mosquitto, TtsSay(text="", site_id="kitchen", id="empty"))
        await publish(mosquitto, SAY, '{"siteId": "kitchen", "id": "no-text"}')
        await publish(mosquitto, SAY, "not json at all")
        await publish(mosquitto, SAY, '{"text": "ok", "siteId": 7}')
        await say(mosquitto, TtsSay(text="Still listening.", site_id="kitchen", id="good"))
        await wait_finished(observer, "good")
        await observer.wait_event("good", "finished")
        assert await stop_cleanly(h) == 0
    finally:
        h.kill()
    rejected = [e for e in observer.events() if e["event"] == "rejected"]
    assert len(rejected) == 4, rejected
    assert all(e["topic"] == SAY for e in rejected), rejected
    assert "empty" in rejected[0]["error"], rejected[0]
    assert '"text"' in rejected[1]["error"], rejected[1]
    assert "JSON" in rejected[2]["error"], rejected[2]
    assert "siteId" in rejected[3]["error"], rejected[3]
    for id in ("empty", "no-text"):
        assert [e["event"] for e in observer.events() if e.get("id") == id] in ([], ["rejected"])
    # As Rhasspy's TTS does, a say for this site that cannot be spoken is answered with
    # hermes/error/tts and, when it named an id, sayFinished: a session waits for it.
    answered = [TtsSayFinished.from_json(p) for t, p in observer.messages if t == FINISHED]
    assert [(f.id, f.site_id) for f in answered] == [
        ("empty", "kitchen"),
        ("no-text", "kitchen"),
        ("good", "kitchen"),
    ]
    errors = [TtsError.from_json(p) for t, p in observer.messages if t == TtsError.topic()]
    assert len(errors) == 2
    assert "empty" in errors[0].error and errors[0].site_id == "kitchen"
    assert observer.of("good") == ["queued", "started", "finished"]
    assert h.captured() == expected("Still listening.")


async def test_a_stopped_hermes_say_still_gets_say_finished(
    tmp_path: Path, mosquitto: Mosquitto, emulator: Emulator, observer: Observer
) -> None:
    """Like Rhasspy's own TTS, which publishes sayFinished whatever happened: a dialogue
    session waits for it."""
    emulator.faults.chunk_samples = 1200
    emulator.faults.chunk_delay = 0.2
    h = await start_online(hermes_herald(tmp_path, mosquitto, emulator), observer)
    try:
        await say(
            mosquitto,
            TtsSay(text="This will be stopped before it ends, sadly.", site_id="kitchen", id="st"),
        )
        await observer.wait_event("st", "started")
        await publish(mosquitto, "herald/kitchen/stop", "")
        await observer.wait_event("st", "interrupted")
        done = await wait_finished(observer, "st")
        assert (done.id, done.site_id) == ("st", "kitchen")
    finally:
        h.kill()


async def test_many_hermes_says_are_spoken_in_order(
    tmp_path: Path, mosquitto: Mosquitto, emulator: Emulator, observer: Observer
) -> None:
    h = await start_online(hermes_herald(tmp_path, mosquitto, emulator), observer)
    texts = [f"Hermes sentence number {i}." for i in range(3)]
    try:
        for i, text in enumerate(texts):
            await say(mosquitto, TtsSay(text=text, site_id="kitchen", id=f"m{i}"))
        for i in range(3):
            await wait_finished(observer, f"m{i}")
        assert await stop_cleanly(h) == 0
    finally:
        h.kill()
    assert [f.id for f in finished_messages(observer)] == ["m0", "m1", "m2"]
    assert h.captured() == expected(*texts)
