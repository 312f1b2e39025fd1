"""Scheduled starts (`Stream.start_at`) on simulated cards, on trio's MockClock.

`SimDevice.dac_time` says when each written frame reached the DAC, so every test
checks the exact frame the first sample landed on, not just when it was written.
"""

from __future__ import annotations

import logging
import math

import pytest
import trio
import trio.testing

from herald.audio import Player, PlayerTuning
from herald.audio.sim_sink import SimDevice
from herald.audio.stream import Stream
from herald.audio.writer import PACE
from player_rig import RATE, feed_all, nonzero, pcm, start_player, tone, written

FRAME = 1 / RATE
TICK = PlayerTuning().tick_s
RING = PlayerTuning().periods * round(PlayerTuning().period_s * RATE)  # frames


async def scheduled(player: Player, t: float, values: list[int]) -> Stream:
    """A stream told to start at ``t``, fed all of ``values`` at once."""
    stream = player.open_stream()
    stream.start_at(t)
    await feed_all(stream, values)
    stream.end()
    return stream


def first_sound(device: SimDevice) -> int:
    out = written(device)
    return next(i for i, v in enumerate(out) if v)


def on_tick_grid(time: float, opened: float) -> bool:
    ticks = (time - opened) / TICK
    return abs(ticks - round(ticks)) < 1e-6


@pytest.mark.parametrize("phase", [0.0071, 0.0213, 0.0389])
async def test_first_sample_reaches_the_dac_at_t_whatever_the_tick_phase(
    autojump_clock: trio.testing.MockClock, nursery: trio.Nursery, phase: float
) -> None:
    devices = [SimDevice("a"), SimDevice("b")]
    players = [await start_player(nursery, devices[0])]
    await trio.sleep(phase)
    players.append(await start_player(nursery, devices[1]))
    await trio.sleep(0.1)
    opened_stream = trio.current_time()
    t = opened_stream + 1.23457
    data = tone(RATE)
    # All of it is buffered at once, far above the start threshold: without start_at
    # it would start now.
    streams = [await scheduled(player, t, data) for player in players]
    for stream in streams:
        await stream.wait_done()
    await trio.sleep(0.5)

    opened = [device.write_log[0][0] for device in devices]
    assert (opened[1] - opened[0]) % TICK == pytest.approx(phase)  # two tick phases
    for device, stream, origin in zip(devices, streams, opened, strict=True):
        k = first_sound(device)
        assert abs(device.dac_time(k) - t) <= FRAME
        out = written(device)
        assert out[:k] == [0] * k
        assert out[k : k + len(data)] == data  # bit-exact from the first sample on
        assert nonzero(out[k + len(data) :]) == []
        # Placed inside a block, not on the boundary of a write (a tick).
        assert all(at != k for _, at, _ in device.write_log)
        assert stream.first_dac_time == pytest.approx(t, abs=FRAME)
        metrics = stream.metrics
        assert metrics is not None and metrics.scheduled_start == t
        assert metrics.first_dac_time == stream.first_dac_time
        assert metrics.underruns == 0 and metrics.frames_played == len(data)
        # first_sample_time still means "handed to ALSA": a ring or less ahead of t.
        assert stream.first_sample_time is not None
        assert t - RING * FRAME <= stream.first_sample_time < t
        # Feeding did not wake the writer (open_stream() did, as ever): every write
        # until the one that placed the start was on the tick grid.
        early = [time for time, _, _ in device.write_log if opened_stream < time < t]
        assert all(on_tick_grid(time, origin) for time in early)


@pytest.mark.parametrize("tick_s", [0.01, 0.037, 0.1])
async def test_the_start_does_not_depend_on_the_tick(
    autojump_clock: trio.testing.MockClock, nursery: trio.Nursery, tick_s: float
) -> None:
    device = SimDevice()
    player = await start_player(nursery, device, tick_s=tick_s)
    t = trio.current_time() + 0.61111
    stream = await scheduled(player, t, tone(RATE // 10))
    await stream.wait_done()
    k = first_sound(device)
    assert abs(device.dac_time(k) - t) <= FRAME
    assert written(device)[k : k + RATE // 10] == tone(RATE // 10)


@pytest.mark.parametrize("phase", [0.0, 0.0173, 0.0311])
async def test_devices_without_a_clock_start_on_their_paced_timeline(
    autojump_clock: trio.testing.MockClock, nursery: trio.Nursery, phase: float
) -> None:
    """A clockless device (ALSA's file plugin on the null PCM) is played by the writer's
    budget, at PACE x the rate. alsa-lib's file plugin writes to its file what is more
    than one ring behind the frames written; that file must grow along the virtual
    DAC's timeline, with the first sample at t on it, for each device."""
    devices = [SimDevice("a", clock=False), SimDevice("b", clock=False)]
    players = [await start_player(nursery, devices[0])]
    await trio.sleep(phase)
    players.append(await start_player(nursery, devices[1]))
    await trio.sleep(0.3)
    t = trio.current_time() + 0.71234
    data = tone(RATE // 2)
    streams = [await scheduled(player, t, data) for player in players]
    for stream in streams:
        await stream.wait_done()
    await trio.sleep(0.5)

    paced = 1 / (RATE * PACE)
    for device, stream in zip(devices, streams, strict=True):
        origin = device.write_log[0][0]
        # After each write the file ends where the virtual DAC is, to a frame.
        for time, at, frames in device.write_log:
            file_frames = at + frames - RING
            assert file_frames == pytest.approx((time - origin) / paced, abs=1.001)
        k = first_sound(device)
        assert abs(origin + k * paced - t) <= paced
        assert stream.first_dac_time == pytest.approx(t, abs=paced)
        out = written(device)
        assert out[:k] == [0] * k and out[k : k + len(data)] == data


async def test_waits_behind_a_stream_opened_before_then_starts_on_time(
    autojump_clock: trio.testing.MockClock, nursery: trio.Nursery
) -> None:
    device = SimDevice()
    player = await start_player(nursery, device)
    first = player.open_stream()
    t = trio.current_time() + 1.0
    data = [-v for v in tone(RATE // 2)]
    second = await scheduled(player, t, data)
    await trio.sleep(0.2)
    assert nonzero(written(device)) == []  # the first holds the second back
    await feed_all(first, tone(RATE // 4))
    first.end()
    await second.wait_done()
    await trio.sleep(0.5)
    out = written(device)
    k = out.index(data[0])
    assert abs(device.dac_time(k) - t) <= FRAME
    assert nonzero(out[:k]) == tone(RATE // 4)  # the first played, then silence
    assert out[k : k + len(data)] == data


async def test_a_stream_still_playing_at_t_delays_the_start_and_it_is_logged(
    autojump_clock: trio.testing.MockClock, nursery: trio.Nursery, caplog: pytest.LogCaptureFixture
) -> None:
    device = SimDevice()
    player = await start_player(nursery, device)
    first = player.open_stream()
    await feed_all(first, tone(RATE))
    first.end()
    t = trio.current_time() + 0.5  # while the first still plays
    caplog.set_level(logging.INFO, logger="herald.audio")
    second = await scheduled(player, t, [-v for v in tone(RATE // 2)])
    metrics = await second.wait_done()
    await trio.sleep(0.5)
    out = written(device)
    k = max(i for i, v in enumerate(out) if v > 0) + 1
    assert out[k] < 0  # right after the first, not a frame later
    assert nonzero(out) == tone(RATE) + [-v for v in tone(RATE // 2)]
    assert device.dac_time(k) - t > 0.4
    assert metrics.first_dac_time == pytest.approx(device.dac_time(k), abs=FRAME)
    assert any("scheduled start" in r.message and "late" in r.message for r in caplog.records)


async def test_a_start_time_already_past_starts_as_soon_as_ready(
    autojump_clock: trio.testing.MockClock, nursery: trio.Nursery, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="herald.audio")
    device = SimDevice()
    player = await start_player(nursery, device)
    await trio.sleep(1.013)
    stream = player.open_stream()
    stream.start_at(trio.current_time() - 0.2)
    data = tone(RATE)
    await feed_all(stream, data[: RATE // 10])  # below the start threshold (0.4 s)
    await trio.sleep(0.1)
    assert nonzero(written(device)) == []
    ready_at = trio.current_time()
    await feed_all(stream, data[RATE // 10 :])
    stream.end()
    metrics = await stream.wait_done()
    # Started by the kick of the feed that made it ready: the first frame not yet
    # written then, i.e. the start of that write.
    assert metrics.first_sample_time == ready_at
    k = first_sound(device)
    assert any(time == ready_at and at == k for time, at, _ in device.write_log)
    assert nonzero(written(device)) == data
    assert any("scheduled start" in r.message for r in caplog.records)


async def test_not_enough_audio_at_t_keeps_the_jitter_buffer_rules(
    autojump_clock: trio.testing.MockClock, nursery: trio.Nursery
) -> None:
    device = SimDevice()
    player = await start_player(nursery, device)
    t = trio.current_time() + 0.5
    stream = player.open_stream()
    stream.start_at(t)
    data = tone(2 * RATE)
    await feed_all(stream, data[: RATE // 10])  # 100 ms: below the 400 ms threshold
    await trio.sleep(0.813)  # off the tick grid: a kick then has frames to write
    assert nonzero(written(device)) == []  # t has passed: still waiting for audio
    ready_at = trio.current_time()
    await feed_all(stream, data[RATE // 10 :])
    stream.end()
    metrics = await stream.wait_done()
    assert metrics.first_sample_time == ready_at
    assert metrics.first_dac_time is not None and metrics.first_dac_time > ready_at
    assert nonzero(written(device)) == data and metrics.underruns == 0


async def test_interrupt_while_waiting_is_done_at_once_and_nothing_is_heard(
    autojump_clock: trio.testing.MockClock, nursery: trio.Nursery
) -> None:
    device = SimDevice()
    player = await start_player(nursery, device)
    t = trio.current_time() + 1.0
    stream = await scheduled(player, t, tone(RATE))
    # Before it is placed (up to a ring ahead of t: then its first samples are in the
    # device's ring, and an interrupt fades them out like any other).
    await trio.sleep(0.5)
    stream.interrupt()
    assert stream.done
    metrics = stream.metrics
    assert metrics is not None and metrics.interrupted
    assert metrics.frames_played == 0 and metrics.first_sample_time is None
    assert await stream.wait_started() is None
    after = player.open_stream()
    await feed_all(after, [-v for v in tone(RATE // 4)])
    after.end()
    await after.wait_done()
    await trio.sleep(1.0)
    assert nonzero(written(device)) == [-v for v in tone(RATE // 4)]


async def test_start_at_after_the_start_is_refused(
    autojump_clock: trio.testing.MockClock, nursery: trio.Nursery
) -> None:
    player = await start_player(nursery, SimDevice())
    stream = player.open_stream()
    stream.feed(pcm(tone(RATE)))
    stream.end()
    await stream.wait_started()
    with pytest.raises(RuntimeError, match="after the stream started"):
        stream.start_at(trio.current_time() + 1)
    await stream.wait_done()


async def test_a_start_far_ahead_keeps_the_device_on_silence(
    autojump_clock: trio.testing.MockClock, nursery: trio.Nursery
) -> None:
    device = SimDevice()
    player = await start_player(nursery, device, idle_close_s=5.0)
    t = trio.current_time() + 60.0  # longer than the idle close
    stream = await scheduled(player, t, tone(RATE // 10))
    await stream.wait_done()
    assert device.opens == 1 and device.closes == 0 and device.xruns == 0
    k = first_sound(device)
    assert abs(device.dac_time(k) - t) <= FRAME
    assert math.isclose(stream.first_dac_time or 0.0, t, abs_tol=FRAME)
