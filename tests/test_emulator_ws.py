"""The emulator's /tts/websocket, driven by a raw trio-websocket client."""

from __future__ import annotations

import base64
import itertools
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from urllib.parse import urlencode

import pytest
import trio
import trio_websocket
from hypothesis import given
from hypothesis import strategies as st
from trio_websocket import ConnectionClosed, ConnectionRejected, open_websocket

from cartesia_emulator import (
    Emulator,
    Faults,
    encode_pcm,
    synth_pcm,
    tone_samples,
    word_pcm,
)
from cartesia_emulator.audio import split_complete

KEY = "sk_car_test"
VOICE = "a0e99841-438c-4a64-b679-ae501e7d6091"
OTHER_VOICE = "f786b574-daa5-4673-aa0c-cbe3e8534c02"
RAW = {"container": "raw", "encoding": "pcm_s16le", "sample_rate": 24000}
NEW = "2026-08-14"  # structured errors (>= 2026-03-01)
OLD = "2024-11-13"  # legacy errors
TEXT = "Hello there, welcome to the emulator. How are you today?"
Msg = dict[str, object]


@asynccontextmanager
async def connect(
    emu: Emulator,
    *,
    version: str | None = NEW,
    key: str | None = KEY,
    query: dict[str, str] | None = None,
    headers: list[tuple[bytes, bytes]] | None = None,
) -> AsyncIterator[trio_websocket.WebSocketConnection]:
    extra = list(headers or [])
    if key is not None:
        extra.append((b"X-API-Key", key.encode()))
    if version is not None:
        extra.append((b"Cartesia-Version", version.encode()))
    resource = "/tts/websocket" + ("?" + urlencode(query) if query else "")
    async with open_websocket(
        "127.0.0.1", emu.port, resource, use_ssl=False, extra_headers=extra
    ) as ws:
        yield ws


def gen(cid: str, transcript: str, *, more: bool = True, **extra: object) -> Msg:
    msg: Msg = {
        "context_id": cid,
        "model_id": "sonic-3",
        "transcript": transcript,
        "voice": {"mode": "id", "id": VOICE},
        "output_format": RAW,
        "continue": more,
    }
    return msg | extra


async def send(ws: trio_websocket.WebSocketConnection, *msgs: Msg) -> None:
    for msg in msgs:
        await ws.send_message(json.dumps(msg))


async def recv(ws: trio_websocket.WebSocketConnection) -> Msg:
    msg = json.loads(await ws.get_message())
    assert isinstance(msg, dict)
    return msg


async def until_end(ws: trio_websocket.WebSocketConnection, *cids: str) -> dict[str, list[Msg]]:
    """Read until every context in ``cids`` got done or error; return messages per context."""
    got: dict[str, list[Msg]] = {cid: [] for cid in cids}
    open_ = set(cids)
    while open_:
        msg = await recv(ws)
        cid = msg.get("context_id")
        assert isinstance(cid, str), msg
        got.setdefault(cid, []).append(msg)
        if msg["type"] in ("done", "error"):
            open_.discard(cid)
    return got


def close_of(exc: ConnectionClosed) -> tuple[int, str | None]:
    assert exc.reason is not None
    return exc.reason.code, exc.reason.reason


def audio_of(msgs: list[Msg]) -> bytes:
    return b"".join(base64.b64decode(str(m["data"])) for m in msgs if m["type"] == "chunk")


# -- audio, tokenising ------------------------------------------------------------------


def test_synth_is_word_concatenation_and_never_zero() -> None:
    pcm = synth_pcm(TEXT, 16000)
    assert pcm == b"".join(word_pcm(w, 16000) for w in TEXT.split())
    samples = memoryview(pcm).cast("h")
    assert 0 not in samples
    assert max(samples) > 5000  # a real tone, not noise
    assert len(word_pcm("Hello", 24000)) // 2 > tone_samples("Hello", 24000)


@given(st.text(alphabet="ab .!\n", max_size=40), st.lists(st.integers(0, 40), max_size=6))
def test_any_split_of_the_text_yields_its_words(text: str, cuts: list[int]) -> None:
    points = sorted({min(c, len(text)) for c in cuts})
    parts = [text[a:b] for a, b in zip([0, *points], [*points, len(text)], strict=True)]
    words: list[str] = []
    pending = ""
    for part in parts:
        done, pending = split_complete(pending + part, final=False)
        words += done
    words += split_complete(pending, final=True)[0]
    assert words == text.split()


# -- generation -------------------------------------------------------------------------


async def test_one_shot_context(emulator: Emulator) -> None:
    async with connect(emulator) as ws:
        await send(ws, gen("c1", TEXT, more=False))
        msgs = (await until_end(ws, "c1"))["c1"]
    assert audio_of(msgs) == synth_pcm(TEXT)
    assert [m["type"] for m in msgs][-1] == "done"
    assert sum(m["type"] == "done" for m in msgs) == 1
    for m in msgs[:-1]:
        assert m["type"] == "chunk"
        assert m["done"] is False
        assert m["status_code"] == 206
        assert isinstance(m["step_time"], float)
        assert "flush_id" not in m
    assert msgs[-1] == {"type": "done", "done": True, "status_code": 206, "context_id": "c1"}


async def test_continuations_split_mid_word_equal_synth(emulator: Emulator) -> None:
    parts = ["Hel", "lo there, wel", "come", " to the emu", "lator. How are", " you today?"]
    async with connect(emulator) as ws:
        await send(ws, *(gen("c", p) for p in parts), gen("c", "", more=False))
        msgs = (await until_end(ws, "c"))["c"]
    assert audio_of(msgs) == synth_pcm("".join(parts))
    assert msgs[-1]["type"] == "done"


async def test_audio_streams_as_soon_as_words_complete(emulator: Emulator) -> None:
    async with connect(emulator) as ws:
        await send(ws, gen("c", "Hello wor"))
        hello = word_pcm("Hello", 24000)
        audio = b""
        while len(audio) < len(hello):
            audio += audio_of([await recv(ws)])
        assert audio == hello
        await send(ws, gen("c", "ld", more=False))
        rest = (await until_end(ws, "c"))["c"]
    assert audio_of(rest) == word_pcm("world", 24000)


@pytest.mark.parametrize("encoding", ["pcm_s16le", "pcm_f32le", "pcm_mulaw", "pcm_alaw"])
@pytest.mark.parametrize("rate", [8000, 16000, 22050, 24000, 44100, 48000])
async def test_encodings_and_rates(emulator: Emulator, encoding: str, rate: int) -> None:
    fmt = {"container": "raw", "encoding": encoding, "sample_rate": rate}
    async with connect(emulator) as ws:
        await send(ws, gen("c", "Testing one two.", more=False, output_format=fmt))
        msgs = (await until_end(ws, "c"))["c"]
    assert audio_of(msgs) == encode_pcm(synth_pcm("Testing one two.", rate), encoding)


async def test_chunks_hold_at_most_chunk_samples(emulator: Emulator) -> None:
    emulator.faults.chunk_samples = 300
    async with connect(emulator) as ws:
        await send(ws, gen("c", TEXT, more=False))
        msgs = (await until_end(ws, "c"))["c"]
    sizes = [len(base64.b64decode(str(m["data"]))) for m in msgs if m["type"] == "chunk"]
    assert max(sizes) == 600
    assert len(sizes) >= len(synth_pcm(TEXT)) // 600


async def test_interleaved_contexts(emulator: Emulator, autojump_clock: trio.abc.Clock) -> None:
    emulator.faults.chunk_delay = 0.01
    emulator.faults.chunk_samples = 512
    texts = {"a": "One small step for a man.", "b": "Giant leaps for mankind, they say."}
    async with connect(emulator) as ws:
        await send(ws, gen("a", "One small "), gen("b", "Giant leaps for "))
        await send(ws, gen("a", "step for a man.", more=False))
        await send(ws, gen("b", "mankind, they say.", more=False))
        order: list[str] = []
        got: dict[str, list[Msg]] = {"a": [], "b": []}
        while any(not m or m[-1]["type"] != "done" for m in got.values()):
            msg = await recv(ws)
            order.append(str(msg["context_id"]))
            got[str(msg["context_id"])].append(msg)
    for cid, text in texts.items():
        assert audio_of(got[cid]) == synth_pcm(text)
    switches = sum(x != y for x, y in itertools.pairwise(order))
    assert switches > 2  # the contexts really interleaved


async def test_flush_completes_pending_word_and_numbers_flushes(emulator: Emulator) -> None:
    async with connect(emulator) as ws:
        await send(ws, gen("c", "Hello wor"), gen("c", "", flush=True))
        await send(ws, gen("c", "ld again"), gen("c", "", flush=True))
        await send(ws, gen("c", " and done", more=False))
        msgs = (await until_end(ws, "c"))["c"]
    flushes = [m for m in msgs if m["type"] == "flush_done"]
    assert [(f["flush_id"], f["flush_done"], f["done"]) for f in flushes] == [
        (1, True, False),
        (2, True, False),
    ]
    first = msgs.index(flushes[0])
    second = msgs.index(flushes[1])
    assert all("flush_id" not in m for m in msgs[:first])
    assert audio_of(msgs[:first]) == synth_pcm("Hello wor")
    assert {m.get("flush_id") for m in msgs[first + 1 : second]} == {2}
    assert audio_of(msgs[first:second]) == synth_pcm("ld again")
    assert {m.get("flush_id") for m in msgs[second + 1 : -1]} == {3}
    assert audio_of(msgs[second:]) == synth_pcm("and done")


async def test_word_timestamps(emulator: Emulator) -> None:
    async with connect(emulator) as ws:
        await send(ws, gen("c", "Hello there, ", add_timestamps=True))
        await send(ws, gen("c", "general Kenobi!", more=False, add_timestamps=True))
        msgs = (await until_end(ws, "c"))["c"]
    stamps = [m for m in msgs if m["type"] == "timestamps"]
    assert len(stamps) == 2
    assert msgs[0]["type"] == "chunk"  # timestamps follow the chunks holding the words
    words: list[str] = []
    starts: list[float] = []
    ends: list[float] = []
    for m in stamps:
        wt = m["word_timestamps"]
        assert isinstance(wt, dict)
        words += wt["words"]
        starts += wt["start"]
        ends += wt["end"]
    assert words == ["Hello", "there,", "general", "Kenobi!"]
    offset = 0
    for word, start, end in zip(words, starts, ends, strict=True):
        assert start == pytest.approx(offset / 24000)
        assert end == pytest.approx((offset + tone_samples(word, 24000)) / 24000)
        offset += len(word_pcm(word, 24000)) // 2
    assert starts == sorted(starts)


async def test_phoneme_timestamps_when_asked(emulator: Emulator) -> None:
    async with connect(emulator) as ws:
        await send(ws, gen("c", "Hi you", more=False, add_phoneme_timestamps=True))
        msgs = (await until_end(ws, "c"))["c"]
    (ph,) = [m for m in msgs if m["type"] == "phoneme_timestamps"]
    assert ph["phoneme_timestamps"]["phonemes"] == list("Hiyou")  # type: ignore[index]
    assert not [m for m in msgs if m["type"] == "timestamps"]


async def test_extra_fields_and_voice_shapes_are_accepted(emulator: Emulator) -> None:
    extras: Msg = {
        "stream": True,
        "language": None,
        "max_buffer_delay_ms": 0,
        "use_normalized_timestamps": False,
        "generation_config": {"speed": 1.1, "emotion": "happy"},
        "some_future_field": [1, 2],
    }
    voices: list[object] = [VOICE, {"id": VOICE}, {"mode": "id", "id": VOICE}]
    async with connect(emulator, version=NEW) as ws:
        for i, voice in enumerate(voices):
            await send(ws, gen(f"v{i}", "Hi.", more=False, voice=voice, **extras))
        got = await until_end(ws, *(f"v{i}" for i in range(len(voices))))
    assert all(msgs[-1]["type"] == "done" for msgs in got.values())


async def test_empty_close_with_unrelated_fields_is_not_validated(emulator: Emulator) -> None:
    # PY2 closed contexts with sonic-2, an embedding voice and f32 44.1k: all three
    # refused today if they were validated (sunset model, no embeddings).
    py2_close = gen(
        "c",
        "",
        more=False,
        model_id="sonic-2",
        voice={"mode": "embedding", "embedding": [1.0] * 192},
        output_format={"container": "raw", "encoding": "pcm_f32le", "sample_rate": 44100},
    )
    async with connect(emulator, version=NEW) as ws:
        await send(ws, gen("c", "Hello"), py2_close)
        msgs = (await until_end(ws, "c"))["c"]
    assert audio_of(msgs) == synth_pcm("Hello")


async def test_livekit_style_space_close(emulator: Emulator) -> None:
    async with connect(emulator) as ws:
        await send(ws, gen("c", "Hello there. "), gen("c", " ", more=False))
        msgs = (await until_end(ws, "c"))["c"]
    assert audio_of(msgs) == synth_pcm("Hello there.")
    assert msgs[-1]["type"] == "done"


async def test_a_finished_context_id_can_start_again(emulator: Emulator) -> None:
    async with connect(emulator) as ws:
        await send(ws, gen("c", "One.", more=False))
        await until_end(ws, "c")
        await send(ws, gen("c", "Two.", more=False))
        msgs = (await until_end(ws, "c"))["c"]
    assert audio_of(msgs) == synth_pcm("Two.")


# -- cancel -----------------------------------------------------------------------------


async def test_cancel_silences_context_at_once(
    emulator: Emulator, autojump_clock: trio.abc.Clock
) -> None:
    emulator.faults.chunk_delay = 0.05
    emulator.faults.chunk_samples = 256
    async with connect(emulator) as ws:
        await send(ws, gen("c", TEXT, more=False))
        assert (await recv(ws))["type"] == "chunk"
        await send(ws, {"context_id": "c", "cancel": True})
        await send(ws, gen("c", "Ignored after cancel.", more=False))
        await send(ws, gen("next", "Next.", more=False))
        got = await until_end(ws, "next")
    late = [m for m in got.get("c", []) if m["type"] != "chunk"]
    assert late == []  # no done, no error for the cancelled context
    assert len(got.get("c", [])) <= 1  # at most the chunk already in flight
    assert audio_of(got["next"]) == synth_pcm("Next.")
    assert emulator.active_contexts == 0


async def test_cancel_can_finish_current_segment_then_done(
    emulator: Emulator, autojump_clock: trio.abc.Clock
) -> None:
    emulator.faults.cancel_finishes_current = True
    emulator.faults.chunk_delay = 0.05
    emulator.faults.chunk_samples = 256
    first, second = "The first segment is generating. ", "The second never starts."
    async with connect(emulator) as ws:
        await send(ws, gen("c", first), gen("c", second, more=False))
        head = await recv(ws)
        await send(ws, {"context_id": "c", "cancel": True})
        msgs = [head, *(await until_end(ws, "c"))["c"]]
    assert audio_of(msgs) == synth_pcm(first)
    assert msgs[-1]["type"] == "done"
    assert sum(m["type"] == "done" for m in msgs) == 1


async def test_cancel_of_unknown_context_is_ignored(emulator: Emulator) -> None:
    async with connect(emulator) as ws:
        await send(ws, {"context_id": "nope", "cancel": True}, gen("c", "Hi.", more=False))
        got = await until_end(ws, "c")
    assert list(got) == ["c"]


# -- errors -----------------------------------------------------------------------------

EMPTY_TEXT = (
    "transcript empty or contains only punctuation: "
    "first transcript for WS is empty or contains only punctuation"
)


@pytest.mark.parametrize("transcript", ["", " ", "...!", "\n"])
async def test_empty_first_transcript_legacy_error(emulator: Emulator, transcript: str) -> None:
    async with connect(emulator, version=OLD) as ws:
        await send(ws, gen("c", transcript, more=False))
        msg = await recv(ws)
    assert msg == {
        "type": "error",
        "done": True,
        "status_code": 400,
        "error": EMPTY_TEXT,
        "context_id": "c",
    }


async def test_structured_error_shape(emulator: Emulator) -> None:
    async with connect(emulator, version="2026-03-01") as ws:
        await send(ws, gen("c", "Hello", model_id="sonic-nonexistent"))
        msg = await recv(ws)
    assert msg["type"] == "error"
    assert msg["done"] is True
    assert msg["status_code"] == 400
    assert msg["error_code"] == "model_not_found"
    assert msg["title"] == "Invalid model"
    assert isinstance(msg["message"], str)
    assert isinstance(msg["request_id"], str)
    assert "c" in str(msg["request_id"])
    assert msg["context_id"] == "c"
    assert "error" not in msg


async def test_legacy_model_error_text(emulator: Emulator) -> None:
    async with connect(emulator, version=OLD) as ws:
        await send(ws, gen("c", "Hello", model_id="gpt-4"))
        msg = await recv(ws)
    assert msg["error"] == (
        "Invalid model: The model is not valid, make sure it is a valid model ID."
    )


@pytest.mark.parametrize(
    ("field", "value", "code"),
    [
        ("voice", None, "invalid_voice"),
        ("voice", {"mode": "id"}, "invalid_voice"),
        ("voice", {"mode": "embedding", "embedding": [0.5] * 192}, "invalid_voice"),
        ("output_format", {"container": "wav", "encoding": "pcm_s16le", "sample_rate": 24000},
         "invalid_output_format"),
        ("output_format", {"container": "raw", "encoding": "pcm_u8", "sample_rate": 24000},
         "invalid_output_format"),
        ("output_format", {"container": "raw", "encoding": "pcm_s16le", "sample_rate": 7000},
         "invalid_output_format"),
        ("output_format", None, "invalid_output_format"),
        ("model_id", None, "model_not_found"),
    ],
)  # fmt: skip
async def test_bad_fields_are_400(emulator: Emulator, field: str, value: object, code: str) -> None:
    async with connect(emulator, version=NEW) as ws:
        msg = gen("c", "Hello")
        msg[field] = value
        await send(ws, msg)
        msg = await recv(ws)
    assert (msg["type"], msg["status_code"], msg["error_code"]) == ("error", 400, code)


@pytest.mark.parametrize(
    "change",
    [
        {"voice": {"mode": "id", "id": OTHER_VOICE}},
        {"model_id": "sonic-3.5"},
        {"language": "fr"},
        {"output_format": {"container": "raw", "encoding": "pcm_f32le", "sample_rate": 24000}},
    ],
)
async def test_changing_fixed_fields_ends_the_context(emulator: Emulator, change: Msg) -> None:
    async with connect(emulator) as ws:
        await send(ws, gen("c", "Hello there ", language="en"))
        await send(ws, gen("c", "again.", more=False, **({"language": "en"} | change)))
        msgs = (await until_end(ws, "c"))["c"]
    assert msgs[-1]["type"] == "error"
    assert (msgs[-1]["status_code"], msgs[-1]["error_code"]) == (400, "context_closed")
    assert not [m for m in msgs if m["type"] == "done"]


async def test_input_after_close_is_an_error(
    emulator: Emulator, autojump_clock: trio.abc.Clock
) -> None:
    emulator.faults.ttfb = 1.0
    async with connect(emulator) as ws:
        await send(ws, gen("c", "Hello.", more=False), gen("c", "More?", more=False))
        msgs = (await until_end(ws, "c"))["c"]
    assert msgs[-1]["type"] == "error"
    assert msgs[-1]["error_code"] == "context_closed"


async def test_errors_without_a_context(emulator: Emulator) -> None:
    async with connect(emulator) as ws:
        await ws.send_message("this is not json")
        bad = await recv(ws)
        no_id = gen("c", "Hello")
        del no_id["context_id"]
        await send(ws, no_id)
        missing = await recv(ws)
        await send(ws, gen("c", "Still works.", more=False))
        ok = (await until_end(ws, "c"))["c"]
    assert bad["type"] == missing["type"] == "error"
    assert "context_id" not in bad
    assert "context_id" not in missing
    assert ok[-1]["type"] == "done"
    assert emulator.received[0].msg == {"_invalid": "this is not json"}


async def test_concurrency_limit(emulator: Emulator) -> None:
    emulator.faults.max_contexts = 1
    async with connect(emulator) as ws:
        await send(ws, gen("a", "Open "), gen("b", "Second one.", more=False))
        msg = (await until_end(ws, "b"))["b"][-1]
        await send(ws, gen("a", "", more=False))
        await until_end(ws, "a")
    assert (msg["context_id"], msg["status_code"], msg["error_code"]) == (
        "b",
        429,
        "concurrency_limited",
    )


# -- handshake --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "query"),
    [
        ([(b"X-API-Key", KEY.encode())], {}),
        ([(b"Authorization", f"Bearer {KEY}".encode())], {}),
        ([], {"api_key": KEY}),
        ([], {"access_token": KEY}),
    ],
)
async def test_auth_methods(
    emulator: Emulator, headers: list[tuple[bytes, bytes]], query: dict[str, str]
) -> None:
    async with connect(emulator, key=None, headers=headers, query=query) as ws:
        await send(ws, gen("c", "Hi.", more=False))
        await until_end(ws, "c")
        request_id = dict(ws.handshake_headers).get(b"x-request-id")
    assert request_id
    assert emulator.handshakes[0].status == 101


async def test_bad_key_is_401_even_when_faults_reject(emulator: Emulator) -> None:
    emulator.faults.reject_status = 429
    with pytest.raises(ConnectionRejected) as info:
        async with connect(emulator, key="sk_car_wrong"):
            pass
    assert info.value.status_code == 401
    assert info.value.body
    assert emulator.handshakes[-1].status == 401
    assert emulator.connections_opened == 0


async def test_missing_key_is_401(emulator: Emulator) -> None:
    with pytest.raises(ConnectionRejected) as info:
        async with connect(emulator, key=None):
            pass
    assert info.value.status_code == 401


async def test_missing_version_is_400(emulator: Emulator) -> None:
    with pytest.raises(ConnectionRejected) as info:
        async with connect(emulator, version=None):
            pass
    assert info.value.status_code == 400


async def test_version_query_wins_over_header(emulator: Emulator) -> None:
    async with connect(emulator, version="garbage", query={"cartesia_version": OLD}) as ws:
        await send(ws, gen("c", "", more=False))
        msg = await recv(ws)
    assert msg["error"] == EMPTY_TEXT  # the legacy shape: the query's version ruled
    with pytest.raises(ConnectionRejected) as info:
        async with connect(emulator, version=NEW, query={"cartesia_version": "latest"}):
            pass
    assert info.value.status_code == 400


async def test_unknown_path_is_404(emulator: Emulator) -> None:
    with pytest.raises(ConnectionRejected) as info:
        async with open_websocket("127.0.0.1", emulator.port, "/stt/websocket", use_ssl=False):
            pass
    assert info.value.status_code == 404


@pytest.mark.parametrize("status", [401, 402, 403, 429, 500])
async def test_reject_status_fault(emulator: Emulator, status: int) -> None:
    emulator.faults.reject_status = status
    with pytest.raises(ConnectionRejected) as info:
        async with connect(emulator):
            pass
    assert info.value.status_code == status
    assert info.value.body
    emulator.faults.reject_status = None
    async with connect(emulator) as ws:
        await ws.ping()


async def test_handshake_and_message_records(emulator: Emulator) -> None:
    async with connect(emulator, query={"cartesia_client": "test/1"}) as ws:
        await send(ws, gen("c", "Hi.", more=False))
        await until_end(ws, "c")
        assert emulator.active_connections == 1
    async with connect(emulator) as ws:
        await send(ws, {"context_id": "x", "cancel": True})
        await ws.ping()
    (first, second) = emulator.handshakes
    assert (first.conn, second.conn) == (1, 2)
    assert first.path == "/tts/websocket"
    assert first.query == {"cartesia_client": "test/1"}
    assert first.headers["x-api-key"] == KEY
    assert first.headers["cartesia-version"] == NEW
    assert [(r.conn, r.msg["context_id"]) for r in emulator.received] == [(1, "c"), (2, "x")]
    assert emulator.received[1].msg == {"context_id": "x", "cancel": True}
    assert emulator.received[0].time <= emulator.received[1].time
    assert emulator.connections_opened == 2
    with trio.fail_after(5):
        while emulator.active_connections:
            await trio.sleep(0.01)


# -- connection faults ------------------------------------------------------------------


async def test_idle_timeout_closes_with_1000(
    emulator: Emulator, autojump_clock: trio.abc.Clock
) -> None:
    async with connect(emulator) as ws:
        start = trio.current_time()
        await trio.sleep(200)
        await ws.ping()  # pings are answered but do not count as activity
        with pytest.raises(ConnectionClosed) as info:
            await ws.get_message()
        closed_at = trio.current_time()
    assert close_of(info.value) == (1000, "connection idle timeout")
    assert closed_at - start == pytest.approx(300, abs=0.1)


async def test_generation_resets_idle_timer(
    emulator: Emulator, autojump_clock: trio.abc.Clock
) -> None:
    emulator.faults.idle_timeout = 10
    async with connect(emulator) as ws:
        await trio.sleep(8)
        await send(ws, gen("c", "Hi.", more=False))
        await until_end(ws, "c")
        active = trio.current_time()
        with pytest.raises(ConnectionClosed) as info:
            await ws.get_message()
        assert trio.current_time() - active == pytest.approx(10, abs=0.1)
    assert close_of(info.value) == (1000, "connection idle timeout")


async def test_ttfb(emulator: Emulator, autojump_clock: trio.abc.Clock) -> None:
    emulator.faults.ttfb = 1.5
    async with connect(emulator) as ws:
        start = trio.current_time()
        await send(ws, gen("c", TEXT, more=False))
        await recv(ws)
        first = trio.current_time() - start
        await until_end(ws, "c")
    assert first == pytest.approx(1.5, abs=0.01)


async def test_chunk_delay_with_seeded_jitter(
    emulator: Emulator, autojump_clock: trio.abc.Clock
) -> None:
    faults = emulator.faults
    faults.chunk_delay, faults.chunk_jitter, faults.chunk_samples = 0.1, 0.05, 1000

    async def gaps(cid: str) -> list[float]:
        async with connect(emulator) as ws:
            await send(ws, gen(cid, TEXT, more=False))
            times = []
            while (await recv(ws))["type"] == "chunk":
                times.append(trio.current_time())
        return [b - a for a, b in itertools.pairwise(times)]

    one, two = await gaps("same"), await gaps("same")
    assert len(one) > 5
    assert all(0.1 - 1e-6 <= g <= 0.15 + 1e-6 for g in one)
    assert one == pytest.approx(two, abs=1e-6)  # same seed, same context: same timing
    assert len({round(g, 6) for g in one}) > 1


async def test_stall_stops_pongs_and_audio(
    emulator: Emulator, autojump_clock: trio.abc.Clock
) -> None:
    async with connect(emulator) as ws:
        await ws.ping()
        emulator.faults.stall = True
        await send(ws, gen("c", "Hello while stalled.", more=False))
        with trio.move_on_after(30) as waited:
            await ws.ping()
        assert waited.cancelled_caught
        with trio.move_on_after(30) as waited:
            await ws.get_message()
        assert waited.cancelled_caught
        emulator.faults.stall = False
        msgs = (await until_end(ws, "c"))["c"]
        await ws.ping()
    assert audio_of(msgs) == synth_pcm("Hello while stalled.")


async def test_cut_after_chunks_drops_tcp_without_close_frame(emulator: Emulator) -> None:
    emulator.faults.cut_after_chunks = 2
    emulator.faults.chunk_samples = 500
    chunks = 0
    async with connect(emulator) as ws:
        await send(ws, gen("c", TEXT, more=False))
        with pytest.raises(ConnectionClosed) as info:
            while True:
                chunks += (await recv(ws))["type"] == "chunk"
    assert chunks == 2
    assert close_of(info.value)[0] == 1006  # abnormal closure: no close frame
    with trio.fail_after(5):
        while emulator.active_connections:
            await trio.sleep(0.01)


async def test_error_after_chunks(emulator: Emulator) -> None:
    emulator.faults.error_after_chunks = (2, 500, "synthetic failure")
    emulator.faults.chunk_samples = 500
    for version in (NEW, OLD):
        async with connect(emulator, version=version) as ws:
            await send(ws, gen("c", TEXT, more=False))
            msgs = (await until_end(ws, "c"))["c"]
            await ws.ping()  # the socket survives a context error
        assert [m["type"] for m in msgs] == ["chunk", "chunk", "error"]
        err = msgs[-1]
        assert err["status_code"] == 500
        assert err["done"] is True
        if version == NEW:
            assert err["message"] == "synthetic failure"
        else:
            assert str(err["error"]).endswith(": synthetic failure")


async def test_close_all(emulator: Emulator) -> None:
    async with connect(emulator) as ws:
        await ws.ping()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(emulator.close_all, 1001, "going away")
            with pytest.raises(ConnectionClosed) as info:
                await ws.get_message()
    assert close_of(info.value) == (1001, "going away")
    assert emulator.active_connections == 0


async def test_cut_all(emulator: Emulator) -> None:
    async with connect(emulator) as one, connect(emulator) as two:
        await one.ping()
        await two.ping()
        emulator.cut_all()
        for ws in (one, two):
            with pytest.raises(ConnectionClosed) as info:
                await ws.get_message()
            assert close_of(info.value)[0] == 1006


async def test_refuse_drops_new_connections(emulator: Emulator) -> None:
    emulator.faults.refuse = True
    stream = await trio.open_tcp_stream("127.0.0.1", emulator.port)
    with pytest.raises(trio.BrokenResourceError):
        await stream.send_all(b"GET /tts/websocket HTTP/1.1\r\nHost: x\r\n\r\n")
        assert await stream.receive_some() == b""
        raise trio.BrokenResourceError  # a FIN instead of a RST is also a drop
    await stream.aclose()
    assert emulator.handshakes == []


async def test_faults_object_can_be_replaced(emulator: Emulator) -> None:
    emulator.faults = Faults(reject_status=503)
    with pytest.raises(ConnectionRejected) as info:
        async with connect(emulator):
            pass
    assert info.value.status_code == 503


async def test_client_pings_racing_the_idle_close(
    emulator: Emulator, autojump_clock: trio.abc.Clock
) -> None:
    # trio-websocket cannot pong after sending its close frame; a heartbeat ping
    # landing then must neither crash the emulator nor hold up close_all.
    emulator.faults.idle_timeout = 10

    async def heartbeat(ws: trio_websocket.WebSocketConnection) -> None:
        while True:
            with trio.move_on_after(0.5):
                await ws.ping()
            await trio.sleep(0.5)

    for _ in range(3):
        async with connect(emulator) as ws, trio.open_nursery() as nursery:
            nursery.start_soon(heartbeat, ws)
            with pytest.raises(ConnectionClosed) as info:
                await ws.get_message()
            nursery.cancel_scope.cancel()
        assert close_of(info.value) == (1000, "connection idle timeout")
    async with connect(emulator) as ws, trio.open_nursery() as nursery:
        nursery.start_soon(heartbeat, ws)
        await trio.sleep(2)
        start = trio.current_time()
        await emulator.close_all(1000, "bye")
        assert trio.current_time() - start < 1
        nursery.cancel_scope.cancel()
    async with connect(emulator) as ws:
        await ws.ping()
