"""Cartesia's official Python SDK (4.x, sync client) against the emulator, over wss/https.

The SDK runs unchanged in a worker thread; only its documented knobs point it
here: ``base_url`` (the WS URL is derived from it with the scheme rewritten to
wss), an ``httpx.Client`` trusting the test CA, and ``ssl=`` passed through
``websocket_connection_options`` to ``websockets.sync.client.connect``.
"""

from __future__ import annotations

import ssl
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import cartesia
import httpx
import pytest
import trio
from cartesia import Cartesia
from cartesia.types import Voice as SdkVoice
from cartesia.types.websocket_response import Chunk, Done, Error, FlushDone, Timestamps
from websockets.exceptions import InvalidStatus

from cartesia_emulator import VOICES, Emulator, encode_pcm, synth_pcm

VOICE = "f786b574-daa5-4673-aa0c-cbe3e8534c02"
PARTS = ["Hi there! ", "Wel", "come to ", "Cartesia Son", "ic, the emulated edition."]
TEXT = "".join(PARTS)
T = TypeVar("T")
SDK_TIMEOUT = 60.0
# PY4 types voices as a bare id or {"id": ...}; the mode form still works on the wire.
MODE_ID_VOICE: Any = {"mode": "id", "id": VOICE}


class Sdk:
    """Builds SDK clients that trust the test CA, and runs blocking SDK code in a thread."""

    def __init__(self, emu: Emulator, ca_file: Path, api_key: str) -> None:
        self.emu = emu
        self.api_key = api_key
        self.trust = ssl.create_default_context(cafile=str(ca_file))

    def client(self, api_key: str | None = None) -> Cartesia:
        return Cartesia(
            api_key=api_key or self.api_key,
            base_url=self.emu.http_url,
            http_client=httpx.Client(verify=self.trust),
            max_retries=0,
            # Validate every response against the SDK's own models, not lazily.
            _strict_response_validation=True,
        )

    def ws_options(self) -> Any:
        return {"ssl": self.trust}

    async def run(self, fn: Callable[[], T]) -> T:
        # Abandon a hung SDK call so the test fails instead of blocking the run;
        # tearing down the emulator then breaks the thread's sockets.
        with trio.fail_after(SDK_TIMEOUT):
            return await trio.to_thread.run_sync(fn, abandon_on_cancel=True)


@pytest.fixture
def sdk(tls_emulator: Emulator, ca_file: Path, api_key: str) -> Sdk:
    return Sdk(tls_emulator, ca_file, api_key)


# -- WebSocket --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("encoding", "rate"),
    [("pcm_s16le", 24000), ("pcm_f32le", 44100), ("pcm_mulaw", 8000), ("pcm_alaw", 16000)],
)
async def test_websocket_context_pushes(sdk: Sdk, encoding: str, rate: int) -> None:
    def speak() -> tuple[bytes, list[str]]:
        client = sdk.client()
        with client.tts.websocket_connect(websocket_connection_options=sdk.ws_options()) as conn:
            ctx = conn.context(
                model_id="sonic-3.5",
                voice=MODE_ID_VOICE,
                output_format={"container": "raw", "encoding": encoding, "sample_rate": rate},
            )
            for part in PARTS:
                ctx.push(part)
            ctx.no_more_inputs()
            events = list(ctx.receive())
        audio = b"".join(e.audio or b"" for e in events if isinstance(e, Chunk))
        return audio, [e.type for e in events]

    audio, types = await sdk.run(speak)
    assert audio == encode_pcm(synth_pcm(TEXT, rate), encoding)
    assert types[-1] == "done"
    assert set(types[:-1]) == {"chunk"}
    (handshake,) = sdk.emu.handshakes
    assert handshake.status == 101
    assert handshake.headers["authorization"] == f"Bearer {sdk.api_key}"
    assert handshake.headers["cartesia-version"] == "2026-08-14"
    sent = [r.msg for r in sdk.emu.received]
    assert [m["transcript"] for m in sent] == [*PARTS, ""]
    assert [m["continue"] for m in sent] == [True] * len(PARTS) + [False]


@pytest.mark.parametrize("voice", [VOICE, {"id": VOICE}])
async def test_websocket_sdk_defaults_and_voice_shapes(sdk: Sdk, voice: Any) -> None:
    def speak() -> bytes:
        client = sdk.client()
        with client.tts.websocket_connect(websocket_connection_options=sdk.ws_options()) as conn:
            ctx = conn.context(voice=voice)  # sonic-latest, raw pcm_f32le 44100 by default
            ctx.push("Defaults ")
            ctx.push("everywhere.")
            ctx.no_more_inputs()
            return b"".join(e.audio or b"" for e in ctx.receive() if isinstance(e, Chunk))

    audio = await sdk.run(speak)
    assert audio == encode_pcm(synth_pcm("Defaults everywhere.", 44100), "pcm_f32le")


async def test_websocket_flush_and_timestamps(sdk: Sdk) -> None:
    def speak() -> list[Any]:
        client = sdk.client()
        with client.tts.websocket_connect(websocket_connection_options=sdk.ws_options()) as conn:
            ctx = conn.context(
                model_id="sonic-3",
                voice=MODE_ID_VOICE,
                output_format={"container": "raw", "encoding": "pcm_s16le", "sample_rate": 24000},
                add_timestamps=True,
            )
            ctx.push("Hello wor")
            ctx.push("", flush=True)
            ctx.push("ld again.")
            ctx.no_more_inputs()
            return list(ctx.receive())

    events = await sdk.run(speak)
    flushes = [e for e in events if isinstance(e, FlushDone)]
    assert [(f.flush_id, f.flush_done) for f in flushes] == [(1, True)]
    cut = events.index(flushes[0])
    before = b"".join(e.audio or b"" for e in events[:cut] if isinstance(e, Chunk))
    after = b"".join(e.audio or b"" for e in events[cut:] if isinstance(e, Chunk))
    assert before == synth_pcm("Hello wor")
    assert after == synth_pcm("ld again.")
    assert {e.flush_id for e in events[cut:] if isinstance(e, Chunk)} == {2}
    words = [
        w
        for e in events
        if isinstance(e, Timestamps) and e.word_timestamps
        for w in e.word_timestamps.words
    ]
    assert words == ["Hello", "wor", "ld", "again."]
    assert isinstance(events[-1], Done)


async def test_websocket_concurrent_contexts(sdk: Sdk) -> None:
    texts = {"first": "The first context speaks. ", "second": "And the second one too."}

    def speak() -> dict[str, bytes]:
        client = sdk.client()
        fmt = {"container": "raw", "encoding": "pcm_s16le", "sample_rate": 16000}
        with client.tts.websocket_connect(websocket_connection_options=sdk.ws_options()) as conn:
            ctxs = {
                cid: conn.context(cid, voice=VOICE, model_id="sonic-3", output_format=fmt)
                for cid in texts
            }
            for cid, text in texts.items():
                for word in text.split(" "):
                    ctxs[cid].push(word + " ")
            for ctx in ctxs.values():
                ctx.no_more_inputs()
            # Read the second first: the sync SDK routes the first's events to its queue.
            return {
                cid: b"".join(e.audio or b"" for e in ctxs[cid].receive() if isinstance(e, Chunk))
                for cid in reversed(texts)
            }

    audio = await sdk.run(speak)
    assert audio == {cid: synth_pcm(text, 16000) for cid, text in texts.items()}


async def test_websocket_error_event(sdk: Sdk) -> None:
    def speak() -> list[Any]:
        client = sdk.client()
        with client.tts.websocket_connect(websocket_connection_options=sdk.ws_options()) as conn:
            ctx = conn.context(model_id="sonic-99", voice=VOICE)
            ctx.push("Hello")
            return list(ctx.receive())

    (event,) = await sdk.run(speak)
    assert isinstance(event, Error)
    assert (event.status_code, event.error_code, event.done) == (400, "model_not_found", True)
    assert event.error.startswith("Invalid model: ")


async def test_websocket_sunset_model_and_unknown_voice(sdk: Sdk) -> None:
    def speak() -> tuple[list[Any], list[Any]]:
        client = sdk.client()
        with client.tts.websocket_connect(websocket_connection_options=sdk.ws_options()) as conn:
            sunset = conn.context(model_id="sonic-2", voice=VOICE)
            sunset.push("Hello")
            first = list(sunset.receive())
            nobody = conn.context(
                model_id="sonic-3.6", voice="00000000-0000-0000-0000-000000000000"
            )
            nobody.push("Hello")
            return first, list(nobody.receive())

    (sunset,), (nobody,) = await sdk.run(speak)
    assert isinstance(sunset, Error) and isinstance(nobody, Error)
    assert (sunset.status_code, sunset.error_code) == (400, "model_sunsetted")
    assert (
        sunset.error
        == "Model sunsetted: The requested model has been sunsetted and is no longer available."
    )
    assert (nobody.status_code, nobody.error_code) == (404, "voice_not_found")


async def test_websocket_cancel_then_new_context(sdk: Sdk) -> None:
    def speak() -> tuple[list[Chunk], str, str]:
        client = sdk.client()
        with client.tts.websocket_connect(websocket_connection_options=sdk.ws_options()) as conn:
            doomed = conn.context(voice=VOICE)
            doomed.push("This will be cut short. " * 20)
            doomed.cancel()
            ctx = conn.context(voice=VOICE)
            ctx.push("Next turn.")
            ctx.no_more_inputs()
            chunks = [e for e in ctx.receive() if isinstance(e, Chunk)]
            return chunks, doomed._context_id, ctx._context_id

    sdk.emu.faults.chunk_delay = 0.002
    chunks, doomed, ctx = await sdk.run(speak)
    # A chunk of the cancelled context may already be on the wire (a cancel stops what
    # has not begun, notes §3.4), and the sync SDK hands frames of unregistered
    # contexts to whichever context is reading: so only the context ids tell them apart.
    mine = b"".join(c.audio or b"" for c in chunks if c.context_id == ctx)
    assert mine == encode_pcm(synth_pcm("Next turn.", 44100), "pcm_f32le")
    assert {c.context_id for c in chunks} <= {ctx, doomed}
    assert any(r.msg.get("cancel") is True for r in sdk.emu.received)


async def test_websocket_v2_compatible_send(sdk: Sdk) -> None:
    def speak() -> bytes | None:
        ws = sdk.client().tts.websocket(websocket_connection_options=sdk.ws_options())
        try:
            out = ws.send(
                model_id="sonic-3",
                transcript="Backwards compatible.",
                voice=MODE_ID_VOICE,
                output_format={"container": "raw", "encoding": "pcm_s16le", "sample_rate": 22050},
                stream=False,
            )
        finally:
            ws.close()
        return out.audio  # type: ignore[union-attr]

    assert await sdk.run(speak) == synth_pcm("Backwards compatible.", 22050)


async def test_websocket_rejected_handshake(sdk: Sdk) -> None:
    def connect() -> None:
        client = sdk.client(api_key="sk_car_wrong")
        with client.tts.websocket_connect(websocket_connection_options=sdk.ws_options()):
            pass

    with pytest.raises(InvalidStatus) as info:
        await sdk.run(connect)
    assert info.value.response.status_code == 401


# -- REST -------------------------------------------------------------------------------


@pytest.mark.parametrize("container", ["raw", "wav"])
async def test_tts_bytes(sdk: Sdk, container: str) -> None:
    fmt = {"container": container, "encoding": "pcm_s16le", "sample_rate": 24000}

    def fetch() -> tuple[bytes, bytes]:
        client = sdk.client()
        with pytest.deprecated_call():
            old = b"".join(
                client.tts.bytes(
                    model_id="sonic-3",
                    transcript=TEXT,
                    voice=MODE_ID_VOICE,
                    output_format=fmt,  # type: ignore[arg-type]
                )
            )
        new = client.tts.generate(
            model_id="sonic-3",
            transcript=TEXT,
            voice=VOICE,
            output_format=fmt,  # type: ignore[arg-type]
            language="en",
        ).read()
        return old, new

    old, new = await sdk.run(fetch)
    audio = synth_pcm(TEXT)
    assert old == new
    if container == "raw":
        assert new == audio
    else:
        assert new[:4] == b"RIFF"
        assert new[8:12] == b"WAVE"
        assert new[44:] == audio


async def test_voices_list_auto_paging(sdk: Sdk) -> None:
    def listing() -> tuple[list[SdkVoice], SdkVoice]:
        client = sdk.client()
        voices = list(client.voices.list(limit=4))
        return voices, client.voices.get(VOICES[2].id)

    voices, one = await sdk.run(listing)
    assert [v.id for v in voices] == [v.id for v in VOICES]
    assert all(isinstance(v, SdkVoice) for v in voices)
    assert one.id == VOICES[2].id
    assert one.name == VOICES[2].name
    assert sdk.emu.handshakes == []  # REST never shows up as a WS handshake


async def test_rest_errors_map_to_sdk_exceptions(sdk: Sdk) -> None:
    def bad_key() -> None:
        sdk.client(api_key="sk_car_wrong").voices.list()

    def bad_model() -> None:
        sdk.client().tts.generate(
            model_id="sonic-99",
            transcript="Hi",
            voice=VOICE,
            output_format={"container": "raw", "encoding": "pcm_s16le", "sample_rate": 8000},
        )

    def generate(**change: Any) -> None:
        sdk.client().tts.generate(
            **(
                {
                    "model_id": "sonic-3",
                    "transcript": "Hi",
                    "voice": VOICE,
                    "output_format": {
                        "container": "raw",
                        "encoding": "pcm_s16le",
                        "sample_rate": 8000,
                    },
                }
                | change
            )
        )

    with pytest.raises(cartesia.AuthenticationError):
        await sdk.run(bad_key)
    with pytest.raises(cartesia.BadRequestError) as info:
        await sdk.run(bad_model)
    assert info.value.body["error_code"] == "model_not_found"  # type: ignore[index]
    with pytest.raises(cartesia.BadRequestError) as info:
        await sdk.run(lambda: generate(model_id="sonic-english"))
    assert info.value.body["error_code"] == "model_sunsetted"  # type: ignore[index]
    with pytest.raises(cartesia.NotFoundError) as missing:
        await sdk.run(lambda: generate(voice="00000000-0000-0000-0000-000000000000"))
    assert missing.value.body["error_code"] == "voice_not_found"  # type: ignore[index]
    with pytest.raises(cartesia.NotFoundError):
        await sdk.run(lambda: sdk.client().voices.get("00000000-0000-0000-0000-000000000000"))
    with pytest.raises(cartesia.NotFoundError) as gone:
        await sdk.run(lambda: sdk.client().post("/voices/mix", body={"voices": []}, cast_to=object))
    assert "discontinued on 2026-06-01" in gone.value.body["message"]  # type: ignore[index]


async def test_status_endpoint(sdk: Sdk) -> None:
    status = await sdk.run(lambda: sdk.client().get_status())
    assert status.ok is True
    assert status.version == "2026-08-14"
