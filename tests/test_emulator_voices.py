"""The emulator's WebSocket with the voice features: embeddings per API version,
generation_config and pronunciation_dict_id checks, and cloned voices."""

from __future__ import annotations

import httpx
import pytest

from cartesia_emulator import Emulator, synth_pcm
from test_emulator_ws import audio_of, connect, gen, recv, send, until_end
from voice_clips import wav_bytes

EMBEDDING = {"mode": "embedding", "embedding": [0.125] * 192}


@pytest.mark.parametrize("version", ["2024-06-10", "2024-11-13", "2025-04-16", "2025-11-04"])
async def test_embedding_voice_accepted_on_embedding_era_versions(
    emulator: Emulator, version: str
) -> None:
    async with connect(emulator, version=version) as ws:
        await send(ws, gen("c", "Spoken by an embedding.", more=False, voice=EMBEDDING))
        msgs = (await until_end(ws, "c"))["c"]
    assert msgs[-1]["type"] == "done"
    assert audio_of(msgs) == synth_pcm("Spoken by an embedding.")


@pytest.mark.parametrize("version", ["2025-11-05", "2026-03-01", "2026-08-14"])
async def test_embedding_voice_refused_on_newer_versions(emulator: Emulator, version: str) -> None:
    async with connect(emulator, version=version) as ws:
        await send(ws, gen("c", "Spoken by an embedding.", more=False, voice=EMBEDDING))
        msg = await recv(ws)
    assert msg["type"] == "error" and msg["done"] is True and msg["context_id"] == "c"
    assert msg["status_code"] == 400
    if version >= "2026-03-01":  # structured errors
        assert msg["error_code"] == "invalid_voice"
        assert msg["title"] == "Invalid request"
        assert msg["message"] == "Voice embeddings are not accepted in this API version."
        assert isinstance(msg["request_id"], str)
    else:
        assert msg["error"] == (
            "Invalid request: Voice embeddings are not accepted in this API version."
        )


@pytest.mark.parametrize(
    ("extra", "problem"),
    [
        ({"generation_config": {"speed": 0.59}}, "generation_config.speed must be"),
        ({"generation_config": {"volume": 2.5}}, "generation_config.volume must be"),
        ({"generation_config": {"emotion": "Happy"}}, "generation_config.emotion 'Happy'"),
        ({"pronunciation_dict_id": 3}, "pronunciation_dict_id must be"),
    ],
)
async def test_generation_settings_out_of_range(
    emulator: Emulator, extra: dict[str, object], problem: str
) -> None:
    async with connect(emulator) as ws:
        await send(ws, gen("c", "Hello.", more=False, **extra))
        msg = await recv(ws)
    assert (msg["type"], msg["status_code"]) == ("error", 400)
    assert problem in str(msg["message"])


async def test_generation_settings_in_range_are_spoken(emulator: Emulator) -> None:
    extra = {
        "generation_config": {"speed": 1.5, "volume": 0.5, "emotion": "content"},
        "pronunciation_dict_id": "pdict_kids",
    }
    async with connect(emulator) as ws:
        await send(ws, gen("c", "Hello there.", more=False, **extra))
        msgs = (await until_end(ws, "c"))["c"]
    assert audio_of(msgs) == synth_pcm("Hello there.")


async def test_a_cloned_voice_speaks_over_the_websocket(emulator: Emulator) -> None:
    async with httpx.AsyncClient(base_url=emulator.http_url) as http:
        reply = await http.post(
            "/voices/clone",
            headers={"X-API-Key": "sk_car_test", "Cartesia-Version": "2025-04-16"},
            data={"name": "Grandma", "language": "en"},
            files={"clip": ("g.wav", wav_bytes(5.0), "audio/wav")},
        )
    voice_id = reply.json()["id"]
    async with connect(emulator) as ws:
        await send(ws, gen("c", "Hello love.", more=False, voice={"mode": "id", "id": voice_id}))
        msgs = (await until_end(ws, "c"))["c"]
    assert audio_of(msgs) == synth_pcm("Hello love.")
    async with connect(emulator) as ws:  # an id it never made is still refused
        await send(ws, gen("d", "Hi.", more=False, voice={"mode": "id", "id": voice_id[::-1]}))
        assert (await recv(ws))["error_code"] == "voice_not_found"
