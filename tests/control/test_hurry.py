"""A say on its way to its first sound goes first (herald.control.hurry): its events,
the state and the journal's write wait until its audio is fed or its request is out,
and never longer than BOUND_S. Hurry on MockClock, then the real daemon on MockClock
with an in-memory broker and a simulated card."""

from __future__ import annotations

import json
import time
import wave
from array import array
from pathlib import Path

import trio
import trio.testing

from herald.app import Daemon
from herald.audio.sim_sink import SimDevice
from herald.config import parse_config
from herald.control.hurry import BOUND_S, Hurry
from herald.sdnotify import Notifier
from memory_broker import MemoryBroker

RATE = 24000


async def test_nothing_waits_when_no_say_is_on_its_way(
    autojump_clock: trio.testing.MockClock,
) -> None:
    hurry = Hurry()
    start = trio.current_time()
    await hurry.wait_clear()
    assert trio.current_time() == start
    hurry.hold()()
    await hurry.wait_clear()
    assert trio.current_time() == start


async def test_the_bookkeeping_waits_for_the_release(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    hurry = Hurry()
    first, second = hurry.hold(), hurry.hold()
    done: list[float] = []

    async def bookkeeping() -> None:
        await hurry.wait_clear()
        done.append(trio.current_time())

    nursery.start_soon(bookkeeping)
    await trio.sleep(0.01)
    first()
    first()  # a second release of the same hold does nothing
    await trio.sleep(0.01)
    assert done == [] and hurry.held
    second()
    await trio.sleep(0)
    await trio.sleep(0)
    assert done == [trio.current_time()] and not hurry.held


async def test_a_say_that_never_gets_going_delays_it_by_the_bound_once(
    autojump_clock: trio.testing.MockClock,
) -> None:
    hurry = Hurry()
    start = trio.current_time()
    hurry.hold()  # never released: a request that cannot go out
    await trio.sleep(0.1)
    await hurry.wait_clear()
    assert trio.current_time() - start == BOUND_S
    for _ in range(100):  # a burst of events after it: none waits again
        await hurry.wait_clear()
    assert trio.current_time() - start == BOUND_S
    hurry.hold()  # a second say while the first still holds: no new bound
    await hurry.wait_clear()
    assert trio.current_time() - start == BOUND_S


def write_clip(path: Path) -> None:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(array("h", [6000] * (RATE // 2)).tobytes())


def first_sound_written(device: SimDevice) -> float | None:
    for t, offset, frames in device.write_log:
        if any(device.written[2 * offset : 2 * (offset + frames)]):
            return t
    return None


async def test_a_says_events_state_and_ack_come_after_its_first_sound(
    tmp_path: Path, nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    """Without the hold, `queued` and the state go out at the say's arrival, while its
    clip is still being read in a worker thread; the journal's fsync (then the ack)
    runs beside it."""
    clips = tmp_path / "clips"
    clips.mkdir()
    write_clip(clips / "bell.wav")
    cfg = parse_config(
        f'[device]\nid = "hall"\nstate_file = "{tmp_path / "s.json"}"\n'
        f'[mqtt]\ndiscovery = false\n[cache]\ndir = "{tmp_path / "c"}"\n'
        f'[offline]\nlocal_voice = "none"\n[clips]\ndir = "{clips}"\n',
        {},
    )
    broker = MemoryBroker()
    device = SimDevice("sim")
    daemon = Daemon(cfg, Notifier({}), device=device, broker=broker)
    await nursery.start(daemon.run)
    await trio.sleep(2.0)  # the card open on silence
    before = len(broker.published)
    broker.deliver("herald/hall/say", json.dumps({"id": "b", "clip": "bell"}).encode())
    deadline = time.monotonic() + 10  # the clip is read in real time: a bound, not a figure
    while not any('"finished"' in p for _, p, _ in broker.published[before:]):
        assert time.monotonic() < deadline, "the bell never finished"
        await trio.sleep(1 / RATE)
    sound = first_sound_written(device)
    assert sound is not None
    published = list(zip(broker.published[before:], broker.published_at[before:], strict=True))
    events = [json.loads(p)["event"] for (t, p, _), _ in published if t == "herald/hall/event"]
    assert events == ["queued", "started", "finished"]  # none lost, in order
    assert all(at >= sound for _, at in published), [
        (t, p[:40], at - sound) for (t, p, _), at in published
    ]
    say_acks = [
        at for m, at in zip(broker.acked, broker.acked_at, strict=True) if m.topic.endswith("/say")
    ]
    assert say_acks and say_acks[0] is not None and say_acks[0] >= sound
    nursery.cancel_scope.cancel()
