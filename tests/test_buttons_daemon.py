"""Every button action, through the whole daemon, on trio's MockClock.

Real gpiozero with its mock pin factory, the real daemon (`herald.app.Daemon`: speaker,
player, router, controls), a simulated sound card. The broker is an in-memory stand-in
for mosquitto (it records what herald publishes), so that the clock stays virtual; the
e2e tests run the same daemon against a real mosquitto. Cartesia is off, so says come
from the clip cache, prepared here, and clips.
"""

from __future__ import annotations

import json
import time
import wave
from array import array
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import trio
import trio.testing
from gpiozero.pins.mock import MockFactory  # type: ignore[import-untyped]

from herald.app import Daemon, voice_defaults
from herald.audio.sim_sink import SimDevice
from herald.cache import ClipCache, ClipMeta, clip_key
from herald.config import Config, parse_config
from herald.mqtt import Message
from herald.observable import Observable
from herald.sdnotify import Notifier

RATE = 24000
DINNER = "Dinner is ready"


class MemoryBroker:
    """Implements herald.mqtt.Broker in memory: always connected, records publishes."""

    def __init__(self) -> None:
        self.connected = Observable(True)
        self.denied = Observable[tuple[str, ...]](())
        self._send, self.messages = trio.open_memory_channel[Message](100)
        self.published: list[tuple[str, str, bool]] = []
        self.acked: list[Message] = []

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        task_status.started()

    def ack(self, message: Message) -> None:
        self.acked.append(message)

    async def publish(
        self, topic: str, payload: bytes | str, *, qos: int = 1, retain: bool = False
    ) -> None:
        text = payload.decode() if isinstance(payload, bytes) else payload
        self.published.append((topic, text, retain))

    async def shutdown(self, final: Sequence[tuple[str, bytes | str, bool]] = ()) -> None:
        pass

    def deliver(self, topic: str, payload: bytes) -> None:
        self._send.send_nowait(Message(topic=topic, payload=payload, qos=1, mid=1))

    def json_on(self, topic: str) -> list[dict[str, Any]]:
        return [json.loads(p) for t, p, _ in self.published if t == topic]


def tone(frames: int, value: int = 3000) -> bytes:
    return array("h", [value] * frames).tobytes()


def write_wav(path: Path, pcm: bytes) -> None:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(pcm)


def make_config(tmp_path: Path) -> Config:
    clips = tmp_path / "clips"
    clips.mkdir()
    write_wav(clips / "doorbell.wav", tone(RATE // 2, 5000))  # 0.5 s
    write_wav(clips / "long.wav", tone(RATE * 20, 7000))  # 20 s: a stop cuts it
    text = f"""
[device]
id = "hall"
state_file = "{tmp_path / "state.json"}"
[mqtt]
discovery = false
[audio]
device = "sim"
[cache]
dir = "{tmp_path / "cache"}"
[offline]
local_voice = "none"
[clips]
dir = "{clips}"

[[buttons]]
name = "door"
pin = 17
bounce_ms = 30
hold_s = 1.0
double_s = 0.4
short = {{say = "{DINNER}"}}
long = "stop"
double = {{clip = "doorbell"}}

[[buttons]]
name = "knob"
pin = 27
short = "volume_up"
long = "volume_down"
double = "mute"

[[buttons]]
name = "again"
pin = 22
short = "replay"
long = {{clip = "long"}}
"""
    cfg = parse_config(text, {})
    # The text the short press says, as if Cartesia had said it before.
    cache = ClipCache.from_config(cfg.cache)
    params = voice_defaults(cfg)
    with cache.begin(
        clip_key(DINNER, params, "cartesia"), ClipMeta.from_params(DINNER, params, "cartesia")
    ) as writer:
        writer.append(tone(RATE // 4, 1234))
        assert writer.commit()
    return cfg


@dataclass
class Rig:
    daemon: Daemon
    broker: MemoryBroker
    factory: Any

    def pin(self, n: int) -> Any:
        return self.factory.pin(n)

    def events(self) -> list[dict[str, Any]]:
        return self.broker.json_on("herald/hall/event")

    def presses(self) -> list[dict[str, Any]]:
        return self.broker.json_on("herald/hall/button")

    def state(self) -> dict[str, Any]:
        return self.broker.json_on("herald/hall/state")[-1]

    async def press(self, n: int, hold: float = 0.1, then: float = 1.0) -> None:
        pin = self.pin(n)
        pin.drive_low()  # pull_up: pressed is low
        await trio.sleep(hold)
        pin.drive_high()
        await trio.sleep(then)

    async def double(self, n: int) -> None:
        await self.press(n, then=0.1)
        await self.press(n)


@pytest.fixture
def factory() -> Iterator[Any]:
    mock = MockFactory()
    yield mock
    mock.reset()
    mock.close()


@pytest.fixture
async def rig(
    tmp_path: Path, factory: Any, nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> AsyncIterator[Rig]:
    broker = MemoryBroker()
    daemon = Daemon(
        make_config(tmp_path),
        Notifier({}),
        device=SimDevice("sim"),
        broker=broker,
        pin_factory=factory,
    )
    await nursery.start(daemon.run)
    assert daemon.buttons.active
    yield Rig(daemon, broker, factory)
    nursery.cancel_scope.cancel()


def kinds(events: list[dict[str, Any]]) -> list[str]:
    return [e["event"] for e in events]


async def until(predicate: Callable[[], bool]) -> None:
    """Wait for work in a worker thread (a clip read) without letting virtual time pass:
    the task keeps checkpointing, so the autojump clock does not jump meanwhile."""
    deadline = time.monotonic() + 10  # a bound on the real wait, not a measurement
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        await trio.sleep(0)


async def test_short_press_says_its_text_and_is_published(rig: Rig) -> None:
    await rig.press(17)
    assert rig.presses() == [{"button": "door", "press": "short"}]
    events = rig.events()
    assert kinds(events) == ["queued", "started", "finished"]
    assert events[1]["source"] == "cache"


async def test_double_press_plays_a_clip(rig: Rig) -> None:
    await rig.double(17)
    assert rig.presses() == [{"button": "door", "press": "double"}]
    assert kinds(rig.events()) == ["queued", "started", "finished"]
    assert rig.events()[1]["source"] == "clip"


async def test_long_press_stops_what_plays(rig: Rig) -> None:
    await rig.press(22, hold=1.5, then=0.0)  # long: the 20 s clip starts
    await until(lambda: kinds(rig.events()) == ["queued", "started"])
    await rig.press(17, hold=1.5, then=0.5)  # long: stop
    assert [p["press"] for p in rig.presses()] == ["long", "long"]
    assert kinds(rig.events()) == ["queued", "started", "interrupted"]


async def test_replay_speaks_the_last_text_again(rig: Rig) -> None:
    await rig.press(17)
    await rig.press(22)  # replay
    events = rig.events()
    assert kinds(events) == ["queued", "started", "finished"] * 2
    assert events[0]["id"] != events[3]["id"]  # a new utterance
    assert events[4]["source"] == "cache"  # the same text, so the same clip


async def test_replay_with_nothing_said_is_only_published(rig: Rig) -> None:
    await rig.press(22)
    assert rig.presses() == [{"button": "again", "press": "short"}]
    assert rig.events() == []


async def test_volume_up_and_down_in_steps_of_ten(rig: Rig) -> None:
    rig.daemon.settings.set_volume(50)
    await rig.press(27)
    assert rig.state()["volume"] == 60
    assert rig.daemon.player.volume == 60
    await rig.press(27, hold=1.5)
    await rig.press(27, hold=1.5)
    assert rig.state()["volume"] == 40
    for _ in range(6):
        await rig.press(27, then=0.5)
    assert rig.state()["volume"] == 100  # capped


async def test_mute_toggles_and_drops_normal_says(rig: Rig) -> None:
    await rig.double(27)
    assert rig.state()["mute"] is True
    await rig.press(17)  # a button's say is high priority: it still plays
    rig.broker.deliver("herald/hall/say", DINNER.encode())
    await trio.sleep(1)
    events = rig.events()
    assert kinds(events) == ["queued", "started", "finished", "queued", "dropped"]
    assert events[-1]["reason"] == "muted"
    await rig.double(27)
    assert rig.state()["mute"] is False


async def test_bounces_within_bounce_ms_are_one_press(rig: Rig) -> None:
    pin = rig.pin(27)
    rig.daemon.settings.set_volume(50)
    for _ in range(3):  # contact bounce: edges 5 ms apart
        pin.drive_low()
        await trio.sleep(0.005)
        pin.drive_high()
        await trio.sleep(0.005)
    pin.drive_low()
    await trio.sleep(0.1)
    pin.drive_high()
    await trio.sleep(1.0)
    assert rig.presses() == [{"button": "knob", "press": "short"}]
    assert rig.state()["volume"] == 60


async def test_settings_survive_a_restart(
    tmp_path: Path, factory: Any, autojump_clock: trio.testing.MockClock
) -> None:
    cfg = make_config(tmp_path)
    for round in range(2):
        broker = MemoryBroker()
        daemon = Daemon(
            cfg, Notifier({}), device=SimDevice("sim"), broker=broker, pin_factory=factory
        )
        async with trio.open_nursery() as nursery:
            await nursery.start(daemon.run)
            if round == 0:
                daemon.settings.set_volume(35)
                daemon.actions.set_mute(True)
                await daemon.shutdown()  # saves at once, within the debounce
            else:
                await trio.sleep(0.5)
                state = broker.json_on("herald/hall/state")[-1]
                assert (state["volume"], state["mute"]) == (35, True)
                assert daemon.player.volume == 35
            nursery.cancel_scope.cancel()
        factory.reset()
