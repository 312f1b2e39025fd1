"""The emulator's REST endpoints (and its command line), driven by httpx."""

from __future__ import annotations

import io
import os
import signal
import ssl
import struct
import subprocess
import sys
import wave
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import trio
import trustme
from cartesia.types import Voice as SdkVoice

from cartesia_emulator import VOICES, Emulator, encode_pcm, synth_pcm
from voice_clips import float_wav_bytes, wav_bytes

KEY = "sk_car_test"
VOICE = "a0e99841-438c-4a64-b679-ae501e7d6091"
NEW = "2026-08-14"
OLD = "2024-11-13"
TEXT = "Hello from the REST endpoint."
OLD_VOICE_KEYS = {
    "id",
    "is_owner",
    "is_public",
    "name",
    "description",
    "gender",
    "created_at",
    "language",
}


def headers(version: str | None = NEW, key: str | None = KEY) -> dict[str, str]:
    out = {}
    if key is not None:
        out["Authorization"] = f"Bearer {key}"
    if version is not None:
        out["Cartesia-Version"] = version
    return out


@pytest.fixture
async def client(emulator: Emulator) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=emulator.http_url, headers=headers()) as http:
        yield http


def tts_body(
    container: str = "raw", encoding: str = "pcm_s16le", rate: int = 24000
) -> dict[str, object]:
    return {
        "model_id": "sonic-3",
        "transcript": TEXT,
        "voice": {"mode": "id", "id": VOICE},
        "output_format": {"container": container, "encoding": encoding, "sample_rate": rate},
        "language": "en",
    }


# -- /tts/bytes -------------------------------------------------------------------------


@pytest.mark.parametrize("encoding", ["pcm_s16le", "pcm_f32le", "pcm_mulaw", "pcm_alaw"])
async def test_tts_bytes_raw(client: httpx.AsyncClient, encoding: str) -> None:
    reply = await client.post("/tts/bytes", json=tts_body("raw", encoding, 16000))
    assert reply.status_code == 200
    assert reply.content == encode_pcm(synth_pcm(TEXT, 16000), encoding)


@pytest.mark.parametrize(
    ("encoding", "code", "bits"),
    [("pcm_s16le", 1, 16), ("pcm_f32le", 3, 32), ("pcm_mulaw", 7, 8), ("pcm_alaw", 6, 8)],
)
async def test_tts_bytes_wav(
    client: httpx.AsyncClient, encoding: str, code: int, bits: int
) -> None:
    reply = await client.post("/tts/bytes", json=tts_body("wav", encoding, 44100))
    assert reply.status_code == 200
    assert reply.headers["content-type"] == "audio/wav"
    data = reply.content
    audio = encode_pcm(synth_pcm(TEXT, 44100), encoding)
    assert data[:4] == b"RIFF"
    assert data[8:16] == b"WAVEfmt "
    assert struct.unpack("<I", data[4:8])[0] == len(data) - 8
    fmt = struct.unpack("<IHHIIHH", data[16:36])
    assert fmt == (16, code, 1, 44100, 44100 * bits // 8, bits // 8, bits)
    assert data[36:40] == b"data"
    assert struct.unpack("<I", data[40:44])[0] == len(audio)
    assert data[44:] == audio


async def test_tts_bytes_wav_reads_with_stdlib_wave(client: httpx.AsyncClient) -> None:
    reply = await client.post("/tts/bytes", json=tts_body("wav", "pcm_s16le", 22050))
    with wave.open(io.BytesIO(reply.content)) as wav:
        assert (wav.getnchannels(), wav.getsampwidth(), wav.getframerate()) == (1, 2, 22050)
        assert wav.readframes(wav.getnframes()) == synth_pcm(TEXT, 22050)


async def test_tts_bytes_accepts_sdk_voice_shapes(client: httpx.AsyncClient) -> None:
    for voice in (VOICE, {"id": VOICE}):
        reply = await client.post("/tts/bytes", json=tts_body() | {"voice": voice, "save": True})
        assert reply.status_code == 200
        assert reply.headers["cartesia-file-id"]


@pytest.mark.parametrize(
    "field",
    ["add_timestamps", "add_phoneme_timestamps", "context_id", "continue", "max_buffer_delay_ms"],
)
async def test_tts_bytes_rejects_ws_only_fields(client: httpx.AsyncClient, field: str) -> None:
    reply = await client.post("/tts/bytes", json=tts_body() | {field: True})
    assert reply.status_code == 400
    assert field in reply.json()["message"]


@pytest.mark.parametrize(
    "change",
    [
        {"output_format": {"container": "mp3", "sample_rate": 44100, "bit_rate": 128000}},
        {"output_format": {"container": "ogg", "encoding": "pcm_s16le", "sample_rate": 24000}},
        {"model_id": "tts-1"},
        {"voice": {"mode": "id"}},
        {"voice": {"mode": "embedding", "embedding": [0.1] * 192}},
        {"transcript": "  ...  "},
        {"language": "en", "locale": "en-GB"},
    ],
)
async def test_tts_bytes_validation(client: httpx.AsyncClient, change: dict[str, object]) -> None:
    reply = await client.post("/tts/bytes", json=tts_body() | change)
    assert reply.status_code == 400


async def test_tts_bytes_non_json_body(client: httpx.AsyncClient) -> None:
    reply = await client.post("/tts/bytes", content=b"{not json")
    assert reply.status_code == 400


async def test_error_shapes_per_version(emulator: Emulator) -> None:
    async with httpx.AsyncClient(base_url=emulator.http_url) as http:
        new = await http.post("/tts/bytes", headers=headers(NEW), json={"transcript": "x"})
        old = await http.post("/tts/bytes", headers=headers(OLD), json={"transcript": "x"})
    assert new.status_code == old.status_code == 400
    body = new.json()
    assert set(body) == {"error_code", "title", "message", "request_id"}
    assert old.headers["content-type"].startswith("text/plain")
    assert ": " in old.text


# -- auth and versions ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("hdrs", "status"),
    [
        ({"Cartesia-Version": NEW}, 401),
        ({"Cartesia-Version": NEW, "Authorization": "Bearer sk_car_wrong"}, 401),
        ({"Cartesia-Version": NEW, "X-API-Key": KEY}, 200),
        ({"cartesia-version": NEW, "authorization": f"bearer {KEY}"}, 200),
        ({"Authorization": f"Bearer {KEY}"}, 400),
    ],
)
async def test_auth(emulator: Emulator, hdrs: dict[str, str], status: int) -> None:
    async with httpx.AsyncClient(base_url=emulator.http_url) as http:
        reply = await http.get("/voices", headers=hdrs)
    assert reply.status_code == status


async def test_status_and_unknown_paths(client: httpx.AsyncClient) -> None:
    assert (await client.get("/")).json() == {"ok": True, "version": NEW}
    assert (await client.get("/no/such/thing")).status_code == 404
    assert (await client.get("/tts/bytes")).status_code == 405


async def test_keep_alive_serves_several_requests(client: httpx.AsyncClient) -> None:
    for _ in range(3):
        assert (await client.get("/voices")).status_code == 200
    assert (await client.post("/tts/bytes", json=tts_body())).status_code == 200


# -- voices -----------------------------------------------------------------------------


async def test_voices_paging_forward_covers_catalogue_once(client: httpx.AsyncClient) -> None:
    seen: list[str] = []
    params: dict[str, str | int] = {"limit": 7}
    pages = 0
    while True:
        page = (await client.get("/voices", params=params)).json()
        if not page["data"]:
            break
        pages += 1
        seen += [v["id"] for v in page["data"]]
        assert page["has_more"] == (len(seen) < len(VOICES))
        assert page["next_page"] == (page["data"][-1]["id"] if page["has_more"] else None)
        params = {"limit": 7, "starting_after": page["data"][-1]["id"]}
    assert seen == [v.id for v in VOICES]
    assert pages == -(-len(VOICES) // 7)


async def test_voices_paging_backward(client: httpx.AsyncClient) -> None:
    last = VOICES[-1].id
    page = (await client.get("/voices", params={"limit": 5, "ending_before": last})).json()
    assert [v["id"] for v in page["data"]] == [v.id for v in VOICES[-6:-1]]
    assert page["has_more"] is True


async def test_voices_default_limit_and_bounds(client: httpx.AsyncClient) -> None:
    assert len((await client.get("/voices")).json()["data"]) == 10
    assert len((await client.get("/voices", params={"limit": 100})).json()["data"]) == len(VOICES)
    for bad in ("0", "101", "ten"):
        assert (await client.get("/voices", params={"limit": bad})).status_code == 400
    unknown = await client.get("/voices", params={"starting_after": "nope"})
    assert unknown.status_code == 400


async def test_voices_filters(client: httpx.AsyncClient) -> None:
    async def ids(**params: str) -> list[str]:
        reply = await client.get("/voices", params={"limit": "100", **params})
        return [v["id"] for v in reply.json()["data"]]

    assert await ids(is_owner="true") == [v.id for v in VOICES if v.is_owner]
    assert await ids(gender="gender_neutral") == [
        v.id for v in VOICES if v.gender == "gender_neutral"
    ]
    assert await ids(q="barbershop") == [VOICE]
    assert await ids(language="fr") == [v.id for v in VOICES if v.language == "fr"]


async def test_voice_shapes_per_version(client: httpx.AsyncClient) -> None:
    old = (await client.get("/voices", headers={"Cartesia-Version": OLD})).json()["data"]
    assert all(set(v) == OLD_VOICE_KEYS for v in old)
    new = (await client.get("/voices", params={"limit": 100})).json()["data"]
    for shape in new:
        voice = SdkVoice.model_validate(shape)  # the SDK's own pydantic model accepts it
        assert voice.locales[0].is_native
        assert voice.access in ("public", "private")


def test_catalogue_entries_read_as_attributes_or_mapping() -> None:
    ids = {v.id for v in VOICES}
    assert len(ids) == len(VOICES) >= 25
    assert {VOICE, "6ccbfb76-1fc6-48f7-b71d-91ac6298247b"} <= ids
    first = VOICES[0]
    assert first["id"] == first.id
    assert dict(first)["is_public"] is True
    assert set(OLD_VOICE_KEYS) <= set(first)


@pytest.mark.parametrize("version", [NEW, "2026-03-01", "2025-11-04", "2025-04-16", OLD])
async def test_get_voice_has_no_embedding_on_any_version(
    client: httpx.AsyncClient, version: str
) -> None:
    # Embeddings left the voice API on 2026-06-01, for every version.
    reply = await client.get(f"/voices/{VOICE}", headers={"Cartesia-Version": version})
    voice = reply.json()
    assert voice["id"] == VOICE
    assert "embedding" not in voice
    if version < NEW:
        assert set(voice) == OLD_VOICE_KEYS
    missing = await client.get("/voices/not-a-voice", headers={"Cartesia-Version": version})
    assert missing.status_code == 404


async def test_voices_page_cap_returns_fewer_than_asked(
    emulator: Emulator, client: httpx.AsyncClient
) -> None:
    emulator.faults.page_cap = 4
    page = (await client.get("/voices", params={"limit": 100})).json()
    assert [v["id"] for v in page["data"]] == [v.id for v in VOICES[:4]]
    assert page["has_more"] is True and page["next_page"] == VOICES[3].id


# -- cloning ----------------------------------------------------------------------------

CLIP = wav_bytes(6.0)
OLD_CLONE_KEYS = {"id", "user_id", "is_public", "name", "description", "created_at", "language"}


def clone_form(**fields: str) -> dict[str, str]:
    return {"name": "Grandma", "language": "en", "description": "Grandma reading"} | fields


async def clone(
    client: httpx.AsyncClient,
    clip: bytes | None = CLIP,
    version: str = NEW,
    **fields: str,
) -> httpx.Response:
    data = {k: v for k, v in clone_form(**fields).items() if v != "-"}
    # Without a file, fields as file-less parts keep the body multipart.
    files: dict[str, tuple[str | None, bytes | str, str | None]] = (
        {"clip": ("grandma.wav", clip, "audio/wav")}
        if clip is not None
        else {k: (None, v, None) for k, v in data.items()}
    )
    return await client.post(
        "/voices/clone",
        data=data if clip is not None else None,
        files=files,
        headers={"Cartesia-Version": version},
    )


@pytest.mark.parametrize("version", [NEW, "2026-03-01", "2025-04-16", OLD])
async def test_clone_lists_the_voice_and_speaks_with_it(
    emulator: Emulator, client: httpx.AsyncClient, version: str
) -> None:
    reply = await clone(client, version=version)
    assert reply.status_code == 200, reply.text
    made = reply.json()
    if version >= NEW:
        assert made["access"] == "private" and made["visibility"] == "owner"
        assert made["user_id"] and made["tagline"] == "Grandma reading"
    else:
        assert set(made) == OLD_CLONE_KEYS and made["is_public"] is False
    assert (made["name"], made["language"], made["description"]) == (
        "Grandma",
        "en",
        "Grandma reading",
    )
    listed = (await client.get("/voices", params={"limit": 100})).json()["data"]
    assert [v["id"] for v in listed] == [*(v.id for v in VOICES), made["id"]]
    assert listed[-1]["is_owner"] is True
    mine = (await client.get("/voices", params={"limit": 100, "is_owner": "true"})).json()
    assert made["id"] in [v["id"] for v in mine["data"]]
    assert (await client.get(f"/voices/{made['id']}")).json()["name"] == "Grandma"
    body = tts_body() | {"voice": {"mode": "id", "id": made["id"]}}
    spoken = await client.post("/tts/bytes", json=body)
    assert spoken.status_code == 200 and spoken.content == synth_pcm(TEXT)


async def test_clone_accepts_float_wav_and_old_version_fields(client: httpx.AsyncClient) -> None:
    reply = await clone(client, float_wav_bytes(5.0, extensible=True), OLD, enhance="true")
    assert reply.status_code == 200, reply.text
    new = await clone(client, version=NEW, accent="british", base_voice_id=VOICE)
    assert new.status_code == 200, new.text


@pytest.mark.parametrize(
    ("clip", "fields", "status", "code", "words"),
    [
        (wav_bytes(4.5), {}, 400, "clip_too_short", "4.5 seconds long; at least 5"),
        (b"ID3\x04" + b"\x00" * 4000, {}, 400, "invalid_clip", "could not be decoded"),
        (None, {}, 400, "invalid_clip", "clip is required"),
        (CLIP, {"name": "  "}, 400, "invalid_name", "name is required"),
        (CLIP, {"name": "-"}, 400, "invalid_name", "name is required"),
        (CLIP, {"language": "-"}, 400, "invalid_language", "language must be"),
        (CLIP, {"language": "klingon"}, 400, "invalid_language", "'klingon'"),
        (CLIP, {"mood": "happy"}, 400, "invalid_field", "Unknown field 'mood'"),
        (CLIP, {"enhance": "true"}, 400, "invalid_field", "Unknown field 'enhance'"),
        (CLIP, {"base_voice_id": "nope"}, 404, "voice_not_found", "No voice with id 'nope'"),
    ],
)
async def test_clone_errors_in_cartesias_shape(
    emulator: Emulator,
    client: httpx.AsyncClient,
    clip: bytes | None,
    fields: dict[str, str],
    status: int,
    code: str,
    words: str,
) -> None:
    reply = await clone(client, clip, NEW, **fields)
    assert reply.status_code == status
    body = reply.json()
    assert set(body) == {"error_code", "title", "message", "request_id"}
    assert body["error_code"] == code
    assert words in body["message"]
    assert len(emulator.catalogue) == len(VOICES)  # nothing was added


async def test_clone_errors_are_plain_text_before_2026_03_01(client: httpx.AsyncClient) -> None:
    reply = await clone(client, wav_bytes(2.0), OLD)
    assert reply.status_code == 400
    assert reply.headers["content-type"].startswith("text/plain")
    assert reply.text.startswith("Invalid request: The clip is 2.0 seconds long")
    accent = await clone(client, CLIP, OLD, accent="british")
    assert accent.status_code == 400 and "Unknown field 'accent'" in accent.text


async def test_clone_needs_auth_version_multipart_and_post(emulator: Emulator) -> None:
    files = {"clip": ("a.wav", CLIP, "audio/wav")}
    async with httpx.AsyncClient(base_url=emulator.http_url) as http:
        no_key = await http.post(
            "/voices/clone", data=clone_form(), files=files, headers=headers(key=None)
        )
        no_version = await http.post(
            "/voices/clone", data=clone_form(), files=files, headers=headers(version=None)
        )
        as_json = await http.post("/voices/clone", json=clone_form(), headers=headers())
        as_get = await http.get("/voices/clone", headers=headers())
        cut = await http.post(
            "/voices/clone",
            content=b'--b\r\nContent-Disposition: form-data; name="name"\r\n\r\nx',
            headers=headers() | {"content-type": "multipart/form-data; boundary=b"},
        )
    assert (no_key.status_code, no_version.status_code) == (401, 400)
    assert as_json.status_code == 400 and as_json.json()["error_code"] == "invalid_body"
    assert as_get.status_code == 405
    assert cut.status_code == 400 and "no closing boundary" in cut.json()["message"]
    assert len(emulator.catalogue) == len(VOICES)


async def test_a_big_clip_fits(client: httpx.AsyncClient) -> None:
    reply = await clone(client, wav_bytes(30.0, rate=48000, channels=2))  # 5.8 MB
    assert reply.status_code == 200, reply.text


# -- generation settings on /tts/bytes ------------------------------------------------


@pytest.mark.parametrize(
    ("extra", "ok"),
    [
        ({"generation_config": {"speed": 0.6, "volume": 2.0, "emotion": "calm"}}, True),
        ({"generation_config": {"speed": 1.5, "volume": 0.5}}, True),
        ({"pronunciation_dict_id": "pdict_emulator_names"}, True),
        ({"generation_config": {"speed": 1.6}}, False),
        ({"generation_config": {"volume": 0.49}}, False),
        ({"generation_config": {"volume": True}}, False),
        ({"generation_config": {"emotion": "joyful"}}, False),
        ({"generation_config": {"pitch": 1}}, False),
        ({"generation_config": "fast"}, False),
        ({"pronunciation_dict_id": ""}, False),
        ({"pronunciation_dict_id": 7}, False),
    ],
)
async def test_generation_settings_are_validated(
    client: httpx.AsyncClient, extra: dict[str, object], ok: bool
) -> None:
    reply = await client.post("/tts/bytes", json=tts_body() | extra)
    assert reply.status_code == (200 if ok else 400), reply.text


# -- faults -----------------------------------------------------------------------------


@pytest.mark.parametrize("status", [402, 429, 500])
async def test_reject_status(emulator: Emulator, client: httpx.AsyncClient, status: int) -> None:
    emulator.faults.reject_status = status
    assert (await client.get("/voices")).status_code == status
    async with httpx.AsyncClient(base_url=emulator.http_url) as anonymous:
        assert (await anonymous.get("/voices", headers=headers(key=None))).status_code == 401


async def test_refuse(emulator: Emulator, client: httpx.AsyncClient) -> None:
    emulator.faults.refuse = True
    with pytest.raises(httpx.TransportError):
        await client.get("/voices")


async def test_ttfb(
    emulator: Emulator, client: httpx.AsyncClient, autojump_clock: trio.abc.Clock
) -> None:
    emulator.faults.ttfb = 2.0
    start = trio.current_time()
    reply = await client.post("/tts/bytes", json=tts_body())
    assert reply.status_code == 200
    assert trio.current_time() - start == pytest.approx(2.0, abs=0.01)


async def test_chunked_stream_with_delay_and_cut(
    emulator: Emulator, client: httpx.AsyncClient, autojump_clock: trio.abc.Clock
) -> None:
    emulator.faults.chunk_samples = 1000
    emulator.faults.chunk_delay = 0.25
    audio = encode_pcm(synth_pcm(TEXT), "pcm_s16le")
    start = trio.current_time()
    assert (await client.post("/tts/bytes", json=tts_body())).content == audio
    chunks = -(-len(audio) // 2000)
    assert trio.current_time() - start == pytest.approx(0.25 * (chunks - 1), abs=0.01)
    emulator.faults.cut_after_chunks = 2
    emulator.faults.chunk_delay = 0
    received = b""
    with pytest.raises(httpx.TransportError):
        async with client.stream("POST", "/tts/bytes", json=tts_body()) as reply:
            async for part in reply.aiter_raw():
                received += part
    assert 0 < len(received) < len(audio)


# -- the command line -------------------------------------------------------------------


def _run_cli(args: list[str], tmp_path: Path) -> tuple[subprocess.Popen[str], list[str]]:
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).parents[1] / "emulator"))
    proc = subprocess.Popen(
        [sys.executable, "-m", "cartesia_emulator", "--port", "0", "--api-key", KEY, *args],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline().split()
    return proc, line


async def test_cli_serves_tls_and_stops_on_sigterm(
    tmp_path: Path, tls_ca: trustme.CA, ca_file: Path
) -> None:
    cert = tls_ca.issue_cert("127.0.0.1")
    cert.private_key_and_cert_chain_pem.write_to_path(str(tmp_path / "server.pem"))
    args = ["--tls-cert", str(tmp_path / "server.pem"), "--ttfb-ms", "5", "--idle-timeout", "9"]
    args += ["--today", "2026-07-01", "--pronunciation-dict", "pdict_home"]
    proc, line = await trio.to_thread.run_sync(_run_cli, args, tmp_path)
    try:
        assert line[0] == "READY"
        assert line[1].startswith("wss://127.0.0.1:")
        assert line[1].endswith("/tts/websocket")
        assert line[2].startswith("https://127.0.0.1:")
        async with httpx.AsyncClient(
            base_url=line[2], verify=ssl.create_default_context(cafile=str(ca_file))
        ) as http:
            reply = await http.post("/tts/bytes", headers=headers(), json=tts_body())
            # sonic-2 still served on 2026-07-01, in English; the dictionary is the account's.
            july = tts_body() | {"model_id": "sonic-2", "pronunciation_dict_id": "pdict_home"}
            sonic_2 = await http.post("/tts/bytes", headers=headers(), json=july)
        assert reply.content == sonic_2.content == synth_pcm(TEXT)
    finally:
        proc.send_signal(signal.SIGTERM)
        code = await trio.to_thread.run_sync(proc.wait, 10)
    assert code == 0


def test_cli_requires_an_api_key() -> None:
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).parents[1] / "emulator"))
    done = subprocess.run(
        [sys.executable, "-m", "cartesia_emulator", "--port", "0"],
        capture_output=True,
        env=env,
        timeout=30,
        check=False,
    )
    assert done.returncode == 2
    assert b"--api-key" in done.stderr
