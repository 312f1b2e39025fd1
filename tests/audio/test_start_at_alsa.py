"""Scheduled starts through real ALSA: two players, two ``file:`` sinks, one start time.

Real time and real pyalsaaudio. Each player has its own sink and its own tick phase;
both are told to start a tone at the same moment. `SinkTimeline` watches both files
grow and tells when each file's first sound reached its (virtual) DAC: they must be
within 5 ms of each other (and of the moment asked for), with the samples bit-exact.
"""

from __future__ import annotations

import math
import random
import time
from array import array
from pathlib import Path

import pytest
import trio

from herald.audio import AlsaDevice, Player, PlayerTuning
from herald.audio.stream import Stream
from herald.audio.writer import PACE
from sink_timeline import SinkTimeline

RATE = 24000
TOLERANCE = 0.005


def sine(frames: int, hz: float, phase: float) -> list[int]:
    return [round(12000 * math.sin(2 * math.pi * hz * i / RATE + phase)) for i in range(frames)]


@pytest.mark.parametrize("run", range(4))
async def test_two_file_sinks_start_together(tmp_path: Path, run: int) -> None:
    rng = random.Random(run)
    paths = [tmp_path / "a.raw", tmp_path / "b.raw"]
    tones = [sine(RATE // 4, 440, 0.5), sine(RATE // 4, 660, 1.0)]
    assert all(values[0] for values in tones)  # the first sample is the first sound
    players = [
        Player(
            AlsaDevice(f"file:FILE={p},FORMAT=raw"), RATE, tuning=PlayerTuning(idle_close_s=None)
        )
        for p in paths
    ]
    streams: list[Stream] = []
    with SinkTimeline(paths, rate=RATE) as timeline:
        async with trio.open_nursery() as nursery:
            await nursery.start(players[0].run)
            await trio.sleep(rng.uniform(0.005, 0.045))  # another tick phase
            await nursery.start(players[1].run)
            await trio.sleep(0.1)
            t = trio.current_time() + 0.5
            # trio's clock and time.monotonic() are both CLOCK_MONOTONIC here.
            to_monotonic = time.monotonic() - trio.current_time()
            for player, values in zip(players, tones, strict=True):
                stream = player.open_stream()
                stream.start_at(t)
                data = array("h", values).tobytes()
                for i in range(0, len(data), 4096):
                    stream.feed(data[i : i + 4096])
                stream.end()
                streams.append(stream)
            with trio.fail_after(5):
                for stream in streams:
                    await stream.wait_done()
            # The files lag a ring behind; and the fit wants bursts past the start.
            await trio.sleep(0.4)
            timeline.stop()  # before the close writes the last ring at once
            nursery.cancel_scope.cancel()

    arrivals = [timeline.first_sound(p) for p in paths]
    target = t + to_monotonic
    errors = [a.monotonic - target for a in arrivals]
    diff = arrivals[0].monotonic - arrivals[1].monotonic
    print(
        f"run {run}: difference {diff * 1000:+.3f} ms; vs t "
        + ", ".join(f"{e * 1000:+.3f} ms" for e in errors)
        + "; fitted rate "
        + ", ".join(f"{1 / a.frame_s:.0f}/s ({a.points} bursts)" for a in arrivals)
    )
    assert abs(diff) <= TOLERANCE
    assert all(abs(e) <= TOLERANCE for e in errors)
    for path, values, stream in zip(paths, tones, streams, strict=True):
        captured = array("h", path.read_bytes()).tolist()
        k = timeline.first_nonzero_frame(path)
        assert k is not None
        assert captured[:k] == [0] * k
        assert captured[k : k + len(values)] == values  # bit-exact
        assert not any(captured[k + len(values) :])
        metrics = stream.metrics
        assert metrics is not None and metrics.underruns == 0
        assert metrics.first_dac_time == pytest.approx(t, abs=1 / RATE)


def test_the_timeline_estimate_on_known_bursts(tmp_path: Path) -> None:
    """Bursts along a known line, seen by late polls, then the ring flushed by a close
    (both ways it comes): the estimate finds the line, not the polls nor the flush."""
    rng = random.Random(5)
    path = tmp_path / "x.raw"
    k = 30_000  # the first sound
    path.write_bytes(bytes(2 * k) + array("h", [7] * 100).tobytes())
    frame_s, ring = 1 / (RATE * PACE), 2880
    for close_after in (0.010, 0.110):
        timeline = SinkTimeline([path], rate=RATE)
        origin = time.monotonic() - 10.0

        def seen(frames: int, late: float) -> None:
            timeline.note(path, 2 * frames, origin + frames * frame_s + late)  # noqa: B023

        timeline.note(path, 0, origin - 0.05)  # created at open, before any write
        frames = 0
        while frames < k + 3000:
            frames += rng.choice([1224, 1224, 1224, 300])  # ticks, and now and then a kick
            seen(frames, rng.uniform(0, 0.0006) + (0.004 if rng.random() < 0.1 else 0.0))
        seen(frames + ring, close_after - ring * frame_s)  # the pending ring at once
        timeline.stop()
        arrival = timeline.first_sound(path)
        assert arrival.frame == k
        assert abs(arrival.monotonic - (origin + k * frame_s)) < 0.0002
        assert arrival.frame_s == pytest.approx(frame_s, rel=1e-3)
        assert arrival.wall == pytest.approx(arrival.monotonic + time.time() - time.monotonic())
