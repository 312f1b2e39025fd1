"""herald's REST client (herald.cartesia.rest) against the emulator: voices listed
across pages, cloned, fetched with their embedding; errors as CartesiaError."""

from __future__ import annotations

import pytest

from cartesia_emulator import VOICES, Emulator, synth_pcm
from herald.cartesia.errors import KeyRejected, RequestRejected
from herald.cartesia.rest import CartesiaRest
from herald.secret import Secret
from herald.voice import VoiceParams
from voice_clips import wav_bytes

KEY = Secret("sk_car_test")


def rest(emu: Emulator, version: str) -> CartesiaRest:
    return CartesiaRest(emu.http_url, KEY, version)


@pytest.mark.parametrize("version", ["2024-11-13", "2025-04-16", "2026-03-01", "2026-08-14"])
async def test_every_page_in_every_voice_shape(emulator: Emulator, version: str) -> None:
    emulator.faults.page_cap = 4  # 25 voices: 7 pages, then an empty one
    voices = await rest(emulator, version).list_voices()
    assert [v.id for v in voices] == [v.id for v in VOICES]
    assert voices[3].language == "en" and voices[5].name == "Callum"
    assert voices[0].description == VOICES[0].description


async def test_clone_then_listed_and_fetched(emulator: Emulator) -> None:
    client = rest(emulator, "2025-04-16")
    made = await client.clone_voice(
        wav_bytes(6.0), filename="nan.wav", name="Nan", language="en", description="Nan, reading"
    )
    assert (made.name, made.language, made.description) == ("Nan", "en", "Nan, reading")
    assert made.id in emulator.catalogue
    emulator.faults.page_cap = 10
    assert [v.id for v in await client.list_voices()][-1] == made.id
    assert await client.get_voice(made.id) == made


@pytest.mark.parametrize("version", ["2025-11-04", "2026-08-14"])
async def test_get_voice_in_both_shapes(emulator: Emulator, version: str) -> None:
    voice = await rest(emulator, version).get_voice(VOICES[1].id)
    assert (voice.id, voice.name) == (VOICES[1].id, VOICES[1].name)


@pytest.mark.parametrize("version", ["2024-11-13", "2026-08-14"])
async def test_clone_errors_are_request_rejected(emulator: Emulator, version: str) -> None:
    with pytest.raises(RequestRejected) as info:
        await rest(emulator, version).clone_voice(
            wav_bytes(1.0), filename="x.wav", name="X", language="en"
        )
    assert info.value.status_code == 400
    assert "The clip is 1.0 seconds long; at least 5 are needed." in str(info.value)
    with pytest.raises(KeyRejected):
        await CartesiaRest(emulator.http_url, Secret("sk_car_no"), version).clone_voice(
            wav_bytes(6.0), filename="x.wav", name="X", language="en"
        )
    assert len(emulator.catalogue) == len(VOICES)


async def test_tts_bytes_sends_the_voice_and_generation_settings(emulator: Emulator) -> None:
    emulator.pronunciation_dicts.add("pdict_1")  # the account has it
    params = VoiceParams(
        "sonic-3",
        VOICES[1].id,
        "en",
        24000,
        speed=0.9,
        emotion="calm",
        volume=1.5,
        pronunciation_dict_id="pdict_1",
    )
    assert await rest(emulator, "2025-04-16").tts_bytes("Hi there.", params) == synth_pcm(
        "Hi there."
    )
