"""Everything herald publishes: the events of each say, the retained state, the
outbox (Hermes answers, button presses), and Home Assistant discovery again when
Home Assistant asks for it (its birth message).

Producers (the speaker, the router, Hermes, the buttons) never wait: `emit` and
`send` put a message on a bounded channel (`EVENT_QUEUE`, `OUTBOX_QUEUE`) and a full
channel costs that message and a log line, never the caller. Every payload is masked
(`herald.secret.mask`) before it leaves: a server error that echoes the API key must
not reach MQTT.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
from collections.abc import Sequence
from typing import Any

import trio

from herald.cartesia.client import CloudState, CloudStatus
from herald.control.hurry import Hurry
from herald.control.settings import Settings
from herald.control.speaker import SpeakerState, SpeakEvent
from herald.control.topics import Topics
from herald.mqtt import Broker
from herald.observable import Observable
from herald.secret import Secret, mask
from herald.speech.refusals import Refusals
from herald.voice import VoiceParams

__all__ = ["EVENT_QUEUE", "EVENT_ROOM", "OUTBOX_QUEUE", "Outgoing", "Publisher", "public_error"]

log = logging.getLogger("herald.publisher")

EVENT_QUEUE = 1024
OUTBOX_QUEUE = 1024
# The router takes the next command only while this many events still fit: one command
# can cause a few hundred (a stop interrupts every queued say, 300 at most), and events
# must not be dropped because commands arrive faster than the broker takes events.
EVENT_ROOM = 512

# (topic, payload, retain): published with QoS 1.
Outgoing = tuple[str, str, bool]

# An absolute path in an error text: only its last part is published (the log keeps it
# whole). Possessive quantifiers: linear on any input.
_PATH = re.compile(r"""(?<![\w.~:/])/(?:[^\s/:'"()\[\]]++/)*+([^\s/:'"()\[\]]*+)""")


def public_error(text: str) -> str:
    """An error for an event: no local paths ("cannot read door.wav", not the path)."""
    return _PATH.sub(lambda m: m.group(1) or "/", text)


class Publisher:
    def __init__(
        self,
        broker: Broker,
        topics: Topics,
        *,
        speaker: Observable[SpeakerState],
        cloud: Observable[CloudStatus],
        settings: Settings,
        refusals: Refusals,
        defaults: VoiceParams,
        discovery: Sequence[Outgoing] = (),
        secrets: Sequence[Secret | None] = (),
        hurry: Hurry | None = None,
    ) -> None:
        self._broker = broker
        self._hurry = hurry if hurry is not None else Hurry()
        self._topics = topics
        self._speaker = speaker
        self._cloud = cloud
        self._settings = settings
        self._refusals = refusals
        self._defaults = defaults
        self._discovery = list(discovery)
        self._secrets = list(secrets)
        self._events_in, self._events_out = trio.open_memory_channel[SpeakEvent](EVENT_QUEUE)
        self._outbox_in, self._outbox_out = trio.open_memory_channel[Outgoing](OUTBOX_QUEUE)
        self._state_dirty = _Dirty()
        self._republish_state = False
        self._room = trio.Event()
        self.last_latency_ms = Observable[float | None](None)

    # --- for producers (never block) ---

    def emit(self, event: SpeakEvent) -> None:
        try:
            self._events_in.send_nowait(event)
        except trio.WouldBlock:
            log.error("event queue full: %s for %s not published", event.event, event.id)

    async def wait_for_room(self) -> None:
        """Until EVENT_ROOM more events fit in the event queue and the broker keeps up
        with our publications (Broker.outbound_room). The router waits here before
        each command, so a flood of commands slows down to the pace the broker takes
        their events, instead of losing the events: the MQTT input fills and herald
        stops reading the socket (backpressure)."""
        while self._events_in.statistics().current_buffer_used > EVENT_QUEUE - EVENT_ROOM:
            if self._room.is_set():
                self._room = trio.Event()
            await self._room.wait()
        await self._broker.outbound_room()

    def send(self, message: Outgoing) -> None:
        try:
            self._outbox_in.send_nowait(message)
        except trio.WouldBlock:
            log.error("outgoing queue full: a message to %s was not published", message[0])

    def button(self, button: str, press: str) -> None:
        self.send((self._topics.button, json.dumps({"button": button, "press": press}), False))

    def announce_again(self) -> None:
        """Home Assistant restarted: its birth message is not retained, so announce the
        entities and the current state again."""
        for message in self._discovery:
            self.send(message)
        self._republish_state = True
        self._state_dirty.set()

    # --- the service ---

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._publish_events)
            nursery.start_soon(self._publish_outbox)
            nursery.start_soon(self._publish_state)
            task_status.started()

    async def flush(self) -> None:
        """Publish the events already queued (a stop's interrupted events), then return."""
        while True:
            try:
                event = self._events_out.receive_nowait()
            except trio.WouldBlock:
                return
            await self._publish_event(event)

    async def _publish(self, topic: str, payload: str, *, retain: bool = False) -> None:
        await self._broker.publish(topic, mask(payload, self._secrets), qos=1, retain=retain)

    async def _publish_events(self) -> None:
        async for event in self._events_out:
            await self._hurry.wait_clear()  # a say on its way to its first sound first
            await self._publish_event(event)
            if self._events_in.statistics().current_buffer_used <= EVENT_QUEUE - EVENT_ROOM:
                self._room.set()

    async def _publish_event(self, event: SpeakEvent) -> None:
        if event.event == "started" and "latency_ms" in event.detail:
            self.last_latency_ms.set(event.detail["latency_ms"])
        payload = event.payload()
        if isinstance(payload.get("error"), str):
            payload["error"] = public_error(payload["error"])
        await self._publish(self._topics.event, json.dumps(payload))

    async def _publish_outbox(self) -> None:
        async for topic, payload, retain in self._outbox_out:
            await self._hurry.wait_clear()
            await self._publish(topic, payload, retain=retain)

    async def _publish_state(self) -> None:
        last: dict[str, Any] | None = None
        was_connected = False
        settings = self._settings
        watched: list[Observable[Any]] = [
            self._speaker,
            self._cloud,
            settings.volume,
            settings.mute,
            settings.voice,
            self._refusals.changed,
            self.last_latency_ms,
            self._broker.connected,
            self._broker.denied,
        ]
        dirty = self._state_dirty
        with contextlib.ExitStack() as subscriptions:
            for observable in watched:
                subscriptions.callback(observable.subscribe(dirty.set))
            while True:
                # Cleared before the state is read: a change while the publish below
                # yields is then still seen, not lost.
                await self._hurry.wait_clear()
                dirty.clear()
                state = self.state()
                connected = self._broker.connected.value
                # Again on every (re)connect: a broker that lost its store lost the
                # retained state too; and when Home Assistant asks (its birth message).
                again, self._republish_state = self._republish_state, False
                if state != last or (connected and not was_connected) or again:
                    await self._publish(self._topics.state, json.dumps(state), retain=True)
                    last = state
                was_connected = connected
                await dirty.wait()

    def state(self) -> dict[str, Any]:
        """`P/D/state`: product.md's fields, then herald's additions."""
        speaker = self._speaker.value
        settings = self._settings
        cloud, cloud_error = self._cloud_state()
        state: dict[str, Any] = {
            "state": "speaking" if speaker.speaking else "idle",
            "cloud": cloud,
            "volume": settings.volume.value,
            "queue": speaker.queue,
            "mute": settings.mute.value,
        }
        if cloud_error is not None:
            state["cloud_error"] = cloud_error
        voice = settings.voice_name
        if voice is not None:
            state["voice"] = voice
        latency = self.last_latency_ms.value
        if latency is not None:
            state["last_latency_ms"] = round(latency)
        denied = self._broker.denied.value
        if denied:
            # Subscriptions the broker's ACL denies: herald hears nothing there.
            state["denied_topics"] = list(denied)
        return state

    def _cloud_state(self) -> tuple[str, str | None]:
        """online / offline / error, and for error what to fix."""
        status = self._cloud.value
        if status.state is CloudState.ERROR:
            return "error", status.reason
        refused = self._refusals.refused(self._defaults)
        if refused is not None:
            return "error", f"{refused}; change {refused.config_key} and reload"
        return ("online" if status.online else "offline"), None


class _Dirty:
    """Set when any of the values the state is made of changes: one Event for all."""

    def __init__(self) -> None:
        self._event = trio.Event()

    def set(self) -> None:
        self._event.set()

    def clear(self) -> None:
        if self._event.is_set():
            self._event = trio.Event()

    async def wait(self) -> None:
        await self._event.wait()
