"""A real Player on a simulated card, and PCM helpers, for the audio tests."""

from __future__ import annotations

import random
from array import array

import trio
import trio.testing

from herald.audio import Player, PlayerTuning
from herald.audio.pcm import ramp
from herald.audio.sim_sink import SimDevice
from herald.audio.stream import Stream

RATE = 24000
FADE = 120  # PlayerTuning.fade_s = 5 ms at 24 kHz
CHUNK = 2048  # what Cartesia sends at most per message


def tone(frames: int, start: int = 0) -> list[int]:
    """A test signal without a zero sample, each sample telling its position."""
    return [(i + start) % 20000 + 1000 for i in range(frames)]


def pcm(values: list[int]) -> bytes:
    return array("h", values).tobytes()


def written(device: SimDevice, start: int = 0) -> list[int]:
    out = array("h")
    out.frombytes(bytes(device.written[2 * start :]))
    return list(out)


def nonzero(values: list[int]) -> list[int]:
    return [v for v in values if v]


def faded(values: list[int], start: float, end: float) -> list[int]:
    a = array("h", values)
    ramp(memoryview(a).cast("B").cast("h"), start, end)
    return list(a)


def split_zeros(values: list[int]) -> list[list[int]]:
    """The runs of non-zero samples."""
    runs: list[list[int]] = []
    current: list[int] = []
    for v in values:
        if v:
            current.append(v)
        elif current:
            runs.append(current)
            current = []
    if current:
        runs.append(current)
    return runs


async def start_player(nursery: trio.Nursery, device: SimDevice, **tuning: object) -> Player:
    player = Player(device, RATE, tuning=PlayerTuning(**tuning), rng=random.Random(7))  # type: ignore[arg-type]
    await nursery.start(player.run)
    nursery.start_soon(watchdog)
    return player


async def warm_player(nursery: trio.Nursery, device: SimDevice, **tuning: object) -> Player:
    """A player whose device has been open on silence for a while (as after a say)."""
    player = await start_player(nursery, device, **tuning)
    await trio.sleep(2.0137)  # long after the lead-in, off the tick grid
    return player


async def watchdog() -> None:
    """A test waiting for something that never comes fails instead of running for ever."""
    await trio.sleep(900)
    raise AssertionError("still waiting after 900 (virtual) seconds")


async def feed_all(stream: Stream, values: list[int], *, every: float = 0.0) -> None:
    data = pcm(values)
    for i in range(0, len(data), 2 * CHUNK):
        stream.feed(data[i : i + 2 * CHUNK])
        if every:
            await trio.sleep(every)
