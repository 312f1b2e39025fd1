"""A volume change while a quiet-hours say plays keeps the cap (a bug the design
review found by reading: the change went straight to the player and lifted the cap
mid-utterance). The real daemon on MockClock, an in-memory broker, a simulated card."""

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
from herald.sdnotify import Notifier
from test_buttons_daemon import MemoryBroker

RATE = 24000


def write_clip(path: Path, seconds: float) -> None:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(array("h", [6000] * int(RATE * seconds)).tobytes())


async def test_a_volume_change_during_a_capped_say_keeps_the_cap(
    tmp_path: Path, nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    clips = tmp_path / "clips"
    clips.mkdir()
    write_clip(clips / "long.wav", 5.0)
    cfg = parse_config(
        f'[device]\nid = "hall"\nstate_file = "{tmp_path / "s.json"}"\n'
        f'[mqtt]\ndiscovery = false\n[cache]\ndir = "{tmp_path / "c"}"\n'
        f'[offline]\nlocal_voice = "none"\n[clips]\ndir = "{clips}"\n'
        '[quiet_hours]\nwindows = ["00:00-24:00"]\nmode = "lower"\nvolume = 30\n',
        {},
    )
    broker = MemoryBroker()
    daemon = Daemon(cfg, Notifier({}), device=SimDevice("sim"), broker=broker)
    await nursery.start(daemon.run)
    broker.deliver("herald/hall/say", json.dumps({"id": "q", "clip": "long"}).encode())

    def events() -> list[str]:
        return [json.loads(p)["event"] for t, p, _ in broker.published if t == "herald/hall/event"]

    # The clip is read in a worker thread, in real time: step virtual time slowly
    # until it has started (a bound on the real wait, not a measurement).
    deadline = time.monotonic() + 10
    while "started" not in events():
        assert time.monotonic() < deadline, "the say never started"
        await trio.sleep(0.01)
    await trio.sleep(1.0)
    assert daemon.player.volume == 30  # capped by quiet hours
    broker.deliver("herald/hall/volume/set", b"80")
    await trio.sleep(0.5)
    assert daemon.player.volume == 30, "the volume change lifted the quiet-hours cap"
    await trio.sleep(5.0)
    assert events() == ["queued", "started", "finished"]
    assert daemon.player.volume == 80  # the device volume once the say is over
    nursery.cancel_scope.cancel()
