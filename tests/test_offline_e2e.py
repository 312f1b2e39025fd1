"""Never silent, end to end: cache, Piper, chime, failover — with the real daemon,
mosquitto, the emulator (taken down and brought back), Piper's real model and
ALSA's file plugin."""

from __future__ import annotations

import array
import json
from pathlib import Path

from cartesia_emulator import Emulator, synth_pcm
from daemon_harness import Herald, Observer, expected, nonzero, publish, start_online, stop_cleanly
from mosquitto import Mosquitto

SAY = "herald/kitchen/say"
STATE = "herald/kitchen/state"


async def run_herald(herald: Herald, observer: Observer) -> Herald:
    return await start_online(herald, observer)


async def stop(herald: Herald) -> None:
    assert await stop_cleanly(herald) == 0


def started_source(observer: Observer, id: str) -> str:
    return next(e["source"] for e in observer.events() if e["id"] == id and e["event"] == "started")


def cloud(observer: Observer) -> str:
    return json.loads(observer.last(STATE) or "{}").get("cloud", "")


async def take_down(emulator: Emulator, observer: Observer) -> None:
    emulator.faults.refuse = True
    emulator.cut_all()
    await observer.wait_for(lambda: cloud(observer) == "offline")


async def bring_back(emulator: Emulator, observer: Observer) -> None:
    emulator.faults.refuse = False
    await observer.wait_for(lambda: cloud(observer) == "online", timeout=60)


async def say(
    mosquitto: Mosquitto, observer: Observer, id: str, text: str | None, **extra: object
) -> None:
    payload: dict[str, object] = {"id": id, **extra}
    if text is not None:
        payload["text"] = text
    await publish(mosquitto, SAY, payload)
    await observer.wait_for(
        lambda: any(e in observer.of(id) for e in ("finished", "failed", "interrupted")),
        timeout=60,
    )


async def test_repeated_text_comes_from_the_cache_bit_exact(
    herald: Herald, observer: Observer, mosquitto: Mosquitto, emulator: Emulator
) -> None:
    text = "The garage door is open."
    await say(mosquitto, observer, "c1", text)
    await say(mosquitto, observer, "c2", text)
    await say(mosquitto, observer, "c3", text, cache=False)
    assert started_source(observer, "c1") == "cartesia"
    assert started_source(observer, "c2") == "cache"
    assert started_source(observer, "c3") == "cartesia"
    transcripts = [m.msg.get("transcript") for m in emulator.received]
    assert transcripts.count(text) == 2  # the cache hit never reached Cartesia
    await stop(herald)
    assert herald.captured() == expected(text, text, text)


async def test_interrupted_or_failed_cloud_audio_is_never_cached(
    herald: Herald, observer: Observer, mosquitto: Mosquitto, emulator: Emulator
) -> None:
    emulator.faults.chunk_samples = 1200
    emulator.faults.chunk_delay = 0.2
    text = "This announcement gets stopped halfway through."
    await publish(mosquitto, SAY, {"id": "i1", "text": text})
    await observer.wait_event("i1", "started")
    await publish(mosquitto, "herald/kitchen/stop", "")
    await observer.wait_event("i1", "interrupted")
    emulator.faults.chunk_delay = 0.0
    emulator.faults.error_after_chunks = (1, 500, "synthesis failed")
    failing = "This one fails at the server."
    await say(mosquitto, observer, "f1", failing, cache=True)
    emulator.faults.error_after_chunks = None
    await say(mosquitto, observer, "i2", text)
    await say(mosquitto, observer, "f2", failing)
    assert started_source(observer, "i2") == "cartesia"
    assert started_source(observer, "f2") == "cartesia"


async def test_a_corrupt_clip_is_detected_removed_and_not_played(
    tmp_path: Path, mosquitto: Mosquitto, emulator: Emulator, observer: Observer
) -> None:
    text = "Corrupt me if you can."
    h = await run_herald(Herald(tmp_path, mosquitto, emulator), observer)
    await say(mosquitto, observer, "k1", text)
    await stop(h)
    clips = list((tmp_path / "cache-kitchen").glob("*.clip"))
    assert len(clips) == 1
    data = bytearray(clips[0].read_bytes())
    data[-100] ^= 0x55  # one flipped byte in the audio, as a power cut might leave
    clips[0].write_bytes(bytes(data))
    h = await run_herald(Herald(tmp_path, mosquitto, emulator), observer)
    await say(mosquitto, observer, "k2", text)
    assert started_source(observer, "k2") == "cartesia"
    await say(mosquitto, observer, "k3", text)
    assert started_source(observer, "k3") == "cache"  # cached again, correctly
    await stop(h)
    assert "corrupt" in h.logs().lower() or "checksum" in h.logs().lower()
    # the second run's file (the plugin starts it anew): k2 and k3, never the bad clip
    assert h.captured() == expected(text, text)


async def test_offline_cache_then_piper_then_back_online(
    herald: Herald, observer: Observer, mosquitto: Mosquitto, emulator: Emulator
) -> None:
    cached = "The back door is open."
    await say(mosquitto, observer, "warm", cached)
    await take_down(emulator, observer)
    await say(mosquitto, observer, "o1", cached)
    assert started_source(observer, "o1") == "cache"
    assert observer.of("o1")[-1] == "finished"
    await say(mosquitto, observer, "o2", "Nobody has said this sentence before.")
    assert started_source(observer, "o2") == "local"
    assert observer.of("o2")[-1] == "finished"
    await bring_back(emulator, observer)
    await say(mosquitto, observer, "o3", "And now the cloud is back.")
    assert started_source(observer, "o3") == "cartesia"
    await stop(herald)
    captured = herald.captured()
    # the cloud parts are bit-exact; between them, Piper's speech (not silent)
    head = expected(cached, cached)
    tail = expected("And now the cloud is back.")
    assert captured[: len(head)] == head
    assert captured[len(captured) - len(tail) :] == tail
    piper = captured[len(head) : len(captured) - len(tail)]
    assert len(piper) > 24000 * 0.5  # at least half a second of local speech


async def test_offline_without_a_local_voice_chimes_and_fails(
    tmp_path: Path, mosquitto: Mosquitto, emulator: Emulator, observer: Observer
) -> None:
    h = await run_herald(
        Herald(tmp_path, mosquitto, emulator, extra='[offline]\nlocal_voice = "none"\n'), observer
    )
    try:
        await take_down(emulator, observer)
        await say(mosquitto, observer, "n1", "Nothing can say this.")
        assert observer.of("n1") == ["queued", "started", "failed"]
        assert started_source(observer, "n1") == "clip"
        failed = next(e for e in observer.events() if e["id"] == "n1" and e["event"] == "failed")
        assert "offline" in failed["error"] and "local voice" in failed["error"]
        await bring_back(emulator, observer)
        await say(mosquitto, observer, "n2", "Back again.")
        assert started_source(observer, "n2") == "cartesia"
    finally:
        await stop(h)
    chime_len = len(nonzero(_chime_pcm()))
    captured = h.captured()
    assert len(captured) == chime_len + len(expected("Back again."))


def _chime_pcm() -> bytes:
    from herald.sounds.clips import Clips

    return Clips(None, 24000).get("chime")


async def test_failover_mid_utterance_continues_without_repeating_words(
    herald: Herald, observer: Observer, mosquitto: Mosquitto, emulator: Emulator
) -> None:
    text = (
        "First sentence comes through fine. Second sentence is cut off by a dropped "
        "connection. Third sentence still has to be spoken."
    )
    emulator.faults.chunk_samples = 1024
    # Cut the socket in the middle of the second sentence's audio.
    first_sentence = synth_pcm("First sentence comes through fine.", 24000)
    emulator.faults.cut_after_chunks = len(first_sentence) // 2048 + 3
    # only the socket in use now (a reconnect is a new connection number)
    emulator.faults.cut_only_connection = len(emulator.handshakes)
    await publish(mosquitto, SAY, {"id": "fo", "text": text})
    await observer.wait_for(
        lambda: "finished" in observer.of("fo") or "failed" in observer.of("fo")
    )
    assert observer.of("fo") == ["queued", "started", "finished"]
    await stop(herald)
    captured = herald.captured()
    # Continued on the reopened socket: the whole text, each word once.
    whole = expected(text)
    assert captured == whole, _diff(captured, whole)
    # and it really was two contexts: the second starts at the boundary word
    transcripts = [
        str(m.msg.get("transcript")) for m in emulator.received if m.msg.get("transcript")
    ]
    assert any(t.startswith("Second sentence") for t in transcripts[1:])


def _diff(a: array.array[int], b: array.array[int]) -> str:
    n = next((i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b)))
    return f"captured {len(a)} samples, expected {len(b)}; first difference at {n}"


async def test_a_clip_plays_before_the_text_with_no_gap(
    herald: Herald, observer: Observer, mosquitto: Mosquitto
) -> None:
    await say(mosquitto, observer, "cl", "Someone is at the door.", clip="chime")
    assert observer.of("cl") == ["queued", "started", "finished"]
    assert started_source(observer, "cl") == "cartesia"
    await say(mosquitto, observer, "only", None, clip="chime")  # a clip alone
    assert started_source(observer, "only") == "clip"
    await stop(herald)
    chime = nonzero(_chime_pcm())
    # one stream: the chime's samples, then the text's, nothing between but the
    # chime's own silent ends (removed with all exact zeros)
    assert herald.captured() == chime + expected("Someone is at the door.") + chime


async def test_the_chime_can_cover_the_time_to_first_audio(
    tmp_path: Path, mosquitto: Mosquitto, emulator: Emulator, observer: Observer
) -> None:
    extra = "[clips]\nchime_while_waiting = true\n"
    h = await run_herald(Herald(tmp_path, mosquitto, emulator, extra=extra), observer)
    emulator.faults.ttfb = 0.4
    await say(mosquitto, observer, "w", "Worth the wait.")
    started = next(e for e in observer.events() if e["id"] == "w" and e["event"] == "started")
    assert started["source"] == "cartesia"
    assert started["latency_ms"] < started["ttfb_ms"]  # the chime was heard first
    await stop(h)
    assert h.captured() == nonzero(_chime_pcm()) + expected("Worth the wait.")
