"""How full the ring is kept (herald/audio/fill.py), and what a listener hears of it:
the first sound, the lead-in, the ring growing once audio flows, stalls, interrupts.

On a simulated card on trio's MockClock: `SimDevice.dac_time` says when every frame
written reached the DAC, so the tests check when sound is *heard*, not handed over.
The card here cannot rewind (``SimDevice(rewind=False)``, like ALSA plugins without
``snd_pcm_rewind``): the fill alone decides what a listener waits behind. On a card
that can, what is queued is taken back instead (tests/audio/test_rewind.py).
"""

from __future__ import annotations

import itertools
import math

import pytest
import trio
import trio.testing

from herald.audio import PlayerTuning
from herald.audio.fill import FillPlan, Mode, WakeLateness
from herald.audio.sim_sink import SimDevice
from player_rig import RATE, faded, feed_all, nonzero, pcm, start_player, tone, warm_player, written

T = PlayerTuning()
FRAME = 1 / RATE
RING = T.periods * round(T.period_s * RATE)
START_FILL = round(T.start_fill_s * RATE)
IDLE_FILL = round((T.tick_s + T.idle_margin_s) * RATE)


def plan() -> FillPlan:
    return FillPlan.make(
        RATE,
        RING,
        tick_s=T.tick_s,
        fast_tick_s=T.fast_tick_s,
        start_fill_s=T.start_fill_s,
        idle_margin_s=T.idle_margin_s,
        margin_s=T.margin_s,
    )


def test_targets_follow_the_mode() -> None:
    p = plan()
    assert (p.ring, p.start_fill, p.idle_fill) == (3840, 480, 1680)
    assert p.target(Mode.IDLE, 1000) == 1680
    assert p.target(Mode.WAITING, 3000) == 480  # let down: nothing written until then
    # Playing: what the ring holds plus what the stream can spare, within
    # [start_fill, ring]: below start_fill the stream must fade out (an underrun).
    assert p.target(Mode.PLAYING, 480, 10_000) == 3840
    assert p.target(Mode.PLAYING, 2000, 500) == 2500
    assert p.target(Mode.PLAYING, 300, 0) == 480
    assert p.target(Mode.PLAYING, 300, -50) == 480
    # The slow tick only once the ring outlasts it with the margin to spare.
    assert p.slow(1440) and not p.slow(1439)


def test_late_wake_ups_raise_the_low_fills() -> None:
    p = plan()
    late = 720  # 30 ms
    # Fast tick + lateness + margin: 240 + 720 + 240; slow tick + lateness + margin.
    assert p.target(Mode.WAITING, 0, late=late) == 1200
    assert p.target(Mode.IDLE, 0, late=late) == 1200 + 960
    assert p.target(Mode.PLAYING, 0, 0, late=late) == 1200
    assert p.target(Mode.PLAYING, 0, 10_000, late=late) == 3840
    assert p.target(Mode.WAITING, 0, late=10_000) == 3840  # never beyond the ring
    assert not p.slow(1440, late=late) and p.slow(2160, late=late)
    assert p.slow(3840, late=10_000)  # a full ring: no use waking more often


def test_wake_lateness_is_a_maximum_that_is_forgotten() -> None:
    w = WakeLateness(memory_s=30.0)
    assert w.seconds(0.0) == 0.0
    w.observe(10.0, 0.002)
    w.observe(11.0, 0.100)  # a stall
    w.observe(12.0, 0.001)
    assert w.seconds(11.0) == pytest.approx(0.100)
    assert w.seconds(41.0) == pytest.approx(0.100 / math.e)
    assert w.seconds(11.0 + 30 * math.log(100)) == pytest.approx(0.001)
    w.observe(200.0, 0.003)
    assert w.seconds(200.0) == pytest.approx(0.003)


async def test_a_say_waiting_for_the_cloud_is_heard_within_the_start_fill(
    autojump_clock: trio.testing.MockClock, nursery: trio.Nursery
) -> None:
    device = SimDevice(rewind=False)
    player = await warm_player(nursery, device)
    stream = player.open_stream()
    await trio.sleep(0.045)  # the first cloud audio is on its way: the ring is let down
    data = tone(RATE // 2)
    await feed_all(stream, data)
    stream.end()
    metrics = await stream.wait_done()
    assert metrics.ready_time == pytest.approx(trio.current_time() - 0.5, abs=0.2)
    k, heard = device.first_sound(0) or (0, 0.0)
    assert metrics.ready_time is not None
    # Behind the start fill, or what is left of the idle fill if 45 ms did not let
    # it all the way down: the ring was at most 80 ms full when the say came.
    assert 0 < heard - metrics.ready_time <= max(T.start_fill_s, IDLE_FILL / RATE - 0.045) + FRAME
    assert metrics.first_dac_time == pytest.approx(heard, abs=FRAME)
    assert written(device)[k : k + len(data)] == data  # bit-exact
    assert device.xruns == 0


async def test_audio_ready_at_once_waits_behind_the_idle_fill_at_most(
    autojump_clock: trio.testing.MockClock, nursery: trio.Nursery
) -> None:
    device = SimDevice(rewind=False)
    player = await warm_player(nursery, device)
    delays = []
    for i in range(5):
        stream = player.open_stream()  # a cache hit: all of it there at once
        await feed_all(stream, tone(RATE // 10, i))
        stream.end()
        metrics = await stream.wait_done()
        assert metrics.first_dac_time is not None and metrics.ready_time is not None
        delays.append(metrics.first_dac_time - metrics.ready_time)
        await trio.sleep(1.0 + 0.0131 * i)  # so the phases of the tick differ
    assert all(T.tick_s * 0 < d <= IDLE_FILL / RATE + FRAME for d in delays)
    assert device.xruns == 0


async def test_a_cold_open_plays_the_lead_in_before_the_first_word(
    autojump_clock: trio.testing.MockClock, nursery: trio.Nursery
) -> None:
    device = SimDevice(rewind=False)
    player = await start_player(nursery, device, idle_close_s=5.0)
    await trio.sleep(6.0)
    assert device.closes == 1
    opened_before = len(device.handle_starts)
    stream = player.open_stream()
    data = tone(RATE // 4)
    await feed_all(stream, data)  # ready at once: a cache hit after a cold open
    stream.end()
    await stream.wait_done()
    assert len(device.handle_starts) == opened_before + 1 and device.opens == 2
    start = device.handle_starts[-1]
    opened_at = device.dac_time(start)
    k, heard = device.first_sound(start) or (0, 0.0)
    assert heard == pytest.approx(opened_at + T.lead_in_s, abs=FRAME)
    assert written(device)[start:k] == [0] * (k - start)
    assert written(device)[k : k + len(data)] == data


async def test_the_lead_in_runs_while_the_first_audio_is_on_its_way(
    autojump_clock: trio.testing.MockClock, nursery: trio.Nursery
) -> None:
    device = SimDevice(rewind=False)
    player = await start_player(nursery, device, idle_close_s=5.0, lead_in_s=0.1)
    await trio.sleep(6.0)
    stream = player.open_stream()
    await trio.sleep(0.15)  # longer than the lead-in: it costs nothing
    await feed_all(stream, tone(RATE // 4))
    stream.end()
    metrics = await stream.wait_done()
    assert metrics.ready_time is not None and metrics.first_dac_time is not None
    assert metrics.first_dac_time - metrics.ready_time <= T.start_fill_s + FRAME


async def test_no_lead_in_when_it_is_zero(
    autojump_clock: trio.testing.MockClock, nursery: trio.Nursery
) -> None:
    device = SimDevice(rewind=False)
    player = await start_player(nursery, device, idle_close_s=5.0, lead_in_s=0.0)
    await trio.sleep(6.0)
    stream = player.open_stream()
    await feed_all(stream, tone(RATE // 4))
    stream.end()
    metrics = await stream.wait_done()
    assert metrics.ready_time is not None and metrics.first_dac_time is not None
    # Opened for it, primed with the start fill: heard that much later.
    assert metrics.first_dac_time - metrics.ready_time == pytest.approx(T.start_fill_s, abs=FRAME)


async def test_the_fast_tick_runs_only_while_something_is_about_to_play(
    autojump_clock: trio.testing.MockClock, nursery: trio.Nursery
) -> None:
    device = SimDevice(rewind=False)
    player = await warm_player(nursery, device, idle_close_s=None)
    mark = len(device.write_log)
    await trio.sleep(10.0)
    idle = [t for t, _, _ in device.write_log[mark:]]
    gaps = [b - a for a, b in itertools.pairwise(idle)]
    assert gaps and all(g == pytest.approx(T.tick_s) for g in gaps)  # 20 a second
    stream = player.open_stream()
    waiting_from = trio.current_time()
    await trio.sleep(0.5)  # waiting for its first audio
    waits = [t for t, _, _ in device.write_log if t > waiting_from + T.tick_s]
    assert len(waits) >= 40  # ~every 10 ms, holding the start fill
    assert all(b - a <= T.fast_tick_s + 1e-9 for a, b in itertools.pairwise(waits))
    await feed_all(stream, tone(RATE * 2))
    stream.end()
    await stream.wait_done()
    await trio.sleep(1.0)
    mark = len(device.write_log)
    await trio.sleep(5.0)
    after = [t for t, _, _ in device.write_log[mark:]]
    assert all(b - a == pytest.approx(T.tick_s) for a, b in itertools.pairwise(after))


async def test_the_ring_fills_once_audio_flows_and_outlasts_a_100_ms_stall(
    autojump_clock: trio.testing.MockClock, nursery: trio.Nursery
) -> None:
    device = SimDevice(rewind=False)
    player = await warm_player(nursery, device)
    stream = player.open_stream()
    data = tone(3 * RATE)
    await feed_all(stream, data)
    stream.end()
    await trio.sleep(0.3)
    sink = device.current
    assert sink is not None
    sink.min_fill = None
    await trio.sleep(0.5)
    # Between two slow ticks the full ring holds more than 100 ms.
    assert sink.min_fill is not None and sink.min_fill >= RING - round(T.tick_s * RATE) - 2
    for phase in (0.0, 0.0123, 0.0371, 0.0499):
        await trio.sleep(0.25 + phase)
        autojump_clock.jump(0.100)  # the loop stalls: no task runs for 100 ms
    metrics = await stream.wait_done()
    assert device.xruns == 0 and metrics.xruns == 0 and metrics.underruns == 0
    assert nonzero(written(device)) == data


async def test_a_late_network_draws_the_ring_down_before_running_dry(
    autojump_clock: trio.testing.MockClock, nursery: trio.Nursery
) -> None:
    """The audio in the ring is as good a cushion as the jitter buffer's: the stream
    fades out only once the ring is down to the start fill, not when it cannot top
    the ring up."""
    device = SimDevice(rewind=False)
    player = await warm_player(nursery, device)
    stream = player.open_stream()
    data = tone(RATE)
    first = RATE // 2
    await feed_all(stream, data[:first])
    started = await stream.wait_started()
    assert started is not None
    # The rest arrives when 60 ms of the first half are still to be heard: the ring
    # holds them (and the jitter buffer nothing), fewer than a full ring.
    dac0 = stream.first_dac_time
    assert dac0 is not None
    await trio.sleep_until(dac0 + first / RATE - 0.060)
    await feed_all(stream, data[first:])
    stream.end()
    metrics = await stream.wait_done()
    assert metrics.underruns == 0 and device.xruns == 0
    k, _ = device.first_sound(0) or (0, 0.0)
    assert written(device)[k : k + len(data)] == data


async def test_an_interrupt_is_heard_once_the_ring_has_played(
    autojump_clock: trio.testing.MockClock, nursery: trio.Nursery
) -> None:
    """What the ring holds still plays (the card cannot rewind it): the fade is the
    next thing written, at once, and is heard after the fill."""
    device = SimDevice(rewind=False)
    player = await warm_player(nursery, device)
    stream = player.open_stream()
    data = tone(5 * RATE)
    await feed_all(stream, data)
    await trio.sleep(1.0037)
    at = trio.current_time()
    mark = len(device.written) // 2
    stream.interrupt()
    await stream.wait_done()
    heard = device.dac_time(mark)
    assert at < heard <= at + RING / RATE
    k = len(nonzero(written(device)[:mark]))
    assert written(device)[mark : mark + 120] == faded(data[k : k + 120], 1.0, 0.0)


async def test_a_driver_that_moves_its_pointer_a_period_at_a_time(
    autojump_clock: trio.testing.MockClock, nursery: trio.Nursery
) -> None:
    device = SimDevice(pointer_step=round(T.period_s * RATE), rewind=False)
    player = await warm_player(nursery, device)
    for i in range(3):
        stream = player.open_stream()
        await trio.sleep(0.05)
        stream.feed(pcm(tone(RATE, i)))
        stream.end()
        await stream.wait_done()
        await trio.sleep(0.3)
    assert device.xruns == 0
    assert nonzero(written(device)) == tone(RATE) + tone(RATE, 1) + tone(RATE, 2)
    # The lag was seen and added to the low fills: up to a period.
    assert player._writer is not None
    assert 0 < player._writer.pointer_lag <= round(T.period_s * RATE)


async def test_late_wake_ups_raise_the_fill_so_that_they_do_not_underrun_again(
    autojump_clock: trio.testing.MockClock, nursery: trio.Nursery
) -> None:
    device = SimDevice(rewind=False)
    player = await warm_player(nursery, device)
    stream = player.open_stream()  # waiting: 20 ms held by a 10 ms tick
    await trio.sleep(0.2)
    autojump_clock.jump(0.030)  # the loop stalls 30 ms: longer than the ring holds
    await trio.sleep(0.2)
    assert device.xruns == 1
    for i in range(10):
        await trio.sleep(0.0731 + 0.001 * i)
        autojump_clock.jump(0.030)  # as late again: now covered
    assert device.xruns == 1
    data = tone(RATE // 2)
    await feed_all(stream, data)
    stream.end()
    metrics = await stream.wait_done()
    assert metrics.underruns == 0 and device.xruns == 1
    k, _ = device.first_sound(0) or (0, 0.0)
    assert written(device)[k : k + len(data)] == data


async def test_a_kick_hands_over_no_more_than_the_dac_played_since_the_last_step(
    autojump_clock: trio.testing.MockClock, nursery: trio.Nursery
) -> None:
    """What a card that cannot rewind holds cannot be taken back: a burst that makes a
    stream ready (a kick) and a failover's truncate in the same instant must find
    nothing handed over. The first sound is no later for it: the next step writes it
    behind the same silence."""
    device = SimDevice(rewind=False)
    player = await warm_player(nursery, device)
    stream = player.open_stream()  # a kick: its step runs in this instant
    for _ in range(5):
        await trio.sleep(0)
    data = tone(RATE // 2)
    await feed_all(stream, data)  # ready in the same instant: another kick
    for _ in range(5):
        await trio.sleep(0)
    assert stream.playout.frames_played == 0
    assert stream.truncate(RATE // 4)  # still possible: nothing of it handed over
    stream.end()
    metrics = await stream.wait_done()
    assert metrics.ready_time is not None and metrics.first_dac_time is not None
    assert metrics.first_dac_time - metrics.ready_time <= IDLE_FILL / RATE + FRAME
    k, _ = device.first_sound(0) or (0, 0.0)
    assert written(device)[k : k + RATE // 4] == data[: RATE // 4]
    assert nonzero(written(device)[k + RATE // 4 :]) == []
