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
        {"voice": {"mode": "id", "id": "nope"}},
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


async def test_get_voice(client: httpx.AsyncClient) -> None:
    voice = (await client.get(f"/voices/{VOICE}")).json()
    assert voice["id"] == VOICE
    assert "embedding" not in voice
    assert (await client.get("/voices/not-a-voice")).status_code == 404
    old = (await client.get(f"/voices/{VOICE}", headers={"Cartesia-Version": "2025-04-16"})).json()
    assert old["embedding"] == list(VOICES[0].embedding)
    assert len(old["embedding"]) == 192


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
        assert reply.content == synth_pcm(TEXT)
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
