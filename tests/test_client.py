"""The persistent Cartesia client against the emulator, over real loopback sockets.

Everything timed runs on trio's MockClock (``autojump_clock``): the emulator and
the client share the test's trio loop, so heartbeats, backoff and idle closes
take no real time and the assertions are on ``trio.current_time()``.
"""

from __future__ import annotations

import itertools
import json
import random
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import pytest
import trio

from cartesia_emulator import Emulator, Faults, synth_pcm
from herald.cartesia.client import CartesiaClient, CloudState, Tuning
from herald.cartesia.context import Context as Utterance
from herald.cartesia.errors import (
    CartesiaError,
    CloudOffline,
    ConnectionLost,
    RequestRejected,
    ServerError,
)
from herald.cartesia.protocol import Audio, Words
from herald.cartesia.ws_adapter import TrioWsConnector
from herald.secret import Secret
from herald.voice import VoiceParams

VOICE = "f786b574-daa5-4673-aa0c-cbe3e8534c02"
PARAMS = VoiceParams(model="sonic-3", voice=VOICE, language="en", sample_rate=24000)


@asynccontextmanager
async def running_client(
    emu: Emulator, key: str = "sk_car_test", **tuning: float
) -> AsyncIterator[CartesiaClient]:
    connector = TrioWsConnector(emu.ws_url, Secret(key), "2025-04-16")
    client = CartesiaClient(connector, tuning=Tuning(**tuning), rng=random.Random(7))  # type: ignore[arg-type]
    async with trio.open_nursery() as nursery:
        await nursery.start(client.run)
        try:
            yield client
        finally:
            nursery.cancel_scope.cancel()


async def wait_state(client: CartesiaClient, state: CloudState) -> None:
    await client.status.wait_until(lambda s: s.state is state)


async def speak(client: CartesiaClient, *parts: str) -> bytes:
    """One utterance made of ``parts`` pushed as continuations; returns its audio."""
    async with await client.open_context(PARAMS) as utt:
        for part in parts:
            await utt.push(part)
        await utt.finish()
        return await collect(utt)


async def collect(utt: Utterance) -> bytes:
    pcm = bytearray()
    async for item in utt:
        if isinstance(item, Audio):
            pcm += item.data
    return bytes(pcm)


def sent(emu: Emulator, where: Callable[[dict[str, object]], bool]) -> list[dict[str, object]]:
    return [r.msg for r in emu.received if where(r.msg)]


# --- the happy path ------------------------------------------------------------


async def test_continuations_concatenate_to_the_emulators_audio(
    emulator: Emulator, autojump_clock: trio.testing.MockClock
) -> None:
    async with running_client(emulator) as client:
        await wait_state(client, CloudState.ONLINE)
        parts = ("Hel", "lo there, this", " is her", "ald speaking. And a second", " sentence.")
        audio = await speak(client, *parts)
    assert audio == synth_pcm("".join(parts), 24000)
    # Concatenation is verbatim: every transcript the server saw, joined, is the text.
    transcripts = [m["transcript"] for m in sent(emulator, lambda m: "transcript" in m)]
    assert "".join(str(t) for t in transcripts) == "".join(parts)


async def test_first_push_waits_for_four_words_or_a_sentence_end(
    emulator: Emulator, autojump_clock: trio.testing.MockClock
) -> None:
    async with running_client(emulator) as client:
        await wait_state(client, CloudState.ONLINE)
        async with await client.open_context(PARAMS) as utt:
            await utt.push("Ding dong, ")
            await trio.sleep(1)
            assert sent(emulator, lambda m: m.get("context_id") == utt.context_id) == []
            await utt.push("someone is at ")
            await trio.sleep(1)
            first = sent(emulator, lambda m: m.get("context_id") == utt.context_id)
            assert [m["transcript"] for m in first] == ["Ding dong, someone is at "]
            assert first[0]["continue"] is True
            await utt.push("the door.")
            await utt.finish()
            await collect(utt)
        msgs = sent(emulator, lambda m: m.get("context_id") == utt.context_id)
        assert msgs[-1]["continue"] is False
        # The voice, model, language and format never change within a context.
        assert len({json.dumps([m["voice"], m["model_id"], m["output_format"]]) for m in msgs}) == 1


async def test_a_short_sentence_goes_out_whole(
    emulator: Emulator, autojump_clock: trio.testing.MockClock
) -> None:
    async with running_client(emulator) as client:
        await wait_state(client, CloudState.ONLINE)
        assert await speak(client, "Hi!") == synth_pcm("Hi!", 24000)


async def test_empty_text_is_refused_before_it_reaches_cartesia(
    emulator: Emulator, autojump_clock: trio.testing.MockClock
) -> None:
    async with running_client(emulator) as client:
        await wait_state(client, CloudState.ONLINE)
        async with await client.open_context(PARAMS) as utt:
            await utt.push("   ")
            with pytest.raises(ValueError, match="needs some text"):
                await utt.finish()
    assert sent(emulator, lambda m: "transcript" in m) == []


async def test_word_timestamps_arrive_with_the_audio(
    emulator: Emulator, autojump_clock: trio.testing.MockClock
) -> None:
    async with running_client(emulator) as client:
        await wait_state(client, CloudState.ONLINE)
        words: list[str] = []
        async with await client.open_context(PARAMS) as utt:
            await utt.push("The washing machine is done.")
            await utt.finish()
            async for item in utt:
                if isinstance(item, Words):
                    words += item.words
    assert words == ["The", "washing", "machine", "is", "done."]


async def test_two_interleaved_contexts_stay_separate(
    emulator: Emulator, autojump_clock: trio.testing.MockClock
) -> None:
    emulator.faults.chunk_samples = 256  # many small chunks, so the two interleave
    emulator.faults.chunk_delay = 0.01
    texts = {
        "a": "The front door is open and the hallway light is on.",
        "b": "Dinner is ready, please come to the kitchen now.",
    }
    results: dict[str, bytes] = {}
    async with running_client(emulator) as client:
        await wait_state(client, CloudState.ONLINE)

        async def one(name: str, utt: Utterance) -> None:
            async with utt:
                results[name] = await collect(utt)

        utts = {name: await client.open_context(PARAMS) for name in texts}
        for name, utt in utts.items():
            await utt.push(texts[name])
        for utt in utts.values():
            await utt.finish()
        async with trio.open_nursery() as nursery:
            for name, utt in utts.items():
                nursery.start_soon(one, name, utt)
    for name, text in texts.items():
        assert results[name] == synth_pcm(text, 24000)
    # They really did share one socket and interleave on it.
    assert emulator.connections_opened == 1
    order = [r.msg.get("context_id") for r in emulator.received]
    assert set(order) == {u.context_id for u in utts.values()}


# --- cancel and stale frames -------------------------------------------------------


async def test_cancel_drops_stale_frames_and_a_stale_done_cannot_end_the_next_utterance(
    emulator: Emulator, autojump_clock: trio.testing.MockClock
) -> None:
    # The server keeps generating what it had started after a cancel, and sends
    # its done: the client must drop all of it.
    emulator.faults.cancel_finishes_current = True
    emulator.faults.chunk_samples = 512
    emulator.faults.chunk_delay = 0.02
    long_text = "This is a long announcement that will be interrupted halfway through."
    async with running_client(emulator) as client:
        await wait_state(client, CloudState.ONLINE)
        first = await client.open_context(PARAMS)
        async with first:
            await first.push(long_text)
            await first.finish()
            got = await first.receive()
            assert isinstance(got, Audio)
            await first.cancel()
        assert client.active_contexts == 0
        second_text = "Second one."
        audio = await speak(client, second_text)
        assert audio == synth_pcm(second_text, 24000)
        # Late frames for the cancelled context kept arriving after the cancel...
        await trio.sleep(5)
    cancels = sent(emulator, lambda m: m.get("cancel") is True)
    assert cancels == [{"context_id": first.context_id, "cancel": True}]


async def test_leaving_the_block_early_cancels_the_context(
    emulator: Emulator, autojump_clock: trio.testing.MockClock
) -> None:
    emulator.faults.chunk_delay = 0.05
    async with running_client(emulator) as client:
        await wait_state(client, CloudState.ONLINE)
        async with await client.open_context(PARAMS) as utt:
            await utt.push("Please stop me before I finish this sentence.")
            await utt.finish()
            await utt.receive()
        await trio.sleep(1)
    assert sent(emulator, lambda m: m.get("cancel") is True) == [
        {"context_id": utt.context_id, "cancel": True}
    ]


# --- errors --------------------------------------------------------------------------


async def test_an_error_mid_stream_is_a_typed_exception_and_the_socket_stays_up(
    emulator: Emulator, autojump_clock: trio.testing.MockClock
) -> None:
    emulator.faults.chunk_samples = 256
    emulator.faults.error_after_chunks = (2, 500, "synthesis failed")
    async with running_client(emulator) as client:
        await wait_state(client, CloudState.ONLINE)
        with pytest.raises(ServerError) as info:
            await speak(client, "This one fails after two chunks of audio.")
        assert info.value.status_code == 500
        assert "synthesis failed" in str(info.value)
        emulator.faults.error_after_chunks = None
        assert await speak(client, "This one works.") == synth_pcm("This one works.", 24000)
    assert emulator.connections_opened == 1


async def test_a_bad_voice_is_a_400_request_error(
    emulator: Emulator, autojump_clock: trio.testing.MockClock
) -> None:
    async with running_client(emulator) as client:
        await wait_state(client, CloudState.ONLINE)
        bad = VoiceParams(model="sonic-3", voice="no-such-voice", language="en", sample_rate=24000)
        async with await client.open_context(bad) as utt:
            await utt.push("Hello there, who am I?")
            await utt.finish()
            with pytest.raises(RequestRejected) as info:
                await collect(utt)
        assert info.value.status_code == 400
        assert client.status.value.online


# --- reconnecting ----------------------------------------------------------------------


async def test_reconnects_at_once_after_the_idle_close(
    emulator: Emulator, autojump_clock: trio.testing.MockClock
) -> None:
    emulator.faults.idle_timeout = 300.0
    async with running_client(emulator) as client:
        await wait_state(client, CloudState.ONLINE)
        t0 = trio.current_time()
        await trio.sleep(300.5)  # Cartesia closes an idle socket with 1000 after 5 minutes
        assert emulator.connections_opened == 2
        assert client.status.value.online
        accepted = [h for h in emulator.handshakes if h.status == 101]
        assert len(accepted) == 2
        assert trio.current_time() - t0 < 301
        assert await speak(client, "Still here after the idle close.") == synth_pcm(
            "Still here after the idle close.", 24000
        )


async def test_an_utterance_racing_the_idle_close_is_replayed(
    emulator: Emulator, autojump_clock: trio.testing.MockClock
) -> None:
    async with running_client(emulator) as client:
        await wait_state(client, CloudState.ONLINE)
        await trio.sleep(60)  # a socket that has been up a while
        emulator.faults.ttfb = 1.0  # the request is in flight when the socket closes
        async with await client.open_context(PARAMS) as utt:
            await utt.push("The doorbell rang just now.")
            await utt.finish()
            await trio.sleep(0.1)
            await emulator.close_all(1000, "connection idle timeout")
            audio = await collect(utt)
    assert audio == synth_pcm("The doorbell rang just now.", 24000)
    assert emulator.connections_opened == 2


async def test_reconnects_after_a_cut(
    emulator: Emulator, autojump_clock: trio.testing.MockClock
) -> None:
    async with running_client(emulator) as client:
        await wait_state(client, CloudState.ONLINE)
        emulator.cut_all()
        await wait_state(client, CloudState.OFFLINE)
        t_cut = trio.current_time()
        await wait_state(client, CloudState.ONLINE)
        # First retry after a healthy socket: the initial backoff step (0.5 s, jittered).
        assert trio.current_time() - t_cut <= 0.5 + 0.01
        assert await speak(client, "Back online again.") == synth_pcm("Back online again.", 24000)
    assert emulator.connections_opened == 2


async def test_a_cut_mid_utterance_fails_it_with_connection_lost(
    emulator: Emulator, autojump_clock: trio.testing.MockClock
) -> None:
    emulator.faults.chunk_samples = 256
    emulator.faults.cut_after_chunks = 3
    async with running_client(emulator) as client:
        await wait_state(client, CloudState.ONLINE)
        with pytest.raises(ConnectionLost):
            await speak(client, "This sentence is long enough to be cut in the middle.")
        emulator.faults.cut_after_chunks = None
        await wait_state(client, CloudState.ONLINE)
        assert await speak(client, "And recovered.") == synth_pcm("And recovered.", 24000)


async def test_a_stalled_socket_is_noticed_by_the_heartbeat_within_5_seconds(
    emulator: Emulator, autojump_clock: trio.testing.MockClock
) -> None:
    async with running_client(emulator) as client:
        await wait_state(client, CloudState.ONLINE)
        await trio.sleep(0.1)
        emulator.faults.stall = True
        t0 = trio.current_time()
        await wait_state(client, CloudState.OFFLINE)
        assert trio.current_time() - t0 <= 5.0
        assert "pong" in client.status.value.reason
        emulator.faults.stall = False
        await wait_state(client, CloudState.ONLINE)
        assert emulator.connections_opened == 2


async def test_a_stall_fails_the_utterance_in_flight_quickly(
    emulator: Emulator, autojump_clock: trio.testing.MockClock
) -> None:
    async with running_client(emulator) as client:
        await wait_state(client, CloudState.ONLINE)
        emulator.faults.stall = True
        t0 = trio.current_time()
        with pytest.raises(ConnectionLost):
            await speak(client, "Nobody will answer this one.")
        assert trio.current_time() - t0 <= 5.0


async def test_backoff_grows_and_is_capped(
    emulator: Emulator, autojump_clock: trio.testing.MockClock
) -> None:
    emulator.faults.reject_status = 500
    async with running_client(emulator, backoff_initial=0.5, backoff_cap=4.0) as client:
        times: list[float] = []
        while len(times) < 8:
            before = len(emulator.handshakes)
            await trio.sleep(0.01)
            if len(emulator.handshakes) > before:
                times.append(trio.current_time())
        assert client.status.value.state is CloudState.OFFLINE
    gaps = [b - a for a, b in itertools.pairwise(times)]
    steps = [0.5, 1.0, 2.0, 4.0, 4.0, 4.0, 4.0]
    for gap, step in zip(gaps, steps, strict=True):
        # jitter takes up to 25 % off each step; never more than the cap
        assert step * 0.75 - 0.02 <= gap <= step + 0.02
    assert max(gaps) <= 4.0 + 0.02


async def test_a_rejected_key_stops_retrying(
    emulator: Emulator, autojump_clock: trio.testing.MockClock
) -> None:
    async with running_client(emulator, key="sk_car_wrong") as client:
        await client.status.wait_until(lambda s: "401" in s.reason)
        await trio.sleep(3600)
        assert len(emulator.handshakes) == 1
        # No retry can fix it: "error", not "offline" (issue 13).
        assert client.status.value.state is CloudState.ERROR
        assert "API key" in client.status.value.reason
        with pytest.raises(CloudOffline):
            await client.open_context(PARAMS)


@pytest.mark.parametrize("status", [400, 403, 404])
async def test_a_handshake_refused_for_good_is_not_retried_in_a_loop(
    emulator: Emulator, autojump_clock: trio.testing.MockClock, status: int
) -> None:
    emulator.faults.reject_status = status
    async with running_client(emulator) as client:
        await client.status.wait_until(lambda s: s.state is CloudState.ERROR)
        await trio.sleep(3600)
        assert len(emulator.handshakes) == 1
        assert f"({status}: " in client.status.value.reason
        assert client.status.value.down


@pytest.mark.parametrize(("status", "words"), [(429, "rate limited"), (402, "credits")])
async def test_rate_limits_and_credits_retry_slowly_with_a_clear_state(
    emulator: Emulator, autojump_clock: trio.testing.MockClock, status: int, words: str
) -> None:
    emulator.faults.reject_status = status
    async with running_client(emulator) as client:
        await client.status.wait_until(lambda s: words in s.reason)
        t0 = trio.current_time()
        await trio.sleep(600)
        # slow backoff: 15 s doubling to a 300 s cap (jittered) — a handful, not hundreds
        assert 6 <= len(emulator.handshakes) <= 7
        emulator.faults.reject_status = None
        await wait_state(client, CloudState.ONLINE)
        assert trio.current_time() - t0 <= 600 + 300


async def test_offline_at_once_when_there_is_no_socket(
    emulator: Emulator, autojump_clock: trio.testing.MockClock
) -> None:
    emulator.faults.refuse = True
    async with running_client(emulator) as client:
        await wait_state(client, CloudState.OFFLINE)
        t0 = trio.current_time()
        with pytest.raises(CloudOffline):
            await client.open_context(PARAMS)
        assert trio.current_time() == t0  # no waiting on a socket known to be down


async def test_no_key_means_cloud_off_and_no_connection(
    emulator: Emulator, autojump_clock: trio.testing.MockClock
) -> None:
    client = CartesiaClient(None)
    async with trio.open_nursery() as nursery:
        await nursery.start(client.run)
        with pytest.raises(CloudOffline, match="no Cartesia API key"):
            await client.open_context(PARAMS)
        nursery.cancel_scope.cancel()
    assert emulator.handshakes == []


async def test_aclose_closes_the_socket_cleanly(
    emulator: Emulator, autojump_clock: trio.testing.MockClock
) -> None:
    connector = TrioWsConnector(emulator.ws_url, Secret("sk_car_test"), "2025-04-16")
    client = CartesiaClient(connector)
    async with trio.open_nursery() as nursery:
        await nursery.start(client.run)
        await wait_state(client, CloudState.ONLINE)
        await client.aclose()
    # run() returned by itself: the nursery closed without being cancelled
    assert client.status.value.state is CloudState.OFFLINE
    await trio.sleep(0.1)
    assert emulator.active_connections == 0


async def test_errors_never_escape_the_service(
    emulator: Emulator, autojump_clock: trio.testing.MockClock
) -> None:
    """Rejections, cuts, stalls and mid-stream errors in a row: run() keeps going."""
    async with running_client(emulator) as client:
        await wait_state(client, CloudState.ONLINE)
        for fault in ("cut", "stall", "reject", "error"):
            if fault == "cut":
                emulator.cut_all()
            elif fault == "stall":
                emulator.faults.stall = True
                await wait_state(client, CloudState.OFFLINE)
                emulator.faults.stall = False
            elif fault == "reject":
                emulator.faults.reject_status = 500
                emulator.cut_all()
                await trio.sleep(3)
                emulator.faults.reject_status = None
            else:
                emulator.faults.error_after_chunks = (1, 500, "boom")
                await wait_state(client, CloudState.ONLINE)
                with pytest.raises(CartesiaError):
                    await speak(client, "This will not work out well.")
                emulator.faults.error_after_chunks = None
            await wait_state(client, CloudState.ONLINE)
        assert await speak(client, "Survived it all.") == synth_pcm("Survived it all.", 24000)


def test_faults_default_to_off() -> None:
    f = Faults()
    assert (f.stall, f.refuse, f.reject_status, f.cut_after_chunks) == (False, False, None, None)
