"""MQTT commands in: topics, parsing at the edge, and hand-off to the speaker.

Every message is acknowledged once handled: a say when its utterance ends (the
speaker acks it), everything else at once, rejected ones included, so a poison
message is not redelivered for ever. Nothing raised here may stop the loop.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass

import trio

from herald.audio import Player
from herald.commands import Rejected, parse_say, parse_stop, parse_volume
from herald.mqtt import Broker, Message
from herald.observable import Observable
from herald.speaker import Job, Speaker, SpeakEvent

log = logging.getLogger("herald.router")

MAX_PAYLOAD = 65536


@dataclass(frozen=True, slots=True)
class Topics:
    prefix: str
    device: str

    def _t(self, *parts: str) -> str:
        return "/".join((self.prefix, *parts))

    @property
    def availability(self) -> str:
        return self._t(self.device, "availability")

    @property
    def state(self) -> str:
        return self._t(self.device, "state")

    @property
    def event(self) -> str:
        return self._t(self.device, "event")

    def commands(self) -> dict[str, str]:
        """Command topic → kind."""
        return {
            self._t(self.device, "say"): "say",
            self._t("all", "say"): "say",
            self._t(self.device, "stop"): "stop",
            self._t("all", "stop"): "stop",
            self._t(self.device, "volume", "set"): "volume",
        }

    def subscriptions(self) -> list[tuple[str, int]]:
        return [(topic, 1) for topic in self.commands()]


class Router:
    def __init__(
        self,
        topics: Topics,
        broker: Broker,
        speaker: Speaker,
        player: Player,
        events: trio.MemorySendChannel[SpeakEvent],
    ) -> None:
        self._kinds = topics.commands()
        self._broker = broker
        self._speaker = speaker
        self._player = player
        self._events = events
        self.volume = Observable(player.volume)

    async def run(self) -> None:
        async for message in self._broker.messages:
            try:
                self.handle(message)
            except Exception:  # a bug must cost one message, not the daemon
                log.exception("error handling a message on %s", message.topic)
                self._broker.ack(message)

    def handle(self, message: Message) -> None:
        kind = self._kinds.get(message.topic)
        if kind is None or message.retain:
            # A retained command would replay at every start: never act on one.
            if message.retain:
                log.info("ignored a retained message on %s", message.topic)
            self._broker.ack(message)
            return
        ack = functools.partial(self._broker.ack, message)
        try:
            if message.oversize:
                raise Rejected(f"payload is {message.size} bytes; the limit is {MAX_PAYLOAD}")
            if kind == "say":
                cmd = parse_say(message.payload)
                self._speaker.submit(Job(cmd, trio.current_time(), [ack]))
                return
            if kind == "stop":
                self._speaker.stop(parse_stop(message.payload).id)
            elif kind == "volume":
                self.set_volume(parse_volume(message.payload).volume)
        except Rejected as exc:
            self._reject(message.topic, exc.reason)
        ack()

    def set_volume(self, volume: int) -> None:
        self._player.set_volume(volume)
        self.volume.set(volume)
        log.info("volume %d", volume)

    def _reject(self, topic: str, reason: str) -> None:
        log.info("event id=- event=rejected topic=%s error=%s", topic, reason)
        try:
            self._events.send_nowait(
                SpeakEvent(None, "rejected", {"error": reason, "topic": topic})
            )
        except trio.WouldBlock:
            log.error("event channel full: rejected on %s not published", topic)
