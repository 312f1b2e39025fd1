"""`herald run` end to end with the voice features: a cloned voice and a named one,
generation settings from the config and the say, the pronunciation dictionary, and the
text transforms, all checked at the emulator (exact transcripts and fields) and in the
audio herald played. A real mosquitto, the emulator, ALSA's file plugin."""

from __future__ import annotations

from pathlib import Path

import httpx

from cartesia_emulator import VOICES, Emulator, synth_pcm
from daemon_harness import (
    KEY,
    Herald,
    Observer,
    expected,
    nonzero,
    publish,
    start_online,
    stop_cleanly,
)
from mosquitto import Mosquitto
from voice_clips import wav_bytes

SAY = "herald/kitchen/say"


def configure(herald: Herald, cartesia: str, extra: str) -> Herald:
    text = herald.config.read_text().replace("[cartesia]\n", f"[cartesia]\n{cartesia}\n", 1)
    herald.config.write_text(text + "\n" + extra)
    return herald


async def clone(emulator: Emulator) -> str:
    async with httpx.AsyncClient(base_url=emulator.http_url) as http:
        reply = await http.post(
            "/voices/clone",
            headers={"X-API-Key": KEY, "Cartesia-Version": "2025-04-16"},
            data={"name": "Grandma", "language": "en"},
            files={"clip": ("grandma.wav", wav_bytes(6.0), "audio/wav")},
        )
    reply.raise_for_status()
    voice_id: str = reply.json()["id"]
    return voice_id


def contexts(emulator: Emulator) -> list[tuple[str, dict[str, object]]]:
    """Per context, in order: its transcripts joined, and its first request."""
    seen: dict[str, tuple[str, dict[str, object]]] = {}
    for r in emulator.received:
        cid, transcript = r.msg.get("context_id"), r.msg.get("transcript")
        if not isinstance(cid, str) or not isinstance(transcript, str):
            continue
        text, first = seen.get(cid, ("", r.msg))
        seen[cid] = (text + transcript, first)
    return list(seen.values())


async def test_voices_settings_and_transforms_reach_cartesia_and_the_speaker(
    tmp_path: Path, mosquitto: Mosquitto, emulator: Emulator, observer: Observer
) -> None:
    grandma = await clone(emulator)
    bright = VOICES[2].id
    emulator.pronunciation_dicts.update({"pdict_home", "pdict_say"})  # the account has them
    herald = configure(
        Herald(tmp_path, mosquitto, emulator),
        cartesia=(
            'version = "2025-04-16"\n'
            f'voices = [{{name = "grandma", id = "{grandma}"}}, '
            f'{{name = "bright", id = "{bright}"}}]\n'
            "speed = 1.1\n"
            'pronunciation_dict_id = "pdict_home"'
        ),
        extra=(
            "[[transforms]]\n"
            'replace = {Siobhan = "Shiv-awn"}\n'
            "[[transforms]]\n"
            'spell = "phone_numbers"\n'
            "[[transforms]]\n"
            "pause_after_questions = 0.5\n"
        ),
    )
    await start_online(herald, observer)
    try:
        first = "Siobhan, is anyone home? Call 555-123-4567."
        await publish(
            mosquitto, SAY, {"id": "t1", "text": first, "voice": "grandma", "loudness": 1.5}
        )
        await observer.wait_event("t1", "finished")
        await publish(
            mosquitto,
            SAY,
            {
                "id": "t2",
                "text": "Two voices in one.",
                "voice": "bright",
                "emotion": "calm",
                "pronunciation_dict_id": "pdict_say",
            },
        )
        await observer.wait_event("t2", "finished")
        await publish(mosquitto, SAY, {"id": "t3", "text": "Too loud.", "loudness": 3})
        await observer.wait_for(lambda: any(e["event"] == "rejected" for e in observer.events()))
        # The same say again: the cache, keyed by the text as it was sent.
        await publish(
            mosquitto, SAY, {"id": "t4", "text": first, "voice": "grandma", "loudness": 1.5}
        )
        await observer.wait_event("t4", "finished")
    finally:
        assert await stop_cleanly(herald) == 0, herald.logs()

    said = 'Shiv-awn, is anyone home?<break time="0.5s"/> Call <spell>555-123-4567</spell>.'
    (one, one_first), (two, two_first) = contexts(emulator)
    assert one == said
    assert one_first["voice"] == {"mode": "id", "id": grandma}
    assert one_first["generation_config"] == {"speed": 1.1, "volume": 1.5}
    assert one_first["pronunciation_dict_id"] == "pdict_home"
    assert two == "Two voices in one."
    assert two_first["voice"] == {"mode": "id", "id": bright}
    assert two_first["generation_config"] == {"speed": 1.1, "emotion": "calm"}
    assert two_first["pronunciation_dict_id"] == "pdict_say"

    rejected = next(e for e in observer.events() if e["event"] == "rejected")
    assert rejected["error"] == '"loudness": must be a number from 0.5 to 2.0, got 3'
    started = {e["id"]: e["source"] for e in observer.events() if e["event"] == "started"}
    assert started == {"t1": "cartesia", "t2": "cartesia", "t4": "cache"}
    assert herald.captured() == expected(said, "Two voices in one.", said)
    assert nonzero(synth_pcm(said)) != nonzero(synth_pcm(first))  # the transform was heard
