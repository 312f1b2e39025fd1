"""Streamed says (text still being written) through `speech.produce`, against the
emulator over a real loopback WebSocket, into a real Player on a simulated card.

Everything runs on trio's MockClock. What the producer feeds to the stream is
recorded (a thin wrapper around the real Stream), so the audio is compared bit for
bit with what the emulator makes of the whole text; the emulator's records show
how the text reached Cartesia.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import trio
import trio.testing

from cartesia_emulator import Emulator, synth_pcm
from herald.cache import ClipCache
from herald.cartesia.context import Context as CloudUtterance
from herald.cartesia.protocol import Done
from herald.speech import produce
from herald.speech.feed import TextFeed
from herald.text import split_sentences
from herald.voice import VoiceParams
from speech_rig import (
    CHIME,
    RATE,
    TEXT,
    Rig,
    chunked,
    local_pcm,
    speak_stream,
    start_rig,
)


@pytest.fixture
async def rig(nursery: trio.Nursery, emulator: Emulator) -> Rig:
    # Tests using it take `autojump_clock` themselves: pytest-trio picks the clock
    # from the test's own arguments.
    return await start_rig(nursery, emulator)


# --- online: one context, pushed as the text arrives -----------------------------------


async def test_a_stream_is_one_context_and_bit_exact_with_the_whole_text(
    rig: Rig, autojump_clock: trio.testing.MockClock
) -> None:
    chunks = chunked(TEXT)
    out = await speak_stream(rig, chunks)
    assert out.error is None
    assert bytes(out.recorder.fed) == synth_pcm(TEXT, RATE)
    assert out.utt.source == "cartesia"
    assert out.utt.feed is not None and out.utt.feed.text == TEXT
    requests = rig.requests()
    assert len({m["context_id"] for m in requests}) == 1
    assert [m["continue"] for m in requests] == [True] * (len(requests) - 1) + [False]
    assert "".join(str(m["transcript"]) for m in requests) == TEXT
    # pushed by clause, not token by token, and not all at the end
    assert 4 <= len(requests) < len(chunks) // 2
    first = str(requests[0]["transcript"])
    assert first == "Good morning! "


async def test_the_first_audio_comes_before_the_final_chunk(
    rig: Rig, autojump_clock: trio.testing.MockClock
) -> None:
    out = await speak_stream(rig, chunked(TEXT))
    assert out.closed_at is not None and out.utt.first_cloud_audio_at is not None
    # the first clause is heard while the rest is still being written
    assert out.utt.first_cloud_audio_at < out.closed_at - 1.0
    requests = [r for r in rig.emulator.received if "transcript" in r.msg]
    assert requests[0].time < out.closed_at - 1.0


async def test_a_first_chunk_of_three_words_waits_for_a_fourth(
    rig: Rig, autojump_clock: trio.testing.MockClock
) -> None:
    chunks = ["Someone is at", " the ", "front door", ", please", " answer it."]
    out = await speak_stream(rig, chunks, every=0.1)
    assert out.error is None
    requests = rig.requests()
    assert [m["transcript"] for m in requests] == [
        "Someone is at the ",
        "front door, ",
        "please answer it.",
    ]
    assert [m["continue"] for m in requests] == [True, True, False]
    assert bytes(out.recorder.fed) == synth_pcm("".join(chunks), RATE)


async def test_a_final_chunk_without_text_closes_the_context(
    rig: Rig, autojump_clock: trio.testing.MockClock
) -> None:
    chunks = ["The dishwasher ", "has finished. ", "Please empty it. "]
    out = await speak_stream(rig, chunks)
    assert out.error is None
    requests = rig.requests()
    assert requests[-1]["transcript"] == ""
    assert requests[-1]["continue"] is False
    assert bytes(out.recorder.fed) == synth_pcm("".join(chunks), RATE)


async def test_a_stream_whose_final_chunk_came_while_it_was_queued_is_one_say(
    rig: Rig, autojump_clock: trio.testing.MockClock, tmp_path: Path
) -> None:
    rig.sources.cache = ClipCache(tmp_path / "cache", 10_000_000)
    feed = TextFeed(5.0)
    for chunk in chunked(TEXT):
        feed.add(chunk)
    feed.close()
    utt = rig.utterance(feed)
    await produce(rig.sources, utt)
    assert bytes(rig.recorders[-1].fed) == synth_pcm(TEXT, RATE)
    # split by sentence like any say, not by the chunks' clauses
    assert [m["transcript"] for m in rig.requests()] == [*split_sentences(TEXT), ""]
    assert utt.source == "cartesia"


# --- the cache --------------------------------------------------------------------------


async def test_a_streamed_clip_is_cached_under_the_whole_text(
    rig: Rig, autojump_clock: trio.testing.MockClock, tmp_path: Path
) -> None:
    rig.sources.cache = ClipCache(tmp_path / "cache", 10_000_000)
    out = await speak_stream(rig, chunked(TEXT))
    assert out.error is None and out.utt.source == "cartesia"
    before = len(rig.requests())
    # a plain say of the same text, then the same text streamed again but already whole
    plain = rig.utterance(text=TEXT)
    await produce(rig.sources, plain)
    assert plain.source == "cache"
    assert bytes(rig.recorders[-1].fed) == synth_pcm(TEXT, RATE)
    whole = TextFeed(5.0)
    whole.add(TEXT)
    whole.close()  # while it waited in the queue
    again = rig.utterance(whole)
    await produce(rig.sources, again)
    assert again.source == "cache"
    assert len(rig.requests()) == before  # neither reached Cartesia


async def test_a_stream_that_failed_is_not_cached(
    rig: Rig, autojump_clock: trio.testing.MockClock, tmp_path: Path
) -> None:
    rig.sources.cache = ClipCache(tmp_path / "cache", 10_000_000)
    out = await speak_stream(rig, chunked(TEXT)[:10], final=False, idle=1.0)
    assert out.error is not None
    assert list((tmp_path / "cache").glob("*.clip")) == []


# --- idle and empty ------------------------------------------------------------------------


async def test_an_idle_stream_fails_and_cancels_its_context(
    rig: Rig, autojump_clock: trio.testing.MockClock
) -> None:
    chunks = chunked(TEXT)[:12]
    out = await speak_stream(rig, chunks, final=False, idle=2.0)
    assert out.error is not None
    assert str(out.error) == "the streamed text was idle for 2 s"
    last_chunk_at = out.started_at + 0.05 * (len(chunks) - 1)
    assert out.ended_at == pytest.approx(last_chunk_at + 2.0)
    context = rig.requests()[0]["context_id"]
    cancels = [r.msg for r in rig.emulator.received if r.msg.get("cancel")]
    assert cancels == [{"context_id": context, "cancel": True}]
    # what was pushed before the silence was spoken, and stays spoken
    pushed = "".join(str(m["transcript"]) for m in rig.requests())
    assert pushed and "".join(chunks).startswith(pushed)
    assert bytes(out.recorder.fed) == synth_pcm(pushed, RATE)


async def test_a_stream_idle_before_its_first_push_fails_without_reaching_cartesia(
    rig: Rig, autojump_clock: trio.testing.MockClock
) -> None:
    out = await speak_stream(rig, ["Hello", " there"], final=False, idle=3.0)
    assert out.error is not None and "idle for 3 s" in str(out.error)
    assert rig.emulator.received == []
    assert out.recorder.fed == b""


async def test_an_empty_stream_fails_with_a_clear_message(
    rig: Rig, autojump_clock: trio.testing.MockClock
) -> None:
    for chunks in ([], ["  ", "\n"]):
        out = await speak_stream(rig, chunks)
        assert out.error is not None
        assert str(out.error) == "the streamed text was empty"
        assert out.recorder.fed == b""
    assert rig.emulator.received == []


# --- without the cloud ----------------------------------------------------------------------


async def test_offline_at_the_start_waits_for_the_whole_text_then_the_local_voice(
    nursery: trio.Nursery, emulator: Emulator, autojump_clock: trio.testing.MockClock
) -> None:
    rig = await start_rig(nursery, emulator, key=False)
    out = await speak_stream(rig, chunked(TEXT))
    assert out.error is None
    assert rig.local.texts == [TEXT]  # once, whole
    assert out.utt.source == "local"
    assert bytes(out.recorder.fed) == CHIME + local_pcm(TEXT)
    assert out.ended_at >= (out.closed_at or 0.0)


async def test_offline_streams_are_spoken_from_the_cache(
    nursery: trio.Nursery,
    emulator: Emulator,
    autojump_clock: trio.testing.MockClock,
    tmp_path: Path,
) -> None:
    online = await start_rig(nursery, emulator, cache=ClipCache(tmp_path / "cache", 10_000_000))
    await speak_stream(online, chunked(TEXT))
    offline = await start_rig(
        nursery, emulator, key=False, cache=ClipCache(tmp_path / "cache", 10_000_000)
    )
    out = await speak_stream(offline, chunked(TEXT, seed=2))
    assert out.error is None and out.utt.source == "cache"
    assert bytes(out.recorder.fed) == synth_pcm(TEXT, RATE)
    assert offline.local.texts == []


async def test_offline_without_a_local_voice_chimes_and_fails(
    nursery: trio.Nursery, emulator: Emulator, autojump_clock: trio.testing.MockClock
) -> None:
    rig = await start_rig(nursery, emulator, key=False, with_local=False)
    out = await speak_stream(rig, chunked("Nobody can say this."))
    assert out.error is not None
    assert "offline" in str(out.error) and "local voice" in str(out.error)
    assert bytes(out.recorder.fed) == CHIME


async def test_no_cloud_audio_in_time_falls_back_to_the_local_voice(
    rig: Rig, autojump_clock: trio.testing.MockClock
) -> None:
    rig.emulator.faults.ttfb = 5.0
    out = await speak_stream(rig, chunked(TEXT))
    assert out.error is None
    assert out.utt.source == "local"
    assert rig.local.texts == [TEXT]
    assert bytes(out.recorder.fed) == CHIME + local_pcm(TEXT)
    cancels = [r.msg for r in rig.emulator.received if r.msg.get("cancel")]
    assert len(cancels) == 1


# --- a drop mid-stream ------------------------------------------------------------------------


def cut_mid_stream(emulator: Emulator) -> None:
    """Reset the first socket in the middle of the second clause's audio."""
    faults = emulator.faults
    faults.chunk_samples = 1024
    faults.cut_after_chunks = 12
    faults.cut_only_connection = 1  # the reconnected socket is left alone


async def test_a_socket_cut_mid_stream_resumes_at_the_first_incomplete_word(
    rig: Rig, autojump_clock: trio.testing.MockClock
) -> None:
    cut_mid_stream(rig.emulator)
    out = await speak_stream(rig, chunked(TEXT))
    assert out.error is None
    assert out.utt.failovers == 1
    assert out.recorder.truncated == [True]  # the boundary word had not played yet
    # the whole text, each word once: bit-exact with one context speaking it all
    assert bytes(out.recorder.fed) == synth_pcm(TEXT, RATE)
    first = [r for r in rig.emulator.received if r.conn == 1 and "transcript" in r.msg]
    second = [r for r in rig.emulator.received if r.conn == 2 and "transcript" in r.msg]
    # the cut came while the text was still arriving, and the new context took over
    # the stream from the first word not heard, before the text was complete
    assert first[-1].msg["continue"] is True
    assert out.closed_at is not None and second[0].time < out.closed_at
    rest = "".join(str(r.msg["transcript"]) for r in second)
    assert TEXT.endswith(rest) and rest[0].isalpha()
    assert len({r.msg["context_id"] for r in second}) == 1
    assert [r.msg["continue"] for r in second][-1] is False
    assert out.utt.source == "cartesia"


async def test_a_cut_with_no_socket_to_come_back_ends_on_the_local_voice(
    rig: Rig, autojump_clock: trio.testing.MockClock
) -> None:
    cut_mid_stream(rig.emulator)
    rig.emulator.faults.refuse = True  # no reconnect
    out = await speak_stream(rig, chunked(TEXT))
    assert out.error is None
    assert out.utt.failovers == 1 and out.recorder.truncated == [True]
    # the rest, once it was all known, from the first word not heard
    [rest] = rig.local.texts
    assert TEXT.endswith(rest) and rest[0].isalpha()
    assert out.closed_at is not None and out.ended_at >= out.closed_at
    heard = TEXT[: len(TEXT) - len(rest)]
    assert bytes(out.recorder.fed) == synth_pcm(heard, RATE) + local_pcm(rest)


async def test_a_context_that_expires_in_a_pause_is_continued_on_a_new_one(
    rig: Rig, autojump_clock: trio.testing.MockClock, nursery: trio.Nursery
) -> None:
    # Cartesia ends a context about a second after its last audio: a writer that
    # pauses longer gets a `done` for a context whose input is still open.
    contexts: list[CloudUtterance] = []
    open_context = rig.client.open_context

    async def spy(params: VoiceParams, *, context_id: str | None = None) -> CloudUtterance:
        utt = await open_context(params, context_id=context_id)
        contexts.append(utt)
        return utt

    rig.client.open_context = spy  # type: ignore[method-assign]
    chunks = chunked(TEXT)
    pause_at = next(i for i in range(len(chunks)) if "".join(chunks[:i]).endswith("today:"))

    async def expire() -> None:
        await trio.sleep(0.05 * pause_at + 2.5)
        contexts[0].deliver(Done())

    nursery.start_soon(expire)
    out = await speak_stream(rig, chunks, pauses={pause_at: 4.0})
    assert out.error is None
    assert bytes(out.recorder.fed) == synth_pcm(TEXT, RATE)
    assert out.utt.failovers == 1 and out.utt.source == "cartesia"
    assert rig.local.texts == []
    requests = rig.requests()
    ids = [m["context_id"] for m in requests]
    assert len(set(ids)) == 2 and ids[0] == contexts[0].context_id
    second = "".join(str(m["transcript"]) for m in requests if m["context_id"] != ids[0])
    # "today:" went out at the pause, but the emulator speaks a word only once the
    # whitespace after it has come: the new context starts with it
    assert second.startswith("today: sunny spells") and TEXT.endswith(second)


async def test_a_sentence_before_a_pause_goes_out_without_waiting_for_more(
    rig: Rig, autojump_clock: trio.testing.MockClock
) -> None:
    # an LLM calling a tool: the sentence is heard while the writer waits
    chunks = ["Let me", " check", " the weather", " for you.", " It is", " sunny."]
    out = await speak_stream(rig, chunks, pauses={4: 3.0})
    assert out.error is None
    requests = rig.emulator.received
    assert [r.msg["transcript"] for r in requests] == [
        "Let me check the ",
        "weather for you.",
        " It is sunny.",
    ]
    # " for you." came at 0.15 s: the pause is noticed 0.3 s later
    assert requests[1].time == pytest.approx(out.started_at + 0.15 + 0.3)
    assert bytes(out.recorder.fed) == synth_pcm("".join(chunks), RATE)
