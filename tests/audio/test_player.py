"""The player on a simulated card, on trio's MockClock: every timing is virtual.

The `SimDevice` keeps every frame written, so each test checks the exact samples that
reached the "DAC": input passed unchanged, silence inserted, fades where they belong.
"""

from __future__ import annotations

import itertools

import pytest
import trio
import trio.testing

from herald.audio import AudioState, AudioStatus, Geometry, PlayerTuning
from herald.audio.sim_sink import SimDevice
from herald.audio.sink import Underrun
from player_rig import (
    CHUNK,
    FADE,
    RATE,
    faded,
    feed_all,
    nonzero,
    pcm,
    split_zeros,
    start_player,
    tone,
    written,
)


async def test_samples_reach_the_device_unchanged(
    autojump_clock: trio.testing.MockClock, nursery: trio.Nursery
) -> None:
    device = SimDevice()
    player = await start_player(nursery, device)
    stream = player.open_stream()
    data = tone(3 * RATE)
    await feed_all(stream, data, every=0.02)  # a server at 2.3x real time
    stream.end()
    metrics = await stream.wait_done()
    await trio.sleep(0.5)
    out = written(device)
    assert nonzero(out) == data
    assert out[: out.index(data[0])] == [0] * out.index(data[0])  # silence before, no fade
    assert metrics.underruns == 0 and metrics.xruns == 0 and device.xruns == 0
    assert metrics.frames_played == metrics.frames_received == len(data)
    assert metrics.first_arrival == 0.0
    assert metrics.start_delay is not None and metrics.start_delay <= 0.1
    assert metrics.min_fill is not None and metrics.min_fill > 0.02
    # first_sample_time is when the write holding the first sample was made.
    offset = out.index(data[0])
    assert any(
        t == stream.first_sample_time and at <= offset < at + n for t, at, n in device.write_log
    )


async def test_underrun_fades_out_plays_silence_and_fades_back_in(
    autojump_clock: trio.testing.MockClock, nursery: trio.Nursery
) -> None:
    device = SimDevice()
    player = await start_player(nursery, device)
    stream = player.open_stream()
    data = tone(2 * RATE)
    first = 12 * CHUNK // 2  # 512 ms, then a 1 s stall
    await feed_all(stream, data[:first])
    await trio.sleep(1.0)
    await feed_all(stream, data[first:], every=0.01)
    stream.end()
    metrics = await stream.wait_done()
    assert metrics.underruns == 1
    assert device.xruns == 0  # the device itself was fed silence, never starved
    assert 0.4 < metrics.silence_inserted < 1.0
    runs = split_zeros(written(device))
    assert len(runs) == 2
    before, after = runs
    cut = len(before) + 1  # the fade-out ends on an exact zero
    assert before[: cut - FADE] == data[: cut - FADE]
    assert before[cut - FADE :] == faded(data[cut - FADE : cut], 1.0, 0.0)[:-1]
    assert after[:FADE] == faded(data[cut : cut + FADE], 0.0, 1.0)
    assert after[FADE:] == data[cut + FADE :]  # nothing lost, nothing repeated


async def test_an_interrupt_on_a_card_that_rewinds_is_heard_within_the_guard(
    autojump_clock: trio.testing.MockClock, nursery: trio.Nursery
) -> None:
    device = SimDevice()
    player = await start_player(nursery, device)
    stream = player.open_stream()
    data = tone(5 * RATE)
    await feed_all(stream, data)
    await trio.sleep(0.5)
    interrupted_at = trio.current_time()
    stream.interrupt()
    metrics = await stream.wait_done()
    next_stream = player.open_stream()
    new = [-v for v in tone(RATE)]
    await feed_all(next_stream, new)
    next_stream.end()
    await next_stream.wait_done()
    await trio.sleep(0.5)
    out = written(device)
    start = out.index(data[0])
    # What the ring held past the guard was taken back: what was heard of the stream
    # ends with a fade of the samples that followed, within a period of the interrupt.
    k = metrics.frames_played - FADE
    assert metrics.interrupted and metrics.frames_dropped == len(data) - k - FADE
    assert device.rewound > 0.1 * RATE
    assert out[start : start + k] == data[:k]
    # (its last sample, an exact zero, is silence: the next stream may take its place)
    assert out[start + k : start + k + FADE - 1] == faded(data[k : k + FADE], 1.0, 0.0)[:-1]
    heard = device.dac_time(start + k) - interrupted_at
    assert 0 <= heard <= round(PlayerTuning().period_s * RATE) / RATE + 1 / RATE
    rest = out[start + k + FADE - 1 :]
    assert all(v <= 0 for v in rest)  # only silence and the new stream (negative)
    assert nonzero(rest) == new
    assert device.xruns == 0


async def test_interrupt_fades_within_10_ms_and_nothing_old_plays_after(
    autojump_clock: trio.testing.MockClock, nursery: trio.Nursery
) -> None:
    # A card that cannot rewind (the fade is queued behind what the ring holds).
    device = SimDevice(rewind=False)
    player = await start_player(nursery, device)
    stream = player.open_stream()
    data = tone(5 * RATE)
    await feed_all(stream, data)
    await trio.sleep(0.5)
    interrupted_at = trio.current_time()
    mark = len(device.written) // 2
    stream.interrupt()
    metrics = await stream.wait_done()
    next_stream = player.open_stream()
    new = [-v for v in tone(RATE)]
    await feed_all(next_stream, new)
    next_stream.end()
    await next_stream.wait_done()
    await trio.sleep(0.5)
    out = written(device)
    played = nonzero(out[:mark])
    assert played == data[: len(played)]
    k = len(played)
    # The fade is the very next thing written, within a tick: it is heard after what
    # the ring held, and the rest is never written.
    fade_written = next(t for t, at, n in device.write_log if at <= mark < at + n)
    assert interrupted_at <= fade_written <= interrupted_at + PlayerTuning().tick_s
    assert FADE <= RATE * 0.010
    assert out[mark : mark + FADE] == faded(data[k : k + FADE], 1.0, 0.0)
    rest = out[mark + FADE :]
    assert all(v <= 0 for v in rest)  # only silence and the new stream (negative)
    assert nonzero(rest) == new
    assert metrics.interrupted and metrics.frames_dropped == len(data) - k - FADE


async def test_device_loss_reopens_with_backoff_and_resumes(
    autojump_clock: trio.testing.MockClock, nursery: trio.Nursery
) -> None:
    device = SimDevice()
    player = await start_player(nursery, device)
    statuses: list[AudioStatus] = []

    async def watch() -> None:
        while True:
            statuses.append(await player.status.wait_change())

    nursery.start_soon(watch)
    stream = player.open_stream()
    data = tone(4 * RATE)
    await feed_all(stream, data)
    stream.end()
    await trio.sleep(1.0)
    lost_at = trio.current_time()
    device.unplug()
    await trio.sleep(3.0)
    device.replug()
    metrics = await stream.wait_done()

    # Noticed at the next tick; then backoff: 100 ms doubling (up to 25 % jitter off).
    attempts = device.open_attempts[1:]
    assert lost_at + 0.075 <= attempts[0] <= lost_at + PlayerTuning().tick_s + 0.1
    gaps = [b - a for a, b in itertools.pairwise(attempts)]
    assert len(gaps) >= 3
    for n, gap in enumerate(gaps[:-1]):
        assert 0.75 * 0.2 * 2**n <= gap <= 0.2 * 2**n
    assert device.opens == 2 and device.closes == 1
    assert metrics.device_losses == 1 and metrics.underruns == 0

    assert statuses[0].state is AudioState.ERROR and "sim" in str(statuses[0])
    assert statuses[-1] == AudioStatus(AudioState.OPEN, "sim")
    assert player.status.value.ok

    lost = next(gap.at for gap in device.gaps if gap.reason == "lost")
    before = nonzero(written(device)[:lost])
    assert before == data[: len(before)]
    after = written(device, lost)
    assert after[: 2 * 480] == [0] * (2 * 480)  # re-primed with silence
    resumed = nonzero(after)
    k = len(before)  # the dead handle's ring is lost, nothing else
    assert resumed[:FADE] == faded(data[k : k + FADE], 0.0, 1.0)
    assert resumed[FADE:] == data[k + FADE :]


async def test_epipe_is_counted_and_recovered_without_losing_samples(
    autojump_clock: trio.testing.MockClock, nursery: trio.Nursery
) -> None:
    device = SimDevice()
    player = await start_player(nursery, device)
    stream = player.open_stream()
    data = tone(3 * RATE)
    await feed_all(stream, data)
    stream.end()
    await trio.sleep(0.5)
    device.inject_underrun("avail")
    await trio.sleep(0.5)
    device.inject_underrun("write")
    metrics = await stream.wait_done()
    assert metrics.xruns == 2 and player.xruns == 2 and device.xruns == 2
    assert nonzero(written(device)) == data
    assert device.opens == 1 and player.status.value.ok


async def test_volume_change_ramps_without_a_step(
    autojump_clock: trio.testing.MockClock, nursery: trio.Nursery
) -> None:
    device = SimDevice()
    player = await start_player(nursery, device)
    stream = player.open_stream()
    await feed_all(stream, [20000] * (2 * RATE))
    stream.end()
    await trio.sleep(0.6)
    player.set_volume(50)
    await trio.sleep(0.5)
    player.set_volume(0)
    await stream.wait_done()
    out = written(device)
    start = out.index(20000)
    playing = out[start : start + 2 * RATE]
    steps = [abs(b - a) for a, b in itertools.pairwise(playing)]
    assert max(steps) <= 15000 / 240 + 1  # 10 ms ramps: no step
    assert playing.count(20000) > RATE // 2
    assert playing.count(5000) > RATE // 3
    assert playing[-1] == 0 and player.volume == 0


async def test_missing_device_at_start_is_reported_and_retried(
    autojump_clock: trio.testing.MockClock, nursery: trio.Nursery
) -> None:
    device = SimDevice("hw:CARD=Missing")
    device.present = False
    player = await start_player(nursery, device)
    status = player.status.value
    assert status.state is AudioState.ERROR and not status.ok
    assert "hw:CARD=Missing" in str(status) and "No such device" in str(status)
    await trio.sleep(20.0)
    gaps = [b - a for a, b in itertools.pairwise(device.open_attempts)]
    assert len(gaps) >= 10 and all(1.5 <= g <= 2.0 for g in gaps[-5:])
    stream = player.open_stream()  # a stream waits for the device
    await feed_all(stream, tone(RATE))
    stream.end()
    device.replug()
    metrics = await stream.wait_done()
    assert player.status.value == AudioStatus(AudioState.OPEN, "hw:CARD=Missing")
    assert nonzero(written(device)) == tone(RATE) and metrics.underruns == 0


async def test_idle_close_and_reopen_on_demand(
    autojump_clock: trio.testing.MockClock, nursery: trio.Nursery
) -> None:
    device = SimDevice()
    player = await start_player(nursery, device, idle_close_s=5.0)
    first = player.open_stream()
    await feed_all(first, tone(RATE))
    first.end()
    await first.wait_done()
    await trio.sleep(4.0)
    assert device.closes == 0
    await trio.sleep(2.0)
    assert device.closes == 1 and player.status.value.state is AudioState.IDLE
    assert written(device)[-RATE // 10 :] == [0] * (RATE // 10)
    second = player.open_stream()
    await feed_all(second, tone(RATE, 5))
    second.end()
    await second.wait_done()
    assert device.opens == 2 and player.status.value.state is AudioState.OPEN
    assert nonzero(written(device)) == tone(RATE) + tone(RATE, 5)


async def test_silence_keeps_the_device_running_between_utterances(
    autojump_clock: trio.testing.MockClock, nursery: trio.Nursery
) -> None:
    device = SimDevice()
    await start_player(nursery, device, idle_close_s=None)
    await trio.sleep(120.0)
    assert device.opens == 1 and device.closes == 0 and device.xruns == 0
    # Written in real time: what played, plus the idle fill (a slow tick and its
    # margin) less what played of it since the last tick.
    t = PlayerTuning()
    idle = round((t.tick_s + t.idle_margin_s) * RATE)
    ahead = len(device.written) // 2 - 120 * RATE
    assert idle - round(t.tick_s * RATE) <= ahead <= idle
    # Never below the idle margin (float dust aside), what a late wake-up may take.
    assert device.current is not None and device.current.min_fill is not None
    assert device.current.min_fill >= t.idle_margin_s * RATE - 2


async def test_partial_writes_lose_nothing(
    autojump_clock: trio.testing.MockClock, nursery: trio.Nursery
) -> None:
    device = SimDevice()
    device.write_limit = 97
    player = await start_player(nursery, device)
    stream = player.open_stream()
    data = tone(RATE)
    await feed_all(stream, data)
    stream.end()
    await stream.wait_done()
    assert nonzero(written(device)) == data


async def test_streams_play_in_order_one_at_a_time(
    autojump_clock: trio.testing.MockClock, nursery: trio.Nursery
) -> None:
    device = SimDevice()
    player = await start_player(nursery, device)
    first, second = player.open_stream(), player.open_stream()
    await feed_all(second, tone(RATE, 7))
    second.end()
    await trio.sleep(0.3)
    assert nonzero(written(device)) == []  # the first holds the second back
    await feed_all(first, tone(RATE // 2))
    first.end()
    done = await second.wait_done()
    assert first.done and done.underruns == 0
    assert nonzero(written(device)) == tone(RATE // 2) + tone(RATE, 7)


async def test_start_waits_for_the_threshold_then_adapts(
    autojump_clock: trio.testing.MockClock, nursery: trio.Nursery
) -> None:
    device = SimDevice()
    player = await start_player(nursery, device)
    assert player.start_threshold == pytest.approx(0.4)  # the seed
    stream = player.open_stream()
    await feed_all(stream, tone(2 * RATE), every=CHUNK / RATE)  # exactly real time
    stream.end()
    metrics = await stream.wait_done()
    assert metrics.underruns == 0
    assert metrics.start_delay == pytest.approx(4 * CHUNK / RATE)  # the 5th chunk: > 400 ms
    assert metrics.max_relative_lateness == pytest.approx(CHUNK / RATE)
    # The gap between chunks (85.3 ms, in 5 ms buckets), the margin, the writer's lead.
    lead = PlayerTuning().tick_s + PlayerTuning().fade_s
    assert player.start_threshold == pytest.approx(0.090 + 0.010 + lead)


async def test_short_utterance_starts_at_once(
    autojump_clock: trio.testing.MockClock, nursery: trio.Nursery
) -> None:
    device = SimDevice()
    player = await start_player(nursery, device)
    await trio.sleep(1.013)  # after the lead-in of the device's open
    stream = player.open_stream()
    stream.feed(pcm(tone(480)))
    stream.end()
    metrics = await stream.wait_done()
    assert metrics.start_delay == 0.0
    assert metrics.ready_time == 1.013


async def test_a_ring_of_two_periods_is_refused(
    autojump_clock: trio.testing.MockClock, nursery: trio.Nursery
) -> None:
    device = SimDevice(grant=lambda want: Geometry(want.rate, 1024, 2048))
    player = await start_player(nursery, device)
    assert "fewer than 3 periods" in player.status.value.error


async def test_shutdown_fades_out_what_plays(
    autojump_clock: trio.testing.MockClock, nursery: trio.Nursery
) -> None:
    device = SimDevice()
    async with trio.open_nursery() as inner:
        player = await start_player(inner, device)
        stream = player.open_stream()
        data = tone(5 * RATE)
        await feed_all(stream, data)
        await trio.sleep(0.5)
        inner.cancel_scope.cancel()
    assert stream.done and stream.metrics is not None and stream.metrics.interrupted
    assert device.closes == 1
    runs = split_zeros(written(device))
    assert len(runs) == 1
    k = len(runs[0]) + 1
    assert runs[0][: k - FADE] == data[: k - FADE]
    assert runs[0][k - FADE :] == faded(data[k - FADE : k], 1.0, 0.0)[:-1]


async def test_feed_after_end_is_an_error(
    autojump_clock: trio.testing.MockClock, nursery: trio.Nursery
) -> None:
    player = await start_player(nursery, SimDevice())
    stream = player.open_stream()
    stream.end()
    with pytest.raises(RuntimeError, match="after end"):
        stream.feed(b"\x01\x00")
    metrics = await stream.wait_done()
    assert metrics.first_sample_time is None and metrics.frames_received == 0


async def test_interrupt_without_a_device_finishes_at_once(
    autojump_clock: trio.testing.MockClock, nursery: trio.Nursery
) -> None:
    device = SimDevice()
    device.present = False
    player = await start_player(nursery, device)
    first, second = player.open_stream(), player.open_stream()
    await feed_all(first, tone(RATE))
    await feed_all(second, tone(RATE))
    second.interrupt()  # queued behind another: never audible
    assert second.done
    first.interrupt()  # no device: nothing audible either
    metrics = await first.wait_done()
    assert metrics.interrupted and metrics.frames_played == 0
    assert await first.wait_started() is None


async def test_a_handle_that_only_underruns_is_reopened(
    autojump_clock: trio.testing.MockClock, nursery: trio.Nursery
) -> None:
    device = SimDevice()
    player = await start_player(nursery, device)
    await trio.sleep(0.5)
    sink = device.current
    assert sink is not None

    def always_epipe(pcm: bytes | bytearray | memoryview) -> int:
        raise Underrun("Broken pipe [sim]")

    sink.write = always_epipe  # type: ignore[method-assign]
    await trio.sleep(1.0)
    assert device.opens == 2 and player.status.value.ok
    assert player.device_losses == 1 and player.xruns == 10
