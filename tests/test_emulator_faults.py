"""The hostile-server faults: a deeply nested frame, a context that hangs while the socket
answers pings, a flood of audio, ``done`` before any audio, and errors echoing the API key."""

from __future__ import annotations

import base64
import json

import httpx
import pytest
import trio
from trio_websocket import ConnectionClosed, ConnectionRejected

from cartesia_emulator import DEEP_FRAME_DEPTH, Emulator, encode_pcm, synth_pcm
from test_emulator_ws import audio_of, close_of, connect, gen, recv, send, until_end

KEY = "sk_car_test"
TEXT = "Hello there, welcome to the emulator. How are you today?"
Msg = dict[str, object]


async def test_deep_frame_after_the_first_chunk(emulator: Emulator) -> None:
    emulator.faults.deep_frame_after_chunks = 1
    emulator.faults.chunk_samples = 1000
    async with connect(emulator) as ws:
        await send(ws, gen("c", TEXT, more=False))
        raw = [await ws.get_message() for _ in range(2)]
        rest = (await until_end(ws, "c"))["c"]
    first = json.loads(raw[0])
    deep = str(raw[1])
    assert first["type"] == "chunk"
    assert DEEP_FRAME_DEPTH == 1000
    assert 2000 < len(deep) < 2200  # about 2 KB
    assert deep.startswith('{"type": "chunk", "done": false, "status_code": 206, "context_id": "c"')
    assert deep.endswith('"data": ' + "[" * 1000 + "]" * 1000 + "}")
    # Well-formed JSON (a parser with no depth limit reads it), once, then the rest as usual.
    assert all("[[" not in json.dumps(m) for m in rest)
    assert audio_of([first, *rest]) == synth_pcm(TEXT)
    assert rest[-1]["type"] == "done"


async def test_deep_frame_before_any_chunk_and_deeper(emulator: Emulator) -> None:
    emulator.faults.deep_frame_after_chunks = 0
    emulator.faults.deep_frame_depth = 5000
    async with connect(emulator) as ws:
        await send(ws, gen("c", "Hi.", more=False))
        deep = str(await ws.get_message())
        rest = (await until_end(ws, "c"))["c"]
    assert deep.count("[") == 5000
    assert audio_of(rest) == synth_pcm("Hi.")


async def test_hang_after_first_chunk_keeps_answering_pings(
    emulator: Emulator, autojump_clock: trio.abc.Clock
) -> None:
    emulator.faults.hang_after_chunks = 1
    emulator.faults.chunk_samples = 1000
    async with connect(emulator) as ws:
        await send(ws, gen("a", TEXT, more=False, add_timestamps=True))
        first = await recv(ws)
        with trio.move_on_after(60) as waited:
            await ws.get_message()
        assert waited.cancelled_caught  # no chunk, no timestamps, no done
        with trio.fail_after(1):
            await ws.ping()
        await send(ws, gen("b", "Another one.", more=False))  # every context hangs likewise
        second = await recv(ws)
        start = trio.current_time()
        with pytest.raises(ConnectionClosed) as info:
            await ws.get_message()
    assert (first["type"], first["context_id"]) == ("chunk", "a")
    assert (second["type"], second["context_id"]) == ("chunk", "b")
    assert close_of(info.value) == (1000, "connection idle timeout")  # only idleness ends it
    assert trio.current_time() - start == pytest.approx(300, abs=0.1)


async def test_hang_before_any_chunk(emulator: Emulator, autojump_clock: trio.abc.Clock) -> None:
    emulator.faults.hang_after_chunks = 0
    async with connect(emulator) as ws:
        await send(ws, gen("a", "Hi.", more=False))
        with trio.move_on_after(60) as waited:
            await ws.get_message()
        assert waited.cancelled_caught
        await ws.ping()
        emulator.faults.hang_after_chunks = None  # a new context is not hung
        await send(ws, gen("b", "Hi.", more=False))
        assert audio_of((await until_end(ws, "b"))["b"]) == synth_pcm("Hi.")


@pytest.mark.parametrize(("encoding", "width"), [("pcm_s16le", 2), ("pcm_mulaw", 1)])
async def test_flood_of_audio(emulator: Emulator, encoding: str, width: int) -> None:
    flood = 20_000_000  # the suite's size; the lead's robustness tests use 200 MB
    emulator.faults.flood_audio_bytes = flood
    emulator.faults.chunk_samples = 48000
    fmt = {"container": "raw", "encoding": encoding, "sample_rate": 24000}
    first, second = "Start of the runaway. ", "And after it."
    total = 0
    head = b""
    async with connect(emulator) as ws:
        await send(ws, gen("c", first, output_format=fmt, add_timestamps=True))
        await send(ws, gen("c", second, more=False, output_format=fmt, add_timestamps=True))
        with trio.fail_after(60):
            while (msg := await recv(ws))["type"] != "done":
                if msg["type"] == "chunk":
                    data = base64.b64decode(str(msg["data"]))
                    total += len(data)
                    if len(head) < 100_000:
                        head += data
                elif msg["type"] == "timestamps" and head:
                    stamps = msg["word_timestamps"]
                    assert isinstance(stamps, dict)
                    last_words = stamps["words"]
                    last_start = stamps["start"][0]
    first_audio = encode_pcm(synth_pcm(first.strip()), encoding)
    second_audio = encode_pcm(synth_pcm(second), encoding)
    assert head.startswith(first_audio)
    assert total == flood + len(second_audio)  # the flood, then the rest as usual
    assert last_words == ["And", "after", "it."]
    assert last_start == pytest.approx(flood / width / 24000)  # timestamps count the flood


async def test_flood_is_not_paced_by_chunk_delay(emulator: Emulator) -> None:
    # An hour between chunks: only an undelayed flood ends before the guard.
    emulator.faults.flood_audio_bytes = 5_000_000
    emulator.faults.chunk_delay = 3600.0
    emulator.faults.chunk_samples = 24000
    async with connect(emulator) as ws:
        await send(ws, gen("c", "Hi.", more=False))
        with trio.fail_after(60):
            msgs = (await until_end(ws, "c"))["c"]
    assert len(audio_of(msgs)) == 5_000_000
    assert sum(m["type"] == "chunk" for m in msgs) == 1 + 5_000_000 // 48000


async def test_done_before_any_audio(emulator: Emulator, autojump_clock: trio.abc.Clock) -> None:
    emulator.faults.done_before_audio = True
    async with connect(emulator) as ws:
        await send(ws, gen("c", TEXT, more=False))
        done = await recv(ws)
        late: list[Msg] = []
        with trio.move_on_after(10):
            while True:
                late.append(await recv(ws))
    assert done == {"type": "done", "done": True, "status_code": 206, "context_id": "c"}
    assert {m["type"] for m in late} == {"chunk"}  # all its audio, and no second done
    assert audio_of(late) == synth_pcm(TEXT)


# -- errors echoing the API key -----------------------------------------------------------


@pytest.mark.parametrize("version", ["2025-04-16", "2026-08-14"])
async def test_echo_api_key_in_ws_error_frames(emulator: Emulator, version: str) -> None:
    emulator.faults.echo_api_key = True
    emulator.faults.error_after_chunks = (1, 500, "synthetic failure")
    async with connect(emulator, version=version) as ws:
        await send(ws, gen("c", TEXT, more=False))
        failed = (await until_end(ws, "c"))["c"][-1]
        await send(ws, gen("d", "Hi", model_id="nope"))
        invalid = await recv(ws)
    for err in (failed, invalid):
        text = str(err["message"] if version >= "2026-03-01" else err["error"])
        assert text.endswith(f"(request made with API key {KEY})")
    assert "synthetic failure" in str(failed.get("message", failed.get("error")))


@pytest.mark.parametrize("version", ["2025-04-16", "2026-08-14"])
async def test_echo_api_key_in_rejected_handshakes(emulator: Emulator, version: str) -> None:
    emulator.faults.echo_api_key = True
    with pytest.raises(ConnectionRejected) as wrong:
        async with connect(emulator, version=version, key="sk_car_someone_elses"):
            pass
    emulator.faults.reject_status = 503
    with pytest.raises(ConnectionRejected) as busy:
        async with connect(emulator, version=version):
            pass
    assert wrong.value.body is not None and busy.value.body is not None
    assert b"(request made with API key sk_car_someone_elses)" in wrong.value.body
    assert f"(request made with API key {KEY})".encode() in busy.value.body


async def test_echo_api_key_in_rest_errors(emulator: Emulator) -> None:
    emulator.faults.echo_api_key = True
    headers = {"Authorization": f"Bearer {KEY}", "Cartesia-Version": "2026-08-14"}
    async with httpx.AsyncClient(base_url=emulator.http_url, headers=headers) as http:
        bad = await http.post("/tts/bytes", json={"transcript": "x"})
        ok = await http.get("/voices")
        old = await http.get("/voices/nobody", headers={"Cartesia-Version": "2024-11-13"})
    assert bad.status_code == 400
    assert bad.json()["message"].endswith(f"(request made with API key {KEY})")
    assert old.text.endswith(f"(request made with API key {KEY})")
    assert ok.status_code == 200 and KEY not in ok.text
