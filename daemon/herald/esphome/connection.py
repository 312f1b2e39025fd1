"""One client of herald's ESPHome API (normally Home Assistant): the state machine.

hello → (authentication, ignored: there is no password) → device info, entity list,
state subscription → commands and announcements, with pings both ways, until either
side disconnects. Runs on any `trio.abc.Stream`, so tests drive it over memory streams
on trio's MockClock as well as over TCP.

Bounds: the handshake (TCP accept to HelloRequest answered) must finish within
`ConnectionTuning.handshake_s`; a client silent for `idle_ping_s` gets a PingRequest
and is dropped after `idle_close_s`; a write that takes longer than `write_s` drops
it; at most `outbox` messages wait to be written (a client that does not read is
dropped, never buffered without end); at most `max_announces` announcements wait at
once per connection; after `max_bad_messages` unparsable messages the client is
dropped.
"""

from __future__ import annotations

import logging
import operator
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

import trio

from herald.esphome.entities import Entities, MediaState
from herald.esphome.frames import Codec, FrameError
from herald.esphome.messages import IGNORED, BadMessage, Message, decode, encode, pb
from herald.esphome.port import AnnounceOutcome, SpeakerPort

__all__ = ["Connection", "ConnectionTuning"]

log = logging.getLogger("herald.esphome")

_LOG_TEXT_MAX = 64  # client-supplied strings in log lines are cut to this


@dataclass(frozen=True, slots=True)
class ConnectionTuning:
    handshake_s: float = 15.0
    idle_ping_s: float = 60.0
    idle_close_s: float = 90.0
    write_s: float = 10.0
    outbox: int = 256
    max_announces: int = 4
    max_bad_messages: int = 10
    read_size: int = 16384
    # Time to write what is queued (a DisconnectResponse, a refusal) before closing.
    flush_s: float = 2.0


class _Close(Exception):
    """End this connection; the message says why (for the log)."""

    def __init__(self, reason: str, level: int = logging.INFO) -> None:
        super().__init__(reason)
        self.level = level


def _clip(text: str) -> str:
    text = "".join(c if c.isprintable() else "?" for c in text)
    return text if len(text) <= _LOG_TEXT_MAX else text[: _LOG_TEXT_MAX - 1] + "…"


class Connection:
    """Serves one client until it leaves, misbehaves or the server stops (cancel)."""

    def __init__(
        self,
        stream: trio.abc.Stream,
        codec: Codec,
        peer: str,
        entities: Entities,
        port: SpeakerPort,
        *,
        tuning: ConnectionTuning | None = None,
    ) -> None:
        self._stream = stream
        self._codec = codec
        self.peer = peer
        self._entities = entities
        self._port = port
        self._t = tuning or ConnectionTuning()
        self._out_send, self._out_recv = trio.open_memory_channel[bytes](self._t.outbox)
        self._writer_done = trio.Event()
        self._hello_done = False
        self.subscribed = False  # to entity states: gets state changes and button events
        self._announces = 0
        self._bad_messages = 0
        self._unknown_logged: set[int] = set()
        self._closing: _Close | None = None
        self._nursery: trio.Nursery | None = None

    # --- the service ------------------------------------------------------------

    async def run(self) -> None:
        """Serve until the connection ends; never raises for anything the client does."""
        try:
            async with trio.open_nursery() as nursery:
                self._nursery = nursery
                nursery.start_soon(self._write_loop)
                try:
                    await self._read_loop()
                except FrameError as exc:
                    if exc.reply:
                        self._queue(exc.reply)
                    self._closing = _Close(f"refused: {exc}", logging.WARNING)
                except _Close as exc:
                    self._closing = exc
                except trio.BrokenResourceError:
                    self._closing = _Close("connection lost")
                # Let the writer send what is queued (a refusal, a DisconnectResponse).
                self._out_send.close()
                with trio.move_on_after(self._t.flush_s):
                    await self._writer_done.wait()
                nursery.cancel_scope.cancel()
        finally:
            self._nursery = None
            closing = self._closing or _Close("server stopping")
            log.log(closing.level, "ESPHome API: %s disconnected: %s", self.peer, closing)
            with trio.CancelScope(shield=True):
                await trio.aclose_forcefully(self._stream)

    def close(self, reason: str, level: int = logging.INFO) -> None:
        """End the connection from outside (or from a task of its own); idempotent."""
        if self._closing is None:
            self._closing = _Close(reason, level)
        if self._nursery is not None:
            self._nursery.cancel_scope.cancel()

    # --- sending ------------------------------------------------------------------

    def send(self, msg: Message) -> None:
        """Queue a message (encoded now, so that Noise nonces follow the queue order)."""
        if not self._codec.ready or self._closing is not None:
            return
        msg_type, payload = encode(msg)
        self._queue(self._codec.encode(msg_type, payload))

    def _queue(self, data: bytes) -> None:
        try:
            self._out_send.send_nowait(data)
        except trio.WouldBlock:
            self.close(f"not reading ({self._t.outbox} messages waiting)", logging.WARNING)
        except trio.ClosedResourceError:
            pass

    async def _write_loop(self) -> None:
        try:
            async for data in self._out_recv:
                with trio.move_on_after(self._t.write_s) as scope:
                    await self._stream.send_all(data)
                if scope.cancelled_caught:
                    self.close(f"a write took over {self._t.write_s:g} s", logging.WARNING)
                    return
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            self.close("connection lost")
        finally:
            self._writer_done.set()

    # --- receiving ----------------------------------------------------------------

    async def _read_loop(self) -> None:
        t = self._t
        hello_deadline = trio.current_time() + t.handshake_s
        pinged = False
        while True:
            if not self._hello_done:
                wait = hello_deadline - trio.current_time()
            else:
                wait = (t.idle_close_s - t.idle_ping_s) if pinged else t.idle_ping_s
            with trio.move_on_after(max(wait, 0.0)) as scope:
                data = await self._stream.receive_some(t.read_size)
            if scope.cancelled_caught:
                if not self._hello_done:
                    raise _Close(f"no handshake within {t.handshake_s:g} s", logging.WARNING)
                if pinged:
                    raise _Close(f"silent for {t.idle_close_s:g} s", logging.WARNING)
                self.send(pb.PingRequest())
                pinged = True
                continue
            if not data:
                raise _Close("closed by the client")
            pinged = False
            received = self._codec.receive(data)
            if received.reply:
                self._queue(received.reply)
            for msg_type, payload in received.messages:
                self._handle(msg_type, payload)
                if self._closing is not None:
                    raise self._closing

    def _handle(self, msg_type: int, payload: bytes) -> None:
        try:
            msg = decode(msg_type, payload)
        except BadMessage as exc:
            self._bad_messages += 1
            log.warning("ESPHome API: %s sent a bad message: %s (ignored)", self.peer, exc)
            if self._bad_messages >= self._t.max_bad_messages:
                raise _Close(f"{self._bad_messages} bad messages", logging.WARNING) from None
            return
        if not self._hello_done:
            if not isinstance(msg, pb.HelloRequest):
                raise _Close(f"message type {msg_type} before HelloRequest", logging.WARNING)
            self._hello(msg)
            return
        if msg is None:
            if msg_type not in IGNORED and msg_type not in self._unknown_logged:
                self._unknown_logged.add(msg_type)
                log.info("ESPHome API: %s: message type %d is not handled", self.peer, msg_type)
            return
        handler = _HANDLERS.get(type(msg))
        if handler is not None:
            handler(self, msg)

    # --- handlers ---------------------------------------------------------------------

    def _hello(self, msg: pb.HelloRequest) -> None:
        self._hello_done = True
        log.info(
            "ESPHome API: %s connected (%s, API %d.%d)",
            self.peer,
            _clip(msg.client_info) or "no client info",
            msg.api_version_major,
            msg.api_version_minor,
        )
        self.send(self._entities.hello())

    def _on_disconnect(self, msg: pb.DisconnectRequest) -> None:
        self.send(pb.DisconnectResponse())
        raise _Close("disconnected by the client")

    def _on_disconnect_response(self, msg: pb.DisconnectResponse) -> None:
        raise _Close("disconnected")

    def _on_ping(self, msg: pb.PingRequest) -> None:
        self.send(pb.PingResponse())

    def _on_device_info(self, msg: pb.DeviceInfoRequest) -> None:
        self.send(self._entities.device_info())

    def _on_list_entities(self, msg: pb.ListEntitiesRequest) -> None:
        for entity in self._entities.listing():
            self.send(entity)
        self.send(pb.ListEntitiesDoneResponse())

    def _on_subscribe_states(self, msg: pb.SubscribeStatesRequest) -> None:
        if self.subscribed or self._nursery is None:
            return
        self.subscribed = True
        self._nursery.start_soon(self._publish_states)

    def _on_media_player_command(self, msg: pb.MediaPlayerCommandRequest) -> None:
        if msg.key != self._entities.media_key:
            log.info("ESPHome API: %s: command for unknown entity %#x", self.peer, msg.key)
            return
        port = self._port
        if msg.has_volume:
            volume = msg.volume
            if volume == volume:  # not NaN
                self._call("set_volume", port.set_volume, round(min(max(volume, 0.0), 1.0) * 100))
        if msg.has_command:
            self._command(msg.command)
        if msg.has_media_url:
            url = msg.media_url
            announce = msg.has_announcement and msg.announcement
            log.info(
                "ESPHome API: %s: play %s%s",
                self.peer,
                _clip(url),
                " (announce)" if announce else "",
            )
            self._call("play_media", port.play_media, url, announce=announce)

    def _command(self, command: int) -> None:
        port = self._port
        if command == pb.MEDIA_PLAYER_COMMAND_STOP:
            self._call("stop", port.stop)
        elif command in (pb.MEDIA_PLAYER_COMMAND_MUTE, pb.MEDIA_PLAYER_COMMAND_UNMUTE):
            self._call("set_mute", port.set_mute, command == pb.MEDIA_PLAYER_COMMAND_MUTE)
        elif command in (pb.MEDIA_PLAYER_COMMAND_VOLUME_UP, pb.MEDIA_PLAYER_COMMAND_VOLUME_DOWN):
            step = 1 if command == pb.MEDIA_PLAYER_COMMAND_VOLUME_UP else -1
            self._call("step_volume", port.step_volume, step)
        else:
            # Pause, play, toggle, playlists, power: a speaker of announcements has none.
            log.info("ESPHome API: %s: media player command %d: not supported", self.peer, command)

    def _call(self, what: str, fn: Callable[..., None], *args: Any, **kwargs: Any) -> None:
        try:
            fn(*args, **kwargs)
        except Exception:  # a bug in herald costs this command, not the connection
            log.exception("ESPHome API: %s: error in %s", self.peer, what)

    def _on_subscribe_voice_assistant(self, msg: pb.SubscribeVoiceAssistantRequest) -> None:
        log.debug("ESPHome API: %s: voice assistant subscribe=%s", self.peer, msg.subscribe)

    def _on_satellite_configuration(self, msg: pb.VoiceAssistantConfigurationRequest) -> None:
        self.send(self._entities.satellite_configuration())

    def _on_announce(self, msg: pb.VoiceAssistantAnnounceRequest) -> None:
        if self._announces >= self._t.max_announces:
            log.warning(
                "ESPHome API: %s: %d announcements already waiting; this one is refused",
                self.peer,
                self._announces,
            )
            self.send(pb.VoiceAssistantAnnounceFinished(success=False))
            return
        assert self._nursery is not None
        self._announces += 1
        self._nursery.start_soon(self._announce, msg)

    async def _announce(self, msg: pb.VoiceAssistantAnnounceRequest) -> None:
        try:
            text = msg.text.strip() or None
            media = msg.media_id or None
            pre = msg.preannounce_media_id or None
            log.info(
                "ESPHome API: %s: announce %s%s",
                self.peer,
                f"text ({len(text)} characters)" if text else f"media {_clip(media or '')}",
                " after the pre-announce sound" if pre else "",
            )
            if text is None and media is None:
                outcome = AnnounceOutcome(False, "failed", "neither text nor media")
            else:
                outcome = await _guarded(self._port.announce(text, media, pre), self.peer)
            if not outcome.success:
                log.info(
                    "ESPHome API: %s: announcement %s%s",
                    self.peer,
                    outcome.event,
                    f" ({outcome.detail})" if outcome.detail else "",
                )
            self.send(pb.VoiceAssistantAnnounceFinished(success=outcome.success))
        finally:
            self._announces -= 1

    # --- states -------------------------------------------------------------------

    async def _publish_states(self) -> None:
        port = self._port
        last: MediaState | None = None
        while True:
            state = MediaState(port.playback.value, port.volume.value, port.muted.value)
            if state != last:
                self.send(self._entities.media_state(state))
                last = state
            await _wait_any(
                partial(port.playback.wait_until, partial(operator.ne, state.playback)),
                partial(port.volume.wait_until, partial(operator.ne, state.volume)),
                partial(port.muted.wait_until, partial(operator.ne, state.muted)),
            )


async def _guarded(call: Awaitable[AnnounceOutcome], peer: str) -> AnnounceOutcome:
    try:
        return await call
    except Exception as exc:  # a bug in herald answers "failed", it does not end the link
        log.exception("ESPHome API: %s: error in announce", peer)
        return AnnounceOutcome(False, "failed", f"internal error ({type(exc).__name__})")


async def _wait_any(*waiters: Callable[[], Awaitable[Any]]) -> None:
    async with trio.open_nursery() as nursery:

        async def one(wait: Callable[[], Awaitable[Any]]) -> None:
            await wait()
            nursery.cancel_scope.cancel()

        for wait in waiters:
            nursery.start_soon(one, wait)


_HANDLERS: dict[type[Message], Callable[[Connection, Any], None]] = {
    pb.DisconnectRequest: Connection._on_disconnect,
    pb.DisconnectResponse: Connection._on_disconnect_response,
    pb.PingRequest: Connection._on_ping,
    pb.DeviceInfoRequest: Connection._on_device_info,
    pb.ListEntitiesRequest: Connection._on_list_entities,
    pb.SubscribeStatesRequest: Connection._on_subscribe_states,
    pb.MediaPlayerCommandRequest: Connection._on_media_player_command,
    pb.SubscribeVoiceAssistantRequest: Connection._on_subscribe_voice_assistant,
    pb.VoiceAssistantConfigurationRequest: Connection._on_satellite_configuration,
    pb.VoiceAssistantAnnounceRequest: Connection._on_announce,
}
