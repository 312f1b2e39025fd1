"""MQTT commands in: topic → parser → action, with acks and rejected events.

Every message is acknowledged to the broker once herald has taken responsibility for
it: a say once it is in herald's queue journal (`herald.control.journal`; it survives a
crash there, and the broker can deliver what follows it, a stop too), or when it has
ended if the journal cannot be written; everything else once handled, rejected ones
included, so a poison message is not redelivered for ever. A retained command is never
acted on (it would replay at every start). Nothing raised here may stop the loop.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable, Sequence

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
from herald.control.journal import Journal, Replay
from herald.control.speaker import SpeakEvent, StreamTooLong
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
        journal: Journal | None = None,
        on_birth: Callable[[], None] = lambda: None,
        room: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self._journal = journal
        self._room = room
        self._kinds = topics.commands()
        self._broker = broker
        self._actions = actions
        self._emit = emit
        self._hermes = hermes
        self._on_birth = on_birth

    async def run(self) -> None:
        async for message in self._broker.messages:
            if self._room is not None:
                await self._room()  # the events of what came before are on their way
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
        topic, payload = message.topic, message.payload
        try:
            if message.oversize:
                raise Rejected(f"payload is {message.size} bytes; the limit is {MAX_PAYLOAD_BYTES}")
            if kind in ("say", "hermes") and message.dup and self._redelivered(topic, payload):
                log.info("a redelivered say on %s is already queued or spoken", topic)
            elif kind == "say":
                cmd = parse_say(payload)
                acks, on_start = self._accept(topic, payload, ack)
                self._actions.say(cmd, acks, on_start=on_start)
                return
            elif kind == "hermes" and self._hermes is not None:
                accept = functools.partial(self._accept, topic, payload, ack)
                self._hermes.say(payload, ack, accept)
                return
            else:
                self._command(kind, payload)
        except Rejected as exc:
            self._reject(topic, exc.reason)
        ack()

    def _redelivered(self, topic: str, payload: bytes) -> bool:
        return self._journal is not None and self._journal.redelivered(topic, payload)

    def _accept(
        self, topic: str, payload: bytes, ack: Callable[[], None]
    ) -> tuple[list[Callable[[], None]], Callable[[], None] | None]:
        """An accepted say: into the journal, acknowledged to the broker once it is on
        disk; its entry ends with the say. Without the journal: acknowledged when the
        say has ended."""
        journal = self._journal
        entry = journal.add(topic, payload, ack) if journal is not None else None
        if entry is None or journal is None:
            return [ack], None
        return [functools.partial(journal.ended, entry)], functools.partial(journal.started, entry)

    def replay(self, replays: Sequence[Replay], wall_now: float) -> None:
        """The says the journal held at start: queued again, their ttl counted from when
        they first arrived; one that stopped herald twice is answered, not played."""
        journal = self._journal
        assert journal is not None
        for replay in replays:
            ended = functools.partial(journal.ended, replay.entry)
            started = functools.partial(journal.started, replay.entry)
            kind = self._kinds.get(replay.topic)
            age = wall_now - replay.arrived_wall
            try:
                if replay.poison:
                    self._poison(replay)
                    ended()
                elif kind == "say":
                    cmd = parse_say(replay.payload)
                    self._actions.say(cmd, [ended], on_start=started, age=age)
                elif kind == "hermes" and self._hermes is not None:
                    accept = functools.partial(_accepted, ended, started)
                    self._hermes.say(replay.payload, ended, accept, age=age)
                else:  # no longer a say topic of this config
                    ended()
            except Rejected as exc:
                self._reject(replay.topic, exc.reason)
                ended()

    def _poison(self, replay: Replay) -> None:
        try:
            id: str | None = parse_say(replay.payload).id
        except Rejected:
            id = None
        error = (
            "this say was playing when herald stopped unexpectedly, twice; it is not tried again"
        )
        log.error("event id=%s event=failed topic=%s error=%s", id, replay.topic, error)
        self._emit(SpeakEvent(id, "failed", {"error": error, "topic": replay.topic}))

    def _command(self, kind: Kind, payload: bytes) -> None:
        actions = self._actions
        if kind == "stream":
            # Acknowledged as soon as it is added to its say: the broker lets only a
            # few unacknowledged messages through (receive maximum), and a stream has
            # hundreds. So a stream cut by a restart is not resumed.
            chunk = parse_stream_chunk(payload)
            try:
                actions.stream_chunk(chunk.id, chunk.text, chunk.final)
            except StreamTooLong as exc:
                raise Rejected(str(exc)) from None
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


def _accepted(
    ended: Callable[[], None], started: Callable[[], None]
) -> tuple[list[Callable[[], None]], Callable[[], None] | None]:
    return [ended], started
