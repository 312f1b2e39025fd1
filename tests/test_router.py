"""The router on its own: topic → parser → action, acks, rejected events, retained
messages. The actions are a recording stand-in for `herald.control.actions.Actions`
(the port the router drives); the parsers are the real ones."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
import trio

from herald.commands import SayCommand
from herald.control.journal import Journal
from herald.control.router import Router
from herald.control.speaker import SpeakEvent
from herald.control.topics import Topics
from herald.mqtt import Message
from test_buttons_daemon import MemoryBroker

TOPICS = Topics("herald", "hall", groups=("down",), birth="homeassistant/status")


class RecordingActions:
    def __init__(self, *, replay: bool = True, voices: Sequence[str] = ("calm",)) -> None:
        self.calls: list[tuple[str, Any]] = []
        self.voices = tuple(voices)
        self._replay = replay
        self.acks: list[Callable[[], None]] = []
        self.starts: list[Callable[[], None] | None] = []
        self.ages: list[float] = []

    def say(
        self,
        cmd: SayCommand,
        acks: Sequence[Callable[[], None]] = (),
        *,
        on_start: Callable[[], None] | None = None,
        age: float = 0.0,
    ) -> None:
        self.calls.append(("say", cmd.text))
        self.acks.extend(acks)
        self.starts.append(on_start)
        self.ages.append(age)

    def stream_chunk(self, id: str, text: str, final: bool) -> str:
        self.calls.append(("stream", (id, text, final)))
        return "started"

    def stop(self, id: str | None = None) -> None:
        self.calls.append(("stop", id))

    def replay(self) -> bool:
        self.calls.append(("replay", None))
        return self._replay

    def set_volume(self, volume: int) -> None:
        self.calls.append(("volume", volume))

    def set_mute(self, mute: bool) -> None:
        self.calls.append(("mute", mute))

    def set_voice(self, name: str) -> bool:
        self.calls.append(("voice", name))
        return name in self.voices


class Rig:
    def __init__(self, journal: Journal | None = None, **actions: Any) -> None:
        self.broker = MemoryBroker()
        self.actions = RecordingActions(**actions)
        self.events: list[SpeakEvent] = []
        self.births = 0
        self.router = Router(
            TOPICS,
            self.broker,
            self.actions,  # type: ignore[arg-type]
            self.events.append,
            journal=journal,
            on_birth=self._birth,
        )

    def _birth(self) -> None:
        self.births += 1

    def send(
        self, topic: str, payload: bytes, *, retain: bool = False, mid: int = 1, dup: bool = False
    ) -> Message:
        message = Message(topic=topic, payload=payload, qos=1, mid=mid, retain=retain, dup=dup)
        self.router.handle(message)
        return message

    def rejected(self) -> list[str]:
        return [e.detail["error"] for e in self.events if e.event == "rejected"]


def test_a_say_is_acked_only_when_it_has_ended() -> None:
    rig = Rig()
    message = rig.send("herald/hall/say", b"Hello there.")
    assert rig.actions.calls == [("say", "Hello there.")]
    assert rig.broker.acked == []
    (ack,) = rig.actions.acks
    ack()
    assert rig.broker.acked == [message]


@pytest.mark.parametrize("topic", ["herald/all/say", "herald/group/down/say"])
def test_shared_say_topics(topic: str) -> None:
    rig = Rig()
    rig.send(topic, b"Dinner.")
    assert rig.actions.calls == [("say", "Dinner.")]


def test_settings_and_stop_are_acked_at_once() -> None:
    rig = Rig()
    rig.send("herald/hall/volume/set", b"35")
    rig.send("herald/hall/mute/set", b"ON")
    rig.send("herald/hall/voice/set", b"calm")
    rig.send("herald/hall/stop", b'{"id": "door-1"}')
    rig.send("herald/all/stop", b"")
    rig.send("herald/hall/replay", b"")
    rig.send("herald/hall/say/stream", b'{"id": "s", "text": "Hi ", "final": false}')
    assert rig.actions.calls == [
        ("volume", 35),
        ("mute", True),
        ("voice", "calm"),
        ("stop", "door-1"),
        ("stop", None),
        ("replay", None),
        ("stream", ("s", "Hi ", False)),
    ]
    assert len(rig.broker.acked) == 7 and rig.events == []


def test_retained_and_unknown_messages_are_acked_and_ignored() -> None:
    rig = Rig()
    rig.send("herald/hall/say", b"Old news.", retain=True)
    rig.send("herald/hall/nothing", b"x")
    assert rig.actions.calls == [] and rig.events == []
    assert len(rig.broker.acked) == 2


def test_bad_payloads_are_rejected_with_the_topic_and_acked() -> None:
    rig = Rig(replay=False)
    rig.send("herald/hall/volume/set", b"loud")
    rig.send("herald/hall/voice/set", b"shouty")
    rig.send("herald/hall/replay", b"")
    rig.send("herald/hall/mute/set", b"")
    assert rig.rejected() == [
        '"volume": must be an integer from 0 to 100, got "loud"',
        'voice "shouty" is not one of cartesia.voices ("calm")',
        "nothing to replay: nothing has been spoken since the start",
        '"mute": must be ON or OFF (or true/false, 1/0), got nothing (the payload is empty)',
    ]
    assert {e.detail["topic"] for e in rig.events} >= {"herald/hall/volume/set"}
    assert all(e.id is None for e in rig.events)
    assert len(rig.broker.acked) == 4


def test_an_oversize_payload_is_rejected_before_parsing() -> None:
    rig = Rig()
    message = Message(
        topic="herald/hall/say", payload=b"x" * 10, qos=1, mid=1, oversize=True, size=70000
    )
    rig.router.handle(message)
    assert rig.rejected() == ["payload is 70000 bytes; the limit is 65536"]
    assert rig.actions.calls == [] and rig.broker.acked == [message]


def test_home_assistants_birth_announces_again() -> None:
    rig = Rig()
    rig.send("homeassistant/status", b"offline")
    assert rig.births == 0
    rig.send("homeassistant/status", b"online")
    assert rig.births == 1


async def test_a_bug_in_an_action_costs_one_message() -> None:
    rig = Rig()

    def broken(volume: int) -> None:
        raise RuntimeError("boom")

    rig.actions.set_volume = broken  # type: ignore[method-assign]
    async with trio.open_nursery() as nursery:
        nursery.start_soon(rig.router.run)
        rig.broker.deliver("herald/hall/volume/set", b"35")
        rig.broker.deliver("herald/hall/stop", b"")
        await trio.sleep(0.1)
        nursery.cancel_scope.cancel()
    assert rig.actions.calls == [("stop", None)]
    assert len(rig.broker.acked) == 2  # the broken one was acked too, not redelivered


# --- with the queue journal: acknowledged once on disk ---------------------------------


async def test_a_say_is_acked_once_the_journal_has_it(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "queue.jsonl")
    journal.load()
    rig = Rig(journal)
    message = rig.send("herald/hall/say", b"Hello there.")
    assert rig.broker.acked == []  # not on disk yet
    await journal.flush()
    assert rig.broker.acked == [message]  # the broker may forget it: herald has it
    (started,) = rig.actions.starts
    assert started is not None
    started()
    (ended,) = rig.actions.acks
    ended()
    await journal.flush()
    assert Journal(tmp_path / "queue.jsonl").load() == []


async def test_a_redelivery_of_a_journaled_say_is_not_spoken_twice(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "queue.jsonl")
    journal.load()
    rig = Rig(journal)
    rig.send("herald/hall/say", b'{"id": "door-1", "text": "Door."}')
    await journal.flush()
    # The ack was lost in a crash: the broker sends it again, flagged DUP.
    again = rig.send("herald/hall/say", b'{"id": "door-1", "text": "Door."}', mid=2, dup=True)
    assert again in rig.broker.acked
    assert [c for c in rig.actions.calls if c[0] == "say"] == [("say", "Door.")]
    # The same say published again (not a redelivery) is spoken again.
    rig.send("herald/hall/say", b'{"id": "door-1", "text": "Door."}', mid=3)
    assert [c for c in rig.actions.calls if c[0] == "say"] == [("say", "Door.")] * 2


async def test_the_journal_replays_at_start_and_answers_a_poison_say(tmp_path: Path) -> None:
    path = tmp_path / "queue.jsonl"
    journal = Journal(path, wall_clock=lambda: 1000.0)
    journal.load()
    rig = Rig(journal)
    rig.send("herald/hall/say", b'{"id": "a", "text": "Alpha."}')
    rig.send("herald/hall/say", b'{"id": "b", "text": "Bravo."}')
    await journal.flush()
    rig.actions.starts[1]()  # "b" starts playing ... and herald dies
    await journal.flush()
    for crash in range(2):
        journal = Journal(path, wall_clock=lambda: 1030.0)
        replays = journal.load()
        assert [r.poison for r in replays] == [False, crash == 1]
        rig = Rig(journal)
        rig.router.replay(replays, 1030.0)
        if crash == 0:
            assert [c[1] for c in rig.actions.calls] == ["Alpha.", "Bravo."]
            assert rig.actions.ages == [30.0, 30.0]  # ttl counts from the first arrival
            rig.actions.starts[1]()  # "b" plays again, and herald dies again
            await journal.flush()
    # The third time "b" is answered instead of played; "a" is queued again.
    assert [c[1] for c in rig.actions.calls] == ["Alpha."]
    (failed,) = rig.events
    assert (failed.id, failed.event) == ("b", "failed")
    assert "stopped unexpectedly, twice" in failed.detail["error"]


async def test_a_clean_stop_does_not_count_as_a_crash(tmp_path: Path) -> None:
    path = tmp_path / "queue.jsonl"
    for _ in range(3):
        journal = Journal(path)
        replays = journal.load()
        rig = Rig(journal)
        if replays:
            assert not replays[0].poison
            rig.router.replay(replays, 0.0)
        else:
            rig.send("herald/hall/say", b"Stay with me.")
            await journal.flush()
        rig.actions.starts[0]()
        journal.halted()  # SIGTERM: the say is cut off, cleanly
        await journal.flush()
