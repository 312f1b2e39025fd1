"""A say's voice: the request body (voice by id, generation_config), the speaker's
choice between a say's fields and the config's defaults, and the cache key."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import AsyncIterator
from typing import Any

import msgspec
import trio

from herald.cache import clip_key
from herald.cartesia.protocol import generation_request
from herald.commands import SayCommand, parse_say
from herald.control.settings import Gate
from herald.control.speaker import Speaker
from herald.observable import Observable
from herald.speech.transforms import PauseAfterQuestions, Spell
from herald.speech.voicing import PlainTextVoice, Voicing
from herald.voice import VoiceParams

BASE = VoiceParams("sonic-3", "f786b574-daa5-4673-aa0c-cbe3e8534c02", "en", 24000)


def body(params: VoiceParams) -> dict[str, Any]:
    decoded: dict[str, Any] = msgspec.json.decode(
        generation_request("c", params, "Hi.", more=False)
    )
    return decoded


def test_voice_by_id_in_the_shape_every_version_takes() -> None:
    assert body(BASE)["voice"] == {"mode": "id", "id": BASE.voice}


def test_generation_fields_only_when_set() -> None:
    plain = body(BASE)
    assert "generation_config" not in plain and "pronunciation_dict_id" not in plain
    full = body(
        dataclasses.replace(
            BASE, speed=0.8, emotion="calm", volume=1.5, pronunciation_dict_id="pdict_1"
        )
    )
    assert full["generation_config"] == {"speed": 0.8, "emotion": "calm", "volume": 1.5}
    assert full["pronunciation_dict_id"] == "pdict_1"
    assert body(dataclasses.replace(BASE, volume=2.0))["generation_config"] == {"volume": 2.0}


# --- the speaker: a say's own fields, else the config's -------------------------------


class FakeSettings:
    volume = Observable(100)

    def resolve_voice(self, voice: str | None) -> str:
        return {"calm": "a0e99841-438c-4a64-b679-ae501e7d6091", None: BASE.voice}.get(
            voice, voice or BASE.voice
        )

    def gate(self, priority: str, volume: int | None) -> Gate:
        return Gate(True)


def speaker(defaults: VoiceParams, voicing: Voicing) -> Speaker:
    events, _ = trio.open_memory_channel[Any](10)
    return Speaker(None, None, defaults, events, FakeSettings(), voicing=voicing)  # type: ignore[arg-type]


def params_for(sp: Speaker, payload: dict[str, Any]) -> VoiceParams:
    cmd = parse_say(json.dumps(payload).encode())
    return sp._params(cmd)


def test_say_fields_win_over_config_defaults() -> None:
    defaults = dataclasses.replace(
        BASE, speed=1.2, emotion="content", volume=0.8, pronunciation_dict_id="pdict_home"
    )
    sp = speaker(defaults, Voicing())
    plain = params_for(sp, {"text": "Hi"})
    assert plain == defaults
    own = params_for(
        sp,
        {
            "text": "Hi",
            "speed": 0.7,
            "emotion": "sad",
            "loudness": 2,
            "volume": 20,  # the playback volume: not Cartesia's
            "pronunciation_dict_id": "pdict_say",
            "voice": "calm",
        },
    )
    assert (own.speed, own.emotion, own.volume, own.pronunciation_dict_id) == (
        0.7,
        "sad",
        2.0,
        "pdict_say",
    )
    assert own.voice == "a0e99841-438c-4a64-b679-ae501e7d6091"
    by_id = params_for(sp, {"text": "Hi", "voice": "a0e99841-438c-4a64-b679-ae501e7d6091"})
    assert by_id.voice == "a0e99841-438c-4a64-b679-ae501e7d6091"


def test_the_transforms_hook_is_the_voicings_text() -> None:
    voicing = Voicing(transforms=(Spell("phone_numbers"), PauseAfterQuestions(1)))
    assert voicing.text("Home? Ring 555-123-4567.") == (
        'Home?<break time="1s"/> Ring <spell>555-123-4567</spell>.'
    )
    assert Voicing().text("Home? Ring 555-123-4567.") == "Home? Ring 555-123-4567."
    assert SayCommand(text="x", id="y").loudness is None


# --- the cache key ------------------------------------------------------------------


def key_version_1(text: str, params: VoiceParams) -> str:
    """clip_key as KEY_VERSION 1 defined it: every field of the params, the text, the
    source. Clips cached by earlier releases must keep being found."""
    parts: dict[str, object] = {f.name: getattr(params, f.name) for f in dataclasses.fields(params)}
    parts |= {"text": text, "source": "cartesia", "key_version": 1}
    canonical = json.dumps(parts, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def test_clips_cached_by_earlier_releases_keep_their_keys() -> None:
    assert clip_key("Hello world.", BASE, "cartesia") == key_version_1("Hello world.", BASE)
    other = dataclasses.replace(BASE, voice="a0e99841-438c-4a64-b679-ae501e7d6091")
    assert clip_key("Hello world.", other, "cartesia") != clip_key("Hello world.", BASE, "cartesia")


def test_the_key_is_the_transformed_text() -> None:
    voicing = Voicing(transforms=(Spell("phone_numbers"),))
    said = voicing.text("Call 555-123-4567.")
    assert clip_key(said, BASE, "cartesia") != clip_key("Call 555-123-4567.", BASE, "cartesia")
    assert clip_key(said, BASE, "cartesia") == clip_key(
        "Call <spell>555-123-4567</spell>.", BASE, "cartesia"
    )


class RecordingVoice:
    loaded = True
    native_rate = 22050

    def __init__(self) -> None:
        self.texts: list[str] = []
        self.loads = 0

    async def load(self) -> None:
        self.loads += 1

    async def synthesize(self, text: str) -> AsyncIterator[bytes]:
        self.texts.append(text)
        yield b"\x01\x00"


async def test_the_local_voice_gets_the_words_without_tags() -> None:
    inner = RecordingVoice()
    voice = PlainTextVoice(inner)
    await voice.load()
    said = 'Home?<break time="0.5s"/> Ring <spell>555-123-4567</spell>.'
    assert [pcm async for pcm in voice.synthesize(said)] == [b"\x01\x00"]
    assert inner.texts == ["Home? Ring 555-123-4567."]
    assert (voice.loaded, voice.native_rate, inner.loads) == (True, 22050, 1)
