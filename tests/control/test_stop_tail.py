"""A stop that comes after a say's last sample was handed to the card, while the last
ring of it is still queued ahead of the DAC: the daemon's "finished" has been sent,
but the listener still hears it. On a card that rewinds the stop cuts it there, as it
would a say that plays (Player.hush). The real daemon on MockClock, an in-memory
broker, a simulated card that rewinds as a kernel driver does."""

from __future__ import annotations

import json
import time
import wave
from array import array
from pathlib import Path

import pytest
import trio
import trio.testing

from herald.app import Daemon
from herald.audio.sim_sink import SimDevice
from herald.config import parse_config
from herald.sdnotify import Notifier
from memory_broker import MemoryBroker

RATE = 24000
LEVEL = 6000
CLIP_S = 0.5


def write_clip(path: Path, level: int) -> None:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(array("h", [level] * int(RATE * CLIP_S)).tobytes())


async def start_daemon(tmp_path: Path, nursery: trio.Nursery, device: SimDevice) -> MemoryBroker:
    clips = tmp_path / "clips"
    clips.mkdir()
    write_clip(clips / "bell.wav", LEVEL)
    write_clip(clips / "alarm.wav", LEVEL + 1000)
    cfg = parse_config(
        f'[device]\nid = "hall"\nstate_file = "{tmp_path / "s.json"}"\n'
        f'[mqtt]\ndiscovery = false\n[cache]\ndir = "{tmp_path / "c"}"\n'
        f'[offline]\nlocal_voice = "none"\n[clips]\ndir = "{clips}"\n',
        {},
    )
    broker = MemoryBroker()
    daemon = Daemon(cfg, Notifier({}), device=device, broker=broker)
    await nursery.start(daemon.run)
    await trio.sleep(2.0)  # the card open on silence, long after its lead-in
    return broker


async def bell_finished(tmp_path: Path, nursery: trio.Nursery, device: SimDevice) -> MemoryBroker:
    """The daemon on ``device`` has said the bell clip, and sent its "finished": the
    last ring of it is still queued ahead of the DAC."""
    broker = await start_daemon(tmp_path, nursery, device)
    broker.deliver("herald/hall/say", json.dumps({"id": "b", "clip": "bell"}).encode())
    await wait_for(broker, "b", "finished")
    return broker


async def wait_for(broker: MemoryBroker, id: str, event: str) -> None:
    # The clip is read in a worker thread, in real time: step virtual time by a frame
    # at a time until the event is out (a bound on the real wait, not a measurement).
    deadline = time.monotonic() + 10
    while (id, event) not in events(broker):
        assert time.monotonic() < deadline, f"{id}: no {event!r}"
        await trio.sleep(1 / RATE)


def events(broker: MemoryBroker) -> list[tuple[str, str]]:
    out = []
    for topic, payload, _ in broker.published:
        if topic == "herald/hall/event":
            body = json.loads(payload)
            out.append((body["id"], body["event"]))
    return out


def heard(device: SimDevice, level: int) -> int:
    """Frames of the clip at ``level`` that reached the device unfaded."""
    return array("h", bytes(device.written)).count(level)


@pytest.mark.parametrize(
    "stop",
    [
        ("herald/hall/stop", b""),
        ("herald/hall/stop", b'{"id": "b"}'),
        ("herald/all/stop", b""),
    ],
)
async def test_a_stop_after_finished_cuts_what_the_card_still_holds(
    tmp_path: Path,
    nursery: trio.Nursery,
    autojump_clock: trio.testing.MockClock,
    stop: tuple[str, bytes],
) -> None:
    device = SimDevice("sim")
    broker = await bell_finished(tmp_path, nursery, device)
    broker.deliver(*stop)
    await trio.sleep(1.0)
    # Up to a ring (160 ms) was queued when "finished" went out; all but the guard
    # (10 ms) and the fade (5 ms) of it was cut.
    played = heard(device, LEVEL)
    assert played <= int(RATE * (CLIP_S - 0.100)), f"{played / RATE:.3f} s of 0.5 s heard"
    assert events(broker) == [("b", "queued"), ("b", "started"), ("b", "finished")]


async def test_a_stop_of_another_say_leaves_the_tail_alone(
    tmp_path: Path, nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    device = SimDevice("sim")
    broker = await bell_finished(tmp_path, nursery, device)
    broker.deliver("herald/hall/stop", b'{"id": "other"}')
    await trio.sleep(1.0)
    assert heard(device, LEVEL) == int(RATE * CLIP_S)  # played out whole


async def test_an_interrupting_say_cuts_the_tail_of_the_last_one(
    tmp_path: Path, nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    device = SimDevice("sim")
    broker = await bell_finished(tmp_path, nursery, device)
    say = {"id": "a", "clip": "alarm", "interrupt": True}
    broker.deliver("herald/hall/say", json.dumps(say).encode())
    await wait_for(broker, "a", "finished")
    await trio.sleep(1.0)
    assert heard(device, LEVEL) <= int(RATE * (CLIP_S - 0.100))
    assert heard(device, LEVEL + 1000) == int(RATE * CLIP_S)  # the new one, whole


async def test_without_rewind_the_tail_plays_out(
    tmp_path: Path, nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    device = SimDevice("sim", rewind=False)
    broker = await bell_finished(tmp_path, nursery, device)
    broker.deliver("herald/hall/stop", b"")
    await trio.sleep(1.0)
    assert heard(device, LEVEL) == int(RATE * CLIP_S)
