"""Cartesia-Version handling and the error shape of every path: the WS handshake, WS
error frames and REST, per version (structured JSON from 2026-03-01, "Title: Message"
before; unknown and missing versions get the text, having no shape of their own)."""

from __future__ import annotations

import json

import httpx
import pytest
from trio_websocket import ConnectionRejected, open_websocket

from cartesia_emulator import LATEST, VERSIONS, Emulator, synth_pcm
from test_emulator_ws import audio_of, connect, gen, recv, send, until_end

KEY = "sk_car_test"
STRUCTURED_KEYS = {"error_code", "title", "message", "request_id"}


def test_the_served_versions() -> None:
    assert VERSIONS == (
        "2024-06-10",
        "2024-11-13",
        "2025-04-16",
        "2025-11-04",
        "2026-03-01",
        "2026-08-14",
    )
    assert LATEST == "2026-08-14"


@pytest.mark.parametrize("version", VERSIONS)
async def test_every_served_version_speaks(emulator: Emulator, version: str) -> None:
    async with connect(emulator, version=version) as ws:
        await send(ws, gen("c", "Hello there.", more=False))
        msgs = (await until_end(ws, "c"))["c"]
    async with httpx.AsyncClient(base_url=emulator.http_url) as http:
        voices = await http.get("/voices", headers={"X-API-Key": KEY, "Cartesia-Version": version})
    assert audio_of(msgs) == synth_pcm("Hello there.")
    assert voices.status_code == 200


# A date that is no served version (not even "the newest one before it"), a draft
# version only the docs repository has, and the future.
@pytest.mark.parametrize("version", ["2025-11-05", "2025-04-10", "2026-12-01", "2099-01-01"])
async def test_unknown_version_is_404_api_version_not_found(
    emulator: Emulator, version: str
) -> None:
    with pytest.raises(ConnectionRejected) as info:
        async with connect(emulator, version=version):
            pass
    async with httpx.AsyncClient(base_url=emulator.http_url) as http:
        rest = await http.get("/voices", headers={"X-API-Key": KEY, "Cartesia-Version": version})
    text = "API version not found: No API schema exists for the requested Cartesia-Version."
    assert info.value.status_code == rest.status_code == 404
    assert info.value.body == rest.content == text.encode()
    assert rest.headers["content-type"].startswith("text/plain")
    assert emulator.connections_opened == 0


async def test_missing_version_is_400_in_text(emulator: Emulator) -> None:
    with pytest.raises(ConnectionRejected) as info:
        async with connect(emulator, version=None):
            pass
    async with httpx.AsyncClient(base_url=emulator.http_url) as http:
        rest = await http.get("/voices", headers={"X-API-Key": KEY})
    text = b"Missing Cartesia-Version: Cartesia-Version header is required in YYYY-MM-DD form."
    assert info.value.status_code == rest.status_code == 400
    assert info.value.body == rest.content == text


@pytest.mark.parametrize("version", ["latest", "2026-8-14", "20260814"])
async def test_malformed_version_is_400(emulator: Emulator, version: str) -> None:
    with pytest.raises(ConnectionRejected) as info:
        async with connect(emulator, query={"cartesia_version": version}):
            pass
    assert info.value.status_code == 400
    assert info.value.body is not None
    assert info.value.body.startswith(b"Invalid Cartesia-Version: ")


# -- the error shape on every path --------------------------------------------------------


@pytest.mark.parametrize("version", VERSIONS)
async def test_handshake_rejection_in_the_versions_shape(emulator: Emulator, version: str) -> None:
    with pytest.raises(ConnectionRejected) as info:
        async with connect(emulator, version=version, key="sk_car_wrong"):
            pass
    assert info.value.status_code == 401
    body = info.value.body
    assert body is not None
    headers = dict(info.value.headers or [])
    if version >= "2026-03-01":
        assert headers[b"content-type"] == b"application/json"
        error = json.loads(body)
        assert set(error) == STRUCTURED_KEYS
        assert (error["error_code"], error["title"]) == ("unauthorized", "Unauthorized")
    else:
        assert headers[b"content-type"].startswith(b"text/plain")
        assert body == b"Unauthorized: Invalid or missing API key."


async def test_handshake_on_a_wrong_path_in_the_versions_shape(emulator: Emulator) -> None:
    extra = [(b"X-API-Key", KEY.encode()), (b"Cartesia-Version", b"2026-08-14")]
    with pytest.raises(ConnectionRejected) as info:
        async with open_websocket(
            "127.0.0.1", emulator.port, "/tts/ws", use_ssl=False, extra_headers=extra
        ):
            pass
    assert info.value.status_code == 404
    assert info.value.body is not None
    assert json.loads(info.value.body)["message"] == "The path /tts/ws was not found."


@pytest.mark.parametrize("version", VERSIONS)
async def test_ws_error_frames_in_the_versions_shape(emulator: Emulator, version: str) -> None:
    async with connect(emulator, version=version) as ws:
        await send(ws, gen("c", "Hello", model_id="sonic-99"))
        with_context = await recv(ws)
        await ws.send_message("[not an object]")
        without_context = await recv(ws)
    for msg in (with_context, without_context):
        assert (msg["type"], msg["done"], msg["status_code"]) == ("error", True, 400)
        if version >= "2026-03-01":
            assert set(msg) >= STRUCTURED_KEYS and "error" not in msg
        else:
            assert "error" in msg and not STRUCTURED_KEYS & set(msg)
    assert with_context["context_id"] == "c" and "context_id" not in without_context
    if version >= "2026-03-01":
        assert with_context["error_code"] == "model_not_found"
        assert str(with_context["request_id"]).count(":c:") == 1  # <uuid>:<context>:<uuid>
    else:
        assert with_context["error"] == (
            "Invalid model: The model is not valid, make sure it is a valid model ID."
        )


@pytest.mark.parametrize("version", VERSIONS)
async def test_rest_errors_in_the_versions_shape(emulator: Emulator, version: str) -> None:
    headers = {"X-API-Key": KEY, "Cartesia-Version": version}
    async with httpx.AsyncClient(base_url=emulator.http_url, headers=headers) as http:
        replies = [
            await http.post("/tts/bytes", json={"transcript": "x"}),  # 400
            await http.get("/voices/nobody"),  # 404
            await http.get("/tts/bytes"),  # 405
        ]
        emulator.faults.reject_status = 429
        replies.append(await http.get("/voices"))
    assert [r.status_code for r in replies] == [400, 404, 405, 429]
    for reply in replies:
        if version >= "2026-03-01":
            assert reply.headers["content-type"] == "application/json"
            assert set(reply.json()) == STRUCTURED_KEYS
        else:
            assert reply.headers["content-type"].startswith("text/plain")
            title, sep, message = reply.text.partition(": ")
            assert sep and title and message


async def test_status_endpoint_needs_no_key(emulator: Emulator) -> None:
    async with httpx.AsyncClient(base_url=emulator.http_url) as http:
        reply = await http.get("/", headers={"Cartesia-Version": "2026-03-01"})
    assert reply.json() == {"ok": True, "version": "2026-03-01"}
