"""A card that can rewind (``snd_pcm_rewind``): the ring stays full, and what is queued
ahead of the urgent thing is taken back (herald/audio/writer.py).

On a simulated card on trio's MockClock that rewinds as a driver does: frames taken
back are cut from `SimDevice.written`, so every test checks what was *heard*, and when.
The guard (one period, 10 ms) is what a rewind always leaves to the DAC.
"""

from __future__ import annotations

import itertools

import pytest
import trio
import trio.testing

from herald.audio import PlayerTuning
from herald.audio.jitter import TargetTuning
from herald.audio.sim_sink import SimDevice
from herald.audio.sink import Geometry
from herald.audio.stream import Stream
from herald.audio.writer import Marker, Writer
from player_rig import (
    FADE,
    RATE,
    faded,
    feed_all,
    nonzero,
    pcm,
    start_player,
    tone,
    warm_player,
    written,
)

T = PlayerTuning()
FRAME = 1 / RATE
GUARD = round(T.period_s * RATE) / RATE


async def test_a_say_waiting_for_the_cloud_is_heard_a_guard_after_it_is_ready(
    autojump_clock: trio.testing.MockClock, nursery: trio.Nursery
) -> None:
    device = SimDevice()
    player = await warm_player(nursery, device)
    for i, wait in enumerate((0.045, 0.1234, 0.3)):
        mark = len(device.written) // 2 - 2 * RATE // 10  # before anything taken back
        stream = player.open_stream()
        await trio.sleep(wait)  # the first cloud audio is on its way
        data = tone(RATE // 2, i)
        await feed_all(stream, data)
        stream.end()
        metrics = await stream.wait_done()
        assert metrics.ready_time is not None and metrics.first_dac_time is not None
        k, heard = device.first_sound(mark) or (0, 0.0)
        assert 0 < heard - metrics.ready_time <= GUARD + 2 * FRAME
        assert metrics.first_dac_time == pytest.approx(heard, abs=2 * FRAME)
        assert written(device)[k : k + len(data)] == data  # bit-exact
        await trio.sleep(0.5)
    assert device.rewound > 0 and device.xruns == 0


async def test_a_cache_hit_on_a_warm_card_is_heard_a_guard_after_it_is_ready(
    autojump_clock: trio.testing.MockClock, nursery: trio.Nursery
) -> None:
    device = SimDevice()
    player = await warm_player(nursery, device)
    delays = []
    for i in range(5):
        stream = player.open_stream()  # all of it there at once
        await feed_all(stream, tone(RATE // 10, i))
        stream.end()
        metrics = await stream.wait_done()
        assert metrics.first_dac_time is not None and metrics.ready_time is not None
        delays.append(metrics.first_dac_time - metrics.ready_time)
        await trio.sleep(1.0 + 0.0131 * i)  # so the phases of the tick differ
    assert all(0 < d <= GUARD + 2 * FRAME for d in delays), delays
    assert nonzero(written(device)) == [v for i in range(5) for v in tone(RATE // 10, i)]
    assert device.xruns == 0


async def test_no_fast_tick_while_a_say_waits(
    autojump_clock: trio.testing.MockClock, nursery: trio.Nursery
) -> None:
    """The ring need not be let down for a say that waits: its silence is taken back."""
    device = SimDevice()
    player = await warm_player(nursery, device, idle_close_s=None)
    stream = player.open_stream()
    waiting_from = trio.current_time()
    await trio.sleep(0.5)
    waits = [t for t, _, _ in device.write_log if t > waiting_from + T.tick_s]
    assert waits and all(
        b - a == pytest.approx(T.tick_s) for a, b in itertools.pairwise(waits)
    )  # 20 a second, as when idle
    await feed_all(stream, tone(RATE // 4))
    stream.end()
    await stream.wait_done()


async def test_the_lead_in_after_a_cold_open_is_still_played(
    autojump_clock: trio.testing.MockClock, nursery: trio.Nursery
) -> None:
    device = SimDevice()
    player = await start_player(nursery, device, idle_close_s=5.0)
    await trio.sleep(6.0)
    assert device.closes == 1
    stream = player.open_stream()
    data = tone(RATE // 4)
    await feed_all(stream, data)  # ready at once: a cache hit after a cold open
    stream.end()
    await stream.wait_done()
    start = device.handle_starts[-1]
    k, heard = device.first_sound(start) or (0, 0.0)
    assert heard == pytest.approx(device.dac_time(start) + T.lead_in_s, abs=FRAME)
    assert written(device)[k : k + len(data)] == data


async def test_a_cold_open_without_lead_in_is_heard_at_once(
    autojump_clock: trio.testing.MockClock, nursery: trio.Nursery
) -> None:
    device = SimDevice()
    player = await start_player(nursery, device, idle_close_s=5.0, lead_in_s=0.0)
    await trio.sleep(6.0)
    stream = player.open_stream()
    await trio.sleep(0.08)
    await feed_all(stream, tone(RATE // 4))
    stream.end()
    metrics = await stream.wait_done()
    assert metrics.ready_time is not None and metrics.first_dac_time is not None
    assert 0 < metrics.first_dac_time - metrics.ready_time <= GUARD + 2 * FRAME


async def test_the_tail_of_the_last_say_is_never_taken_back(
    autojump_clock: trio.testing.MockClock, nursery: trio.Nursery
) -> None:
    """Only silence is taken back for a start: a say ready while the last one's end is
    still queued follows it, and nothing of either is lost."""
    device = SimDevice()
    player = await warm_player(nursery, device)
    first, second = tone(RATE // 2), [-v for v in tone(RATE // 3, 7)]
    a = player.open_stream()
    await feed_all(a, first)
    a.end()
    await a.wait_done()  # its last sample handed over: most of a ring still to play
    b = player.open_stream()
    await feed_all(b, second)
    b.end()
    await b.wait_done()
    await trio.sleep(0.5)
    assert nonzero(written(device)) == first + second
    assert device.xruns == 0


def last_sound(device: SimDevice) -> int:
    """One past the last non-zero frame written."""
    out = written(device)
    return len(out) - out[::-1].index(next(v for v in reversed(out) if v))


def heard_then_faded(device: SimDevice, data: list[int], start: int) -> int:
    """Check that what was written from frame ``start`` on is ``data``'s first part,
    then a fade of the samples that followed (ending on an exact zero), then silence;
    returns how long that first part is."""
    out = written(device)
    end = last_sound(device)
    k = end + 1 - start - FADE
    assert out[start : start + k] == data[:k]
    assert out[start + k : end] == faded(data[k : k + FADE], 1.0, 0.0)[:-1]
    return k


async def test_a_stop_cuts_the_ring_and_fades_where_the_listener_is(
    autojump_clock: trio.testing.MockClock, nursery: trio.Nursery
) -> None:
    device = SimDevice()
    player = await warm_player(nursery, device)
    heard = []
    for i in range(6):
        stream = player.open_stream()
        data = tone(3 * RATE, i)
        await feed_all(stream, data)
        await trio.sleep(0.7 + 0.0173 * i)
        at = trio.current_time()
        stream.interrupt()
        metrics = await stream.wait_done()
        await trio.sleep(0.3)
        start = last_sound(device) - metrics.frames_played + 1  # the fade ends on a zero
        k = heard_then_faded(device, data, start)
        heard.append(device.dac_time(start + k) - at)
    assert all(0 <= h <= GUARD + 2 * FRAME for h in heard)
    assert device.xruns == 0


async def test_a_stop_after_the_last_sample_was_handed_over_is_heard_at_once(
    autojump_clock: trio.testing.MockClock, nursery: trio.Nursery
) -> None:
    """A say handed over whole is done for the player while a ring of it is still
    queued ahead of the DAC: `Player.hush` cuts that down to the guard and fades out
    where the listener is, as a stop of a say that plays would."""
    device = SimDevice()
    player = await warm_player(nursery, device)
    heard = []
    for i in range(4):
        mark = len(device.written) // 2 - 2 * RATE // 10  # before anything taken back
        stream = player.open_stream()
        data = tone(RATE // 2, i)
        await feed_all(stream, data)
        stream.end()
        await stream.wait_done()  # the last sample is with ALSA: up to a ring ahead
        await trio.sleep(0.0031 * i)
        at = trio.current_time()
        assert player.hush()
        assert not player.hush()  # once: nothing of it is left to cut
        await trio.sleep(0.3)
        start, _ = device.first_sound(mark) or (0, 0.0)
        k = heard_then_faded(device, data, start)
        assert RATE // 2 - k > T.periods * T.period_s * RATE // 2  # most of a ring cut
        heard.append(device.dac_time(start + k) - at)
    assert all(0 <= h <= GUARD + 2 * FRAME for h in heard)
    assert device.xruns == 0


async def test_a_hush_tops_the_ring_up_at_once(
    autojump_clock: trio.testing.MockClock, nursery: trio.Nursery
) -> None:
    """After the cut the ring holds only the guard and the fade (15 ms): it is refilled
    with silence in the same call, so a loop that gets to the writer's task only
    30 ms later (a busy Pi) does not run it dry."""
    device = SimDevice()
    player = await warm_player(nursery, device)
    stream = player.open_stream()
    await feed_all(stream, tone(RATE // 2))
    stream.end()
    await stream.wait_done()
    assert player.hush()
    autojump_clock.jump(0.030)  # synchronous: no task runs in between
    await trio.sleep(0.3)
    assert device.xruns == 0 and player.xruns == 0


async def test_hush_leaves_a_say_that_plays_and_a_card_that_cannot_rewind(
    autojump_clock: trio.testing.MockClock, nursery: trio.Nursery
) -> None:
    device = SimDevice()
    player = await warm_player(nursery, device)
    first = player.open_stream()
    await feed_all(first, tone(RATE // 4))
    first.end()
    await first.wait_done()
    second = player.open_stream()
    await feed_all(second, tone(RATE))
    await second.wait_started()
    assert not player.hush()  # the next say plays: only its own stop cuts it
    second.end()
    await second.wait_done()
    await trio.sleep(0.5)
    assert not player.hush()  # all of it played already

    plain = SimDevice(rewind=False)
    player = await warm_player(nursery, plain)
    stream = player.open_stream()
    await feed_all(stream, tone(RATE // 2))
    stream.end()
    await stream.wait_done()
    assert not player.hush()
    await trio.sleep(0.3)
    assert nonzero(written(plain)) == tone(RATE // 2)  # played out whole


async def half_a_second_played(
    nursery: trio.Nursery, device: SimDevice
) -> tuple[Stream, list[int]]:
    """A say of 1 s with its first half fed, started 0.2 s ago on a warm card: its
    audio handed over ahead of the DAC is still queued."""
    player = await warm_player(nursery, device)
    stream = player.open_stream()
    data = tone(RATE)
    await feed_all(stream, data[: RATE // 2])
    await stream.wait_started()
    await trio.sleep(0.2)
    return stream, data


async def test_a_failover_takes_back_audio_not_yet_heard(
    autojump_clock: trio.testing.MockClock, nursery: trio.Nursery
) -> None:
    """A truncate to a frame that was handed to the card but has not played: taken
    back, so the resumed audio follows it and nothing is heard twice."""
    device = SimDevice()
    stream, data = await half_a_second_played(nursery, device)
    played = stream.playout.frames_played
    assert played > RATE // 10
    boundary = played - round(0.06 * RATE)  # handed over, still 50 ms from the DAC
    assert stream.truncate(boundary)
    assert stream.playout.frames_played == boundary
    stream.feed(pcm(data[boundary:]))  # the resumed audio
    stream.end()
    metrics = await stream.wait_done()
    assert metrics.frames_played == len(data)
    out = nonzero(written(device))
    assert out[:boundary] == data[:boundary]
    # Then a fade-in into what was resumed, and the rest unchanged.
    assert out[boundary + FADE :] == data[boundary + FADE :]
    assert device.xruns == 0


async def test_a_failover_cannot_take_back_what_was_heard(
    autojump_clock: trio.testing.MockClock, nursery: trio.Nursery
) -> None:
    device = SimDevice()
    stream, data = await half_a_second_played(nursery, device)
    first_dac = stream.first_dac_time
    assert first_dac is not None
    heard = round((trio.current_time() - first_dac) * RATE)
    assert not stream.truncate(heard - 10)  # already played
    assert not stream.truncate(heard + 10)  # inside the guard
    stream.feed(pcm(data[RATE // 2 :]))
    stream.end()
    await stream.wait_done()
    assert nonzero(written(device)) == data  # untouched


async def test_a_card_that_cannot_rewind_keeps_the_fill_mechanism(
    autojump_clock: trio.testing.MockClock, nursery: trio.Nursery
) -> None:
    device = SimDevice(rewind=False)
    player = await warm_player(nursery, device)
    stream = player.open_stream()
    await trio.sleep(0.1)
    await feed_all(stream, tone(RATE // 4))
    stream.end()
    metrics = await stream.wait_done()
    assert metrics.ready_time is not None and metrics.first_dac_time is not None
    assert 0 < metrics.first_dac_time - metrics.ready_time <= T.start_fill_s + FRAME
    assert device.rewound == 0


async def test_the_writer_takes_back_only_the_trailing_silence(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """`Writer.rewind_silence` on its own, long after its history has wrapped: the
    silence after a sound is taken back down to the guard, the sound never."""
    device = SimDevice()
    sink = device.open(Geometry.request(RATE, T.period_s, T.periods))
    sound = [-v for v in tone(300, 3)]
    script: list[list[int]] = []

    def render(block: memoryview, dac_time: float, frame_s: float) -> list[Marker]:
        values = script.pop(0) if script else []
        block[:] = memoryview(pcm((values + [0] * len(block))[: len(block)])).cast("h")
        return []

    writer = Writer(sink, render, on_xrun=lambda: None, on_fill=lambda _: None)
    writer.prime(trio.current_time(), 1000)
    assert writer.rewinds
    for _ in range(6):  # 7,000 frames and more through a history of 3,840
        await trio.sleep(0.05)
        writer.step(trio.current_time())
    await trio.sleep(0.05)
    script.append(sound)  # the sound, then silence to the end of the block
    writer.step(trio.current_time())
    queued = writer.fill_after
    out = written(device)
    after = len(out) - (out.index(sound[0]) + len(sound))
    assert after > writer.guard
    taken = writer.rewind_silence(trio.current_time())
    assert taken == after  # every frame of silence after the sound, nothing else
    assert written(device)[-len(sound) :] == sound
    assert writer.fill_after == queued - taken
    assert writer.rewind_silence(trio.current_time()) == 0  # nothing more to take
    # With a keep beyond what is queued, nothing is taken either.
    writer.step(trio.current_time())
    assert writer.rewind_silence(trio.current_time(), keep=RING_FRAMES) == 0


RING_FRAMES = T.periods * round(T.period_s * RATE)


async def test_after_a_stall_the_silence_ahead_of_a_start_outlasts_another(
    autojump_clock: trio.testing.MockClock, nursery: trio.Nursery
) -> None:
    """What a start keeps queued ahead of it follows the writer's recent lateness: after
    a 150 ms stall, a say that starts on little audio and meets a 100 ms stall at once
    neither runs dry nor fades out. The silence kept is only what its audio lacks."""
    device = SimDevice()
    player = await warm_player(nursery, device, target=TargetTuning(seed=0.060))
    autojump_clock.jump(0.150)  # the loop stalls while idle: seen, remembered ~30 s
    await trio.sleep(1.0)
    xruns = device.xruns  # (one, on silence: the idle fill is 70 ms)
    stream = player.open_stream()
    await trio.sleep(0.1)
    data = tone(RATE)
    first = round((player.start_threshold + 0.010) * RATE)  # just past the threshold
    stream.feed(pcm(data[:first]))
    started = trio.current_time()
    await stream.wait_started()
    assert trio.current_time() == started  # handed over at once
    autojump_clock.jump(0.100)  # and the loop stalls again, right away
    stream.feed(pcm(data[first:]))
    stream.end()
    metrics = await stream.wait_done()
    assert metrics.underruns == 0 and metrics.xruns == 0 and device.xruns == xruns
    assert metrics.ready_time is not None and metrics.first_dac_time is not None
    # The ring must hold the stall remembered (the 150 ms stall less the ~33 ms the
    # tick was still ahead, decayed over a second: ~110 ms) plus the least fill for it
    # (~130 ms), which is more than its 160 ms: the whole ring, less the 65 ms the
    # stream handed over (all but its fade): ~95 ms of silence, not the ~120 ms of the
    # stall and the margin in silence alone.
    assert 0.088 < metrics.first_dac_time - metrics.ready_time < 0.100
    assert nonzero(written(device)) == data


async def test_after_a_stall_a_say_with_enough_audio_keeps_no_silence_ahead(
    autojump_clock: trio.testing.MockClock, nursery: trio.Nursery
) -> None:
    """A start that hands over more audio than the stall remembered (a cache hit, a
    fast server) is its own cushion: it is heard a guard after it is ready, and
    another stall right away still does not run it dry."""
    device = SimDevice()
    player = await warm_player(nursery, device)
    autojump_clock.jump(0.100)
    await trio.sleep(1.0)
    xruns = device.xruns
    mark = len(device.written) // 2 - 2 * RATE // 10  # before anything taken back
    stream = player.open_stream()
    data = tone(RATE // 2)
    stream.feed(pcm(data))
    stream.end()
    await stream.wait_started()
    autojump_clock.jump(0.100)
    metrics = await stream.wait_done()
    assert metrics.underruns == 0 and metrics.xruns == 0 and device.xruns == xruns
    assert metrics.ready_time is not None
    _, heard = device.first_sound(mark) or (0, 0.0)
    assert 0 < heard - metrics.ready_time <= GUARD + 2 * FRAME
    assert nonzero(written(device)) == data
