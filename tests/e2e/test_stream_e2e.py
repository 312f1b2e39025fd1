"""Streamed text end to end: an assistant's tokens on `P/D/say/stream`, spoken as they
arrive, as continuations of one Cartesia context.

A real `herald run`, real mosquitto, the emulator and ALSA's file plugin. Chunks of 1
to 3 tokens go out every 50 ms with mosquitto_pub, the way an LLM integration would
publish them.
"""

from __future__ import annotations

import json
import random
import re
from pathlib import Path

import trio

from cartesia_emulator import Emulator
from daemon_harness import Herald, Observer, expected, publish, start_online, stop_cleanly
from mosquitto import Mosquitto

STREAM = "herald/kitchen/say/stream"
ANSWER = (
    "The forecast for tomorrow is mostly sunny, with a high of twenty one degrees. "
    "Take a light jacket in the evening; it will cool down quickly after sunset, "
    "and there is a small chance of rain around midnight."
)


def token_chunks(text: str, rng: random.Random) -> list[str]:
    """The text cut into chunks of 1 to 3 tokens (a word with its leading space, or
    a punctuation mark), as a streaming LLM sends them."""
    tokens = re.findall(r"\s*[\w']+|\s*[^\w\s]", text)
    assert "".join(tokens) == text
    chunks = []
    i = 0
    while i < len(tokens):
        n = rng.randint(1, 3)
        chunks.append("".join(tokens[i : i + n]))
        i += n
    return chunks


async def stream(mosquitto: Mosquitto, id: str, chunks: list[str], gap: float = 0.05) -> None:
    for chunk in chunks:
        await publish(mosquitto, STREAM, {"id": id, "text": chunk})
        await trio.sleep(gap)
    await publish(mosquitto, STREAM, {"id": id, "text": "", "final": True})


def contexts(emulator: Emulator) -> dict[str, list[dict[str, object]]]:
    by_context: dict[str, list[dict[str, object]]] = {}
    for r in emulator.received:
        if "transcript" in r.msg:
            by_context.setdefault(str(r.msg["context_id"]), []).append(r.msg)
    return by_context


async def test_streamed_tokens_make_one_context_and_bit_exact_audio(
    herald: Herald, observer: Observer, mosquitto: Mosquitto, emulator: Emulator
) -> None:
    chunks = token_chunks(ANSWER, random.Random(7))
    assert len(chunks) > 20
    async with trio.open_nursery() as nursery:
        nursery.start_soon(stream, mosquitto, "llm-1", chunks)
        # Speech starts while the answer is still being written.
        await observer.wait_event("llm-1", "started")
        assert nursery.child_tasks, "the stream had ended before speech started"
    await observer.wait_event("llm-1", "finished")
    assert observer.of("llm-1") == ["queued", "started", "finished"]
    sent = contexts(emulator)
    assert len(sent) == 1
    (pushes,) = sent.values()
    assert len(pushes) > 2  # pushed as it arrived, not all at once
    assert all(p["continue"] is True for p in pushes[:-1])
    assert pushes[-1]["continue"] is False
    assert "".join(str(p["transcript"]) for p in pushes) == ANSWER
    # Cartesia's advice: the first push holds at least 3-4 words or a sentence.
    assert len(str(pushes[0]["transcript"]).split()) >= 3
    assert await stop_cleanly(herald) == 0
    assert herald.captured() == expected(ANSWER)


async def test_an_idle_stream_fails_and_the_next_say_is_spoken(
    tmp_path: Path, observer: Observer, mosquitto: Mosquitto, emulator: Emulator
) -> None:
    extra = "[stream]\nidle_timeout = 1.0\n"
    herald = await start_online(Herald(tmp_path, mosquitto, emulator, extra=extra), observer)
    await publish(mosquitto, STREAM, {"id": "stuck", "text": "Let me think about that"})
    await publish(mosquitto, "herald/kitchen/say", {"id": "next", "text": "Next one."})
    await observer.wait_event("stuck", "failed")
    failed = next(e for e in observer.events() if e["id"] == "stuck" and e["event"] == "failed")
    assert "idle" in failed["error"]
    await observer.wait_event("next", "finished")
    # A late chunk of the failed stream is ignored, not spoken again.
    await publish(mosquitto, STREAM, {"id": "stuck", "text": " more", "final": True})
    await publish(mosquitto, "herald/kitchen/say", {"id": "after", "text": "After."})
    await observer.wait_event("after", "finished")
    assert observer.of("stuck") == ["queued", "started", "failed"]
    assert await stop_cleanly(herald) == 0


async def test_a_bad_chunk_is_rejected_and_the_stream_goes_on(
    herald: Herald, observer: Observer, mosquitto: Mosquitto
) -> None:
    await publish(mosquitto, STREAM, {"id": "s", "text": "Good morning, "})
    await publish(mosquitto, STREAM, {"text": "no id"})
    await publish(mosquitto, STREAM, {"id": "s", "text": "everyone.", "final": True})
    await observer.wait_event("s", "finished")
    rejected = [e for e in observer.events() if e["event"] == "rejected"]
    assert len(rejected) == 1
    assert rejected[0]["topic"] == STREAM and '"id" is required' in rejected[0]["error"]
    assert await stop_cleanly(herald) == 0
    assert herald.captured() == expected("Good morning, everyone.")


async def test_a_replay_of_a_stream_says_its_whole_text(
    herald: Herald, observer: Observer, mosquitto: Mosquitto
) -> None:
    await stream(mosquitto, "s2", ["It is ", "half past ", "seven."], gap=0.02)
    await observer.wait_event("s2", "finished")
    await publish(mosquitto, "herald/kitchen/replay", "")
    await observer.wait_for(lambda: [e["event"] for e in observer.events()].count("finished") == 2)
    replay = [e for e in observer.events() if e["event"] == "started"][-1]
    assert replay["source"] == "cache"  # the streamed clip was cached under its full text
    assert await stop_cleanly(herald) == 0
    assert herald.captured() == expected("It is half past seven.", "It is half past seven.")
    assert json.loads(observer.last("herald/kitchen/state") or "{}")["queue"] == 0
