"""MQTT commands in: topic → parser → action, with acks and rejected events.

Every message is acknowledged once handled: a say when it has ended (the speaker runs
its ack), everything else at once, rejected ones included, so a poison message is not
redelivered for ever. A retained command is never acted on (it would replay at every
start). Nothing raised here may stop the loop.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable

from herald.commands import (
    Rejected,
    parse_say,
    parse_stop,
    parse_stream_chunk,
    parse_switch,
    parse_voice_name,
    parse_volume,
)
from herald.commands.payload import MAX_PAYLOAD_BYTES, decode_payload
from herald.commands.reasons import quote
from herald.control.actions import Actions
from herald.control.hermes import Hermes
from herald.control.speaker import SpeakEvent
from herald.control.topics import Kind, Topics
from herald.mqtt import Broker, Message

__all__ = ["Router"]

log = logging.getLogger("herald.router")


class Router:
    def __init__(
        self,
        topics: Topics,
        broker: Broker,
        actions: Actions,
        emit: Callable[[SpeakEvent], None],
        *,
        hermes: Hermes | None = None,
        on_birth: Callable[[], None] = lambda: None,
    ) -> None:
        self._kinds = topics.commands()
        self._broker = broker
        self._actions = actions
        self._emit = emit
        self._hermes = hermes
        self._on_birth = on_birth

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
            if message.retain:
                log.info("ignored a retained message on %s", message.topic)
            self._broker.ack(message)
            return
        ack = functools.partial(self._broker.ack, message)
        try:
            if message.oversize:
                raise Rejected(f"payload is {message.size} bytes; the limit is {MAX_PAYLOAD_BYTES}")
            if kind == "say":
                self._actions.say(parse_say(message.payload), [ack])
                return
            if kind == "hermes" and self._hermes is not None:
                self._hermes.say(message.payload, ack)
                return
            self._command(kind, message.payload)
        except Rejected as exc:
            self._reject(message.topic, exc.reason)
        ack()

    def _command(self, kind: Kind, payload: bytes) -> None:
        actions = self._actions
        if kind == "stream":
            # Acknowledged as soon as it is added to its say: the broker lets only a
            # few unacknowledged messages through (receive maximum), and a stream has
            # hundreds. So a stream cut by a restart is not resumed.
            chunk = parse_stream_chunk(payload)
            actions.stream_chunk(chunk.id, chunk.text, chunk.final)
        elif kind == "stop":
            actions.stop(parse_stop(payload).id)
        elif kind == "volume":
            actions.set_volume(parse_volume(payload).volume)
        elif kind == "mute":
            actions.set_mute(parse_switch(payload, "mute"))
        elif kind == "voice":
            name = parse_voice_name(payload)
            if not actions.set_voice(name):
                allowed = ", ".join(quote(v) for v in actions.voices) or "none are configured"
                raise Rejected(f"voice {quote(name)} is not one of cartesia.voices ({allowed})")
        elif kind == "replay":
            if not actions.replay():
                raise Rejected("nothing to replay: nothing has been spoken since the start")
        elif kind == "birth" and decode_payload(payload).strip() == "online":
            log.info("Home Assistant is online: announcing herald again")
            self._on_birth()

    def _reject(self, topic: str, reason: str) -> None:
        log.info("event id=- event=rejected topic=%s error=%s", topic, reason)
        self._emit(SpeakEvent(None, "rejected", {"error": reason, "topic": topic}))
