"""MQTT commands in: topics, parsing at the edge, and hand-off to the speaker.

Every message is acknowledged once handled: a say when its utterance ends (the
speaker acks it), everything else at once, rejected ones included, so a poison
message is not redelivered for ever. Nothing raised here may stop the loop.
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import trio

from herald.commands import (
    Rejected,
    SayCommand,
    parse_hermes_say,
    parse_say,
    parse_stop,
    parse_stream_chunk,
    parse_volume,
)
from herald.commands.text import decode_payload, quote
from herald.control.settings import Controls
from herald.control.speaker import Job, Speaker, SpeakEvent
from herald.mqtt import Broker, Message
from herald.speech.feed import TextFeed

log = logging.getLogger("herald.router")

MAX_PAYLOAD = 65536
HERMES_SAY = "hermes/tts/say"
HERMES_FINISHED = "hermes/tts/sayFinished"
HERMES_ERROR = "hermes/error/tts"

# (topic, payload, retain): published by the daemon's outbox task, with QoS 1.
Outgoing = tuple[str, str, bool]


@dataclass(frozen=True, slots=True)
class Topics:
    prefix: str
    device: str
    groups: Sequence[str] = ()
    hermes: bool = False
    birth: str | None = None  # Home Assistant's status topic, with discovery on

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

    @property
    def button(self) -> str:
        return self._t(self.device, "button")

    def commands(self) -> dict[str, str]:
        """Command topic → kind."""
        kinds = {
            self._t(self.device, "say"): "say",
            self._t("all", "say"): "say",
            **{self._t("group", group, "say"): "say" for group in self.groups},
            self._t(self.device, "say", "stream"): "stream",
            self._t(self.device, "stop"): "stop",
            self._t("all", "stop"): "stop",
            self._t(self.device, "volume", "set"): "volume",
            self._t(self.device, "mute", "set"): "mute",
            self._t(self.device, "voice", "set"): "voice",
            self._t(self.device, "replay"): "replay",
        }
        if self.hermes:
            kinds[HERMES_SAY] = "hermes"
        if self.birth is not None:
            kinds[self.birth] = "birth"
        return kinds

    def subscriptions(self) -> list[tuple[str, int]]:
        return [(topic, 1) for topic in self.commands()]


class Router:
    def __init__(
        self,
        topics: Topics,
        broker: Broker,
        speaker: Speaker,
        controls: Controls,
        events: trio.MemorySendChannel[SpeakEvent],
        outbox: trio.MemorySendChannel[Outgoing],
        *,
        voices: Sequence[str] = (),
        stream_idle: float = 10.0,
        on_birth: Callable[[], None] = lambda: None,
    ) -> None:
        self._topics = topics
        self._kinds = topics.commands()
        self._broker = broker
        self._speaker = speaker
        self._controls = controls
        self._events = events
        self._outbox = outbox
        self._voices = list(voices)
        self._stream_idle = stream_idle
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
                self._speaker.submit(Job(parse_say(message.payload), trio.current_time(), [ack]))
                return
            if kind == "hermes":
                self._hermes(message.payload, ack)
                return
            if kind == "stream":
                self._stream(message.payload)
            else:
                self._setting(kind, message.payload)
        except Rejected as exc:
            self._reject(message.topic, exc.reason)
        ack()

    def _setting(self, kind: str, payload: bytes) -> None:
        if kind == "stop":
            self._speaker.stop(parse_stop(payload).id)
        elif kind == "volume":
            self._controls.set_volume(parse_volume(payload).volume)
        elif kind == "mute":
            self.set_mute(parse_switch(payload))
        elif kind == "voice":
            self._controls.set_voice(self._parse_voice(payload))
        elif kind == "replay":
            if not self._speaker.replay():
                raise Rejected("nothing to replay: nothing has been spoken since the start")
        elif kind == "birth" and decode_payload(payload).strip() == "online":
            log.info("Home Assistant is online: announcing herald again")
            self._on_birth()

    def set_mute(self, mute: bool) -> None:
        self._controls.set_mute(mute)
        if mute:
            self._speaker.drop_normal("muted")

    def _stream(self, payload: bytes) -> None:
        """A chunk is acknowledged as soon as it is added to its utterance: the broker
        lets only a few unacknowledged messages through (receive maximum), and a
        stream has hundreds. So a stream cut by a restart is not resumed."""
        chunk = parse_stream_chunk(payload)
        if self._speaker.feed_stream(chunk.id, chunk.text, chunk.final):
            return
        if self._speaker.handled(chunk.id):
            log.info("stream %s has ended: a late chunk was ignored", chunk.id)
            return
        feed = TextFeed(self._stream_idle)
        if chunk.text:
            feed.add(chunk.text)
        if chunk.final:
            feed.close()
        cmd = SayCommand(text=None, id=chunk.id)
        self._speaker.submit(Job(cmd, trio.current_time(), feed=feed))

    def _hermes(self, payload: bytes, ack: Callable[[], None]) -> None:
        try:
            say = parse_hermes_say(payload)
        except Rejected as exc:
            self._hermes_error(payload, exc.reason)
            raise
        if say.site_id not in (self._topics.device, "default"):
            log.debug("hermes say for site %s: not this one", say.site_id)
            ack()
            return
        finished = {"id": say.id, "siteId": say.site_id}
        if say.session_id is not None:
            finished["sessionId"] = say.session_id

        def say_finished() -> None:
            # Rhasspy's own TTS also reports sayFinished when speaking failed.
            self._send((HERMES_FINISHED, json.dumps(finished), False))

        cmd = SayCommand(text=say.text, id=say.id, language=hermes_language(say.lang))
        self._speaker.submit(Job(cmd, trio.current_time(), [ack, say_finished]))

    def _hermes_error(self, payload: bytes, reason: str) -> None:
        """A Hermes say for this site that cannot be spoken: Rhasspy's own TTS answers
        with hermes/error/tts and sayFinished, and a dialogue session waits for the
        latter, so do the same when the payload names an id and this site."""
        try:
            members = json.loads(payload)
        except ValueError:
            return
        if not isinstance(members, dict):
            return
        id, site = members.get("id"), members.get("siteId") or "default"
        session = members.get("sessionId")
        if not isinstance(site, str) or site not in (self._topics.device, "default"):
            return
        error: dict[str, object] = {"error": reason, "context": "herald", "siteId": site}
        if isinstance(session, str):
            error["sessionId"] = session
        self._send((HERMES_ERROR, json.dumps(error), False))
        if isinstance(id, str) and id:
            finished = {"id": id, "siteId": site}
            if isinstance(session, str):
                finished["sessionId"] = session
            self._send((HERMES_FINISHED, json.dumps(finished), False))

    def _parse_voice(self, payload: bytes) -> str:
        name = decode_payload(payload).removeprefix("\ufeff").strip()
        if name not in self._voices:
            allowed = ", ".join(quote(v) for v in self._voices) or "none are configured"
            raise Rejected(f"voice {quote(name)} is not one of cartesia.voices ({allowed})")
        return name

    def _send(self, message: Outgoing) -> None:
        try:
            self._outbox.send_nowait(message)
        except trio.WouldBlock:
            log.error("outgoing queue full: a message to %s was not published", message[0])

    def _reject(self, topic: str, reason: str) -> None:
        log.info("event id=- event=rejected topic=%s error=%s", topic, reason)
        try:
            self._events.send_nowait(
                SpeakEvent(None, "rejected", {"error": reason, "topic": topic})
            )
        except trio.WouldBlock:
            log.error("event channel full: rejected on %s not published", topic)


_ON = frozenset({"on", "true", "1"})
_OFF = frozenset({"off", "false", "0"})


def parse_switch(payload: bytes) -> bool:
    """`P/D/mute/set`: ON / OFF (Home Assistant's switch), also true/false and 1/0."""
    text = decode_payload(payload).removeprefix("\ufeff").strip()
    if text.lower() in _ON:
        return True
    if text.lower() in _OFF:
        return False
    shown = quote(text) if text else "nothing (the payload is empty)"
    raise Rejected(f'"mute": must be ON or OFF (or true/false, 1/0), got {shown}')


def hermes_language(lang: str | None) -> str | None:
    """Rhasspy's "en_US" / "de-DE" as Cartesia's "en" / "de"; None keeps the configured one."""
    if not lang:
        return None
    base = lang.replace("_", "-").split("-")[0].lower()
    return base if base.isascii() and base.isalpha() and 2 <= len(base) <= 3 else None
