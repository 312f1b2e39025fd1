"""A setting Cartesia refuses for good (issue 13): a sunset model, end to end.

The real daemon, mosquitto and the emulator (Cartesia as of December 2026, which
answers a sunset model with `model_sunsetted`). herald does not ask again in a loop:
the say fails with Cartesia's message (or the local voice speaks it), the retained
state shows `cloud: error` and what to change, and fixing the config and sending
SIGHUP recovers.
"""

from __future__ import annotations

import json
import signal
from pathlib import Path

from cartesia_emulator import Emulator
from daemon_harness import Herald, Observer, publish, start_online, stop_cleanly
from mosquitto import Mosquitto

SAY = "herald/kitchen/say"
STATE = "herald/kitchen/state"
SUNSET = "sonic-2-2025-03-07"  # sunset by Cartesia on 2026-06-01


def with_model(herald: Herald, model: str) -> None:
    text = herald.config.read_text()
    if "\nmodel = " in text:
        kept = [line for line in text.splitlines() if not line.startswith("model = ")]
        text = "\n".join(kept) + "\n"
    herald.config.write_text(text.replace("[cartesia]\n", f'[cartesia]\nmodel = "{model}"\n', 1))


def state(observer: Observer) -> dict[str, object]:
    return json.loads(observer.last(STATE) or "{}")


def contexts(emulator: Emulator) -> int:
    return len({r.msg["context_id"] for r in emulator.received if "transcript" in r.msg})


async def say(mosquitto: Mosquitto, observer: Observer, id: str, text: str) -> dict[str, object]:
    await publish(mosquitto, SAY, {"id": id, "text": text})
    await observer.wait_for(lambda: any(e in observer.of(id) for e in ("finished", "failed")))
    return next(
        e for e in observer.events() if e["id"] == id and e["event"] in ("finished", "failed")
    )


async def test_a_sunset_model_fails_once_shows_error_and_recovers_on_sighup(
    tmp_path: Path, mosquitto: Mosquitto, emulator: Emulator, observer: Observer
) -> None:
    herald = Herald(tmp_path, mosquitto, emulator, extra='[offline]\nlocal_voice = "none"\n')
    with_model(herald, SUNSET)
    await start_online(herald, observer)
    try:
        first = await say(mosquitto, observer, "s1", "Is the model still there?")
        assert first["event"] == "failed"
        assert "Model sunsetted" in str(first["error"]), first
        await observer.wait_for(lambda: state(observer).get("cloud") == "error")
        reason = str(state(observer)["cloud_error"])
        assert "cartesia.model" in reason and "Model sunsetted" in reason
        assert contexts(emulator) == 1
        # Not asked again: the next say fails at once, without a request.
        second = await say(mosquitto, observer, "s2", "And now?")
        assert second["event"] == "failed" and "refused this earlier" in str(second["error"])
        assert contexts(emulator) == 1
        # The user fixes the config and reloads: the cloud voice is back.
        with_model(herald, "sonic-3")
        herald.signal(signal.SIGHUP)
        await observer.wait_for(lambda: state(observer).get("cloud") == "online")
        assert "cloud_error" not in state(observer)
        third = await say(mosquitto, observer, "s3", "Back in business.")
        assert third["event"] == "finished"
        started = [e for e in observer.events() if e["id"] == "s3" and e["event"] == "started"]
        assert started[0]["source"] == "cartesia"
    finally:
        assert await stop_cleanly(herald) == 0, herald.logs()


async def test_with_a_local_voice_the_refused_say_is_still_spoken(
    tmp_path: Path, mosquitto: Mosquitto, emulator: Emulator, observer: Observer
) -> None:
    herald = Herald(tmp_path, mosquitto, emulator)
    with_model(herald, SUNSET)
    await start_online(herald, observer)
    try:
        outcome = await say(mosquitto, observer, "p1", "The local voice says this.")
        assert outcome["event"] == "finished"
        started = next(e for e in observer.events() if e["id"] == "p1" and e["event"] == "started")
        assert started["source"] == "local"
        await observer.wait_for(lambda: state(observer).get("cloud") == "error")
    finally:
        assert await stop_cleanly(herald) == 0, herald.logs()
