"""The emulator's voices as of late 2026: embeddings refused on every version, the voice
shapes each version takes, 404 for unknown voice and pronunciation dictionary ids from
2026-03-01, the discontinued voice endpoints, and cloned voices."""

from __future__ import annotations

import httpx
import pytest

from cartesia_emulator import VERSIONS, VOICES, Emulator, synth_pcm
from test_emulator_ws import audio_of, connect, gen, recv, send, until_end
from voice_clips import wav_bytes

KEY = "sk_car_test"
VOICE = "a0e99841-438c-4a64-b679-ae501e7d6091"
EMBEDDING = {"mode": "embedding", "embedding": [0.125] * 192}
OLD_VERSIONS = [v for v in VERSIONS if v < "2026-03-01"]
STRUCTURED = [v for v in VERSIONS if v >= "2026-03-01"]
EMBEDDINGS_GONE = (
    "Voice embeddings are no longer supported (discontinued 2026-06-01). "
    'Use a voice id: {"mode": "id", "id": "<voice id>"}.'
)


def rest_headers(version: str) -> dict[str, str]:
    return {"X-API-Key": KEY, "Cartesia-Version": version}


def tts_body(**change: object) -> dict[str, object]:
    body: dict[str, object] = {
        "model_id": "sonic-3",
        "transcript": "Hello there.",
        "voice": {"mode": "id", "id": VOICE},
        "output_format": {"container": "raw", "encoding": "pcm_s16le", "sample_rate": 24000},
    }
    return body | change


# -- embeddings ---------------------------------------------------------------------------


@pytest.mark.parametrize("version", VERSIONS)
async def test_embedding_voice_refused_on_every_version_over_the_websocket(
    emulator: Emulator, version: str
) -> None:
    async with connect(emulator, version=version) as ws:
        await send(ws, gen("c", "Spoken by an embedding.", more=False, voice=EMBEDDING))
        msg = await recv(ws)
        await send(ws, gen("d", "By id.", more=False))  # the socket goes on
        ok = (await until_end(ws, "d"))["d"]
    assert msg["type"] == "error" and msg["done"] is True and msg["context_id"] == "c"
    assert msg["status_code"] == 400
    if version >= "2026-03-01":
        assert (msg["error_code"], msg["title"]) == ("invalid_voice", "Invalid request")
        assert msg["message"] == EMBEDDINGS_GONE
    else:
        assert msg["error"] == f"Invalid request: {EMBEDDINGS_GONE}"
    assert audio_of(ok) == synth_pcm("By id.")


@pytest.mark.parametrize("version", VERSIONS)
async def test_embedding_voice_refused_on_every_version_on_tts_bytes(
    emulator: Emulator, version: str
) -> None:
    async with httpx.AsyncClient(base_url=emulator.http_url) as http:
        reply = await http.post(
            "/tts/bytes", headers=rest_headers(version), json=tts_body(voice=EMBEDDING)
        )
    assert reply.status_code == 400
    text = reply.json()["message"] if version >= "2026-03-01" else reply.text
    assert "Voice embeddings are no longer supported" in text


async def test_embedding_without_mode_is_refused_too(emulator: Emulator) -> None:
    async with connect(emulator, version="2026-08-14") as ws:
        await send(ws, gen("c", "Hi.", more=False, voice={"embedding": [0.1] * 192}))
        msg = await recv(ws)
    assert msg["message"] == EMBEDDINGS_GONE


# -- voice shapes per version -------------------------------------------------------------


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize(
    ("voice", "since"),
    [
        ({"mode": "id", "id": VOICE}, "2024-06-10"),
        (VOICE, "2026-08-14"),
        ({"id": VOICE}, "2026-08-14"),
    ],
)
async def test_voice_shapes_per_version(
    emulator: Emulator, version: str, voice: object, since: str
) -> None:
    async with connect(emulator, version=version) as ws:
        await send(ws, gen("c", "Hi there.", more=False, voice=voice))
        msgs = (await until_end(ws, "c"))["c"]
    async with httpx.AsyncClient(base_url=emulator.http_url) as http:
        rest = await http.post(
            "/tts/bytes", headers=rest_headers(version), json=tts_body(voice=voice)
        )
    if version >= since:
        assert audio_of(msgs) == synth_pcm("Hi there.")
        assert rest.status_code == 200
    else:
        (err,) = msgs
        assert err["type"] == "error" and err["status_code"] == 400
        assert rest.status_code == 400
        assert "voice" in (rest.text if version < "2026-03-01" else rest.json()["message"])


@pytest.mark.parametrize("voice", [{"mode": "clone", "id": VOICE}, 42, {"mode": "id", "id": ""}])
async def test_bad_voice_specifiers(emulator: Emulator, voice: object) -> None:
    async with connect(emulator) as ws:
        await send(ws, gen("c", "Hi.", more=False, voice=voice))
        msg = await recv(ws)
    assert (msg["status_code"], msg["error_code"]) == (400, "invalid_voice")


# -- unknown ids: 404 from 2026-03-01 -----------------------------------------------------


@pytest.mark.parametrize("version", VERSIONS)
async def test_unknown_voice_id_per_version(emulator: Emulator, version: str) -> None:
    nobody = {"mode": "id", "id": "00000000-0000-0000-0000-000000000000"}
    async with connect(emulator, version=version) as ws:
        await send(ws, gen("c", "Hi.", more=False, voice=nobody))
        msg = await recv(ws)
    async with httpx.AsyncClient(base_url=emulator.http_url) as http:
        rest = await http.post(
            "/tts/bytes", headers=rest_headers(version), json=tts_body(voice=nobody)
        )
    status = 404 if version >= "2026-03-01" else 400
    assert msg["status_code"] == rest.status_code == status
    if version >= "2026-03-01":
        assert msg["error_code"] == rest.json()["error_code"] == "voice_not_found"
    else:
        assert (
            msg["error"]
            == rest.text
            == ("Voice not found: No voice with id '00000000-0000-0000-0000-000000000000'.")
        )


@pytest.mark.parametrize("version", VERSIONS)
async def test_unknown_pronunciation_dict_per_version(emulator: Emulator, version: str) -> None:
    async with connect(emulator, version=version) as ws:
        await send(ws, gen("c", "Hi.", more=False, pronunciation_dict_id="pdict_nobody"))
        msg = await recv(ws)
    async with httpx.AsyncClient(base_url=emulator.http_url) as http:
        body = tts_body(pronunciation_dict_id="pdict_nobody")
        rest = await http.post("/tts/bytes", headers=rest_headers(version), json=body)
    if version >= "2026-03-01":
        assert msg["status_code"] == rest.status_code == 404
        assert msg["error_code"] == rest.json()["error_code"] == "pronunciation_dict_not_found"
        assert "'pdict_nobody'" in str(msg["message"])
    else:  # "ambiguous errors" before 2026-03-01
        assert msg["status_code"] == rest.status_code == 400
        assert msg["error"] == rest.text == "Invalid request: Invalid pronunciation_dict_id."


async def test_pronunciation_dicts_the_account_owns(emulator: Emulator) -> None:
    emulator.pronunciation_dicts.add("pdict_home")
    async with connect(emulator) as ws:
        for cid, pdict in (("a", "pdict_home"), ("b", "pdict_emulator_names")):
            await send(ws, gen(cid, "Hello there.", more=False, pronunciation_dict_id=pdict))
        got = await until_end(ws, "a", "b")
    assert all(audio_of(msgs) == synth_pcm("Hello there.") for msgs in got.values())


# -- generation settings ------------------------------------------------------------------


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
        "pronunciation_dict_id": "pdict_emulator_places",
    }
    async with connect(emulator) as ws:
        await send(ws, gen("c", "Hello there.", more=False, **extra))
        msgs = (await until_end(ws, "c"))["c"]
    assert audio_of(msgs) == synth_pcm("Hello there.")


# -- discontinued endpoints, cloning ------------------------------------------------------

MIX = {"voices": [{"id": VOICE, "weight": 0.5}, {"id": VOICE, "weight": 0.5}]}
CREATE = {"name": "Blend", "description": "", "embedding": [0.1] * 192, "language": "en"}


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize(
    ("path", "json", "instead"),
    [
        ("/voices/mix", MIX, "Mixing voices has no replacement."),
        ("/voices", CREATE, "Use POST /voices/clone"),
        ("/voices/clone/clip", None, "Use POST /voices/clone"),
    ],
)
async def test_discontinued_voice_endpoints_are_404(
    emulator: Emulator, version: str, path: str, json: object, instead: str
) -> None:
    async with httpx.AsyncClient(base_url=emulator.http_url, headers=rest_headers(version)) as http:
        if json is None:
            files = {"clip": ("a.wav", wav_bytes(5.0), "audio/wav")}
            reply = await http.post(path, files=files, data={"enhance": "true"})
        else:
            reply = await http.post(path, json=json)
        listing = await http.get("/voices")  # GET /voices stays
    assert reply.status_code == 404
    expected = f"POST {path} was discontinued on 2026-06-01. "
    if version >= "2026-03-01":
        body = reply.json()
        assert (body["error_code"], body["title"]) == ("not_found", "Not found")
        assert body["message"].startswith(expected) and instead in body["message"]
    else:
        assert reply.text.startswith(f"Not found: {expected}") and instead in reply.text
    assert listing.status_code == 200
    assert len(emulator.catalogue) == len(VOICES)  # nothing was created


async def test_a_cloned_voice_speaks_over_the_websocket(emulator: Emulator) -> None:
    async with httpx.AsyncClient(base_url=emulator.http_url) as http:
        reply = await http.post(
            "/voices/clone",
            headers=rest_headers("2025-04-16"),
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
