"""The speaker: one utterance at a time, from the queue, with its events.

Every accepted say gets exactly one ``queued`` event and then, in order, at most
one ``started`` and exactly one terminal event: ``finished``, ``interrupted``
(stop, or an interrupting say), ``dropped`` (its ttl passed before it started) or
``failed``. The job's ``ack`` runs once that terminal event is out, so a QoS1
command is acknowledged only when it has been handled.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import msgspec
import trio

from herald.audio import Player, StreamMetrics
from herald.commands import Priority, SayCommand, new_id
from herald.control.hurry import Hurry
from herald.control.queue import Queued, SpeakQueue
from herald.control.settings import Gate
from herald.observable import Observable
from herald.speech import Production, Sources, SpeechFailed, produce
from herald.speech.feed import MAX_STREAM_CHARS, TextFeed

if TYPE_CHECKING:
    from herald.media import MediaSource
from herald.speech.voicing import Voicing
from herald.voice import VoiceParams

log = logging.getLogger("herald.speaker")

_REMEMBER_IDS = 1000  # ids of ended streams kept, to ignore their late chunks
# Says waiting to be spoken. Past it a normal say is dropped at once (reason
# "queue_full"); a high-priority one may use as many again (the doorbell must not be
# crowded out by a flood), then it is dropped too.
MAX_QUEUE = 100


@dataclass
class Job:
    cmd: SayCommand
    arrived: float  # trio time the command arrived
    acks: list[Callable[[], None]] = field(default_factory=list)  # run once it has ended
    feed: TextFeed | None = None  # the text of a streamed say, still arriving
    on_start: Callable[[], None] | None = None  # run when it starts playing
    # A media job (Home Assistant's play_media, an announce without text): the WAV at
    # this URL is played instead of the say's text.
    media_url: str | None = None
    prelude_url: str | None = None  # played first, with no gap (a pre-announce sound)
    announce: bool = False  # an announcement (the media player shows "announcing")
    origin: str | None = None  # the front end, when not MQTT ("esphome"): in every event
    on_end: Callable[[str, dict[str, Any]], None] | None = None  # the terminal event

    def ack(self) -> None:
        for ack in self.acks:
            ack()
        self.acks.clear()


class StreamTooLong(Exception):
    def __init__(self, length: int) -> None:
        super().__init__(
            f"the streamed say is already {length} characters; the limit is "
            f"{MAX_STREAM_CHARS}: what came is spoken, the rest is not"
        )


@dataclass(frozen=True, slots=True)
class SpeakEvent:
    id: str | None  # None for a rejected payload that named no id
    event: str
    detail: dict[str, Any] = field(default_factory=dict)

    def payload(self) -> dict[str, Any]:
        return {"id": self.id, "event": self.event, **self.detail}


@dataclass(frozen=True, slots=True)
class SpeakerState:
    speaking: bool = False
    queue: int = 0
    announcing: bool = False  # what plays is an announcement


class SpeakerSettings(Protocol):
    """What the speaker asks the runtime settings (`herald.control.settings.Settings`)."""

    def resolve_voice(self, voice: str | None) -> str: ...

    def gate(self, priority: Priority, volume: int | None) -> Gate: ...

    def playing(self, volume: int | None, cap: int | None) -> AbstractContextManager[None]: ...


class Speaker:
    def __init__(
        self,
        sources: Sources,
        player: Player,
        defaults: VoiceParams,
        emit: Callable[[SpeakEvent], None],
        settings: SpeakerSettings,
        *,
        voicing: Voicing | None = None,
        media: MediaSource | None = None,
        wall_clock: Callable[[], float] = time.time,
        hurry: Hurry | None = None,
    ) -> None:
        self._media = media  # fetches media URLs (Home Assistant's), when there are any
        self._sources = sources
        self._player = player
        self._defaults = defaults
        self._voicing = voicing if voicing is not None else Voicing()
        self._emit = emit
        self._settings = settings
        self._wall_clock = wall_clock  # only to turn a say's `at` into trio time
        self.last: SayCommand | None = None  # the last utterance that started: replay
        self._queue: SpeakQueue[Job] = SpeakQueue()
        self._wake = trio.Event()
        self._current: Queued[Job] | None = None
        self._current_scope: trio.CancelScope | None = None
        # The last say that went to the player: its last part may still be in the
        # card's ring after it ended (handed over, not heard), for a stop to cut.
        self._sounding: Queued[Job] | None = None
        self._handled: OrderedDict[str, None] = OrderedDict()
        self._halted = False
        self._stop_reason: str | None = None  # the current one was stopped by mute: dropped
        self.state = Observable(SpeakerState())
        # Held while a say is on its way to its first sound (control/hurry.py).
        self._hurry = hurry
        self._underway: Callable[[], None] | None = None

    # --- commands (synchronous, from the router) -----------------------------

    def submit(self, job: Job) -> None:
        """Queue a say. A say id may be used again: a redelivery of the same message is
        recognised before it gets here (`herald.control.journal`)."""
        cmd = job.cmd
        queued = len(self._queue)
        if queued >= MAX_QUEUE * (2 if cmd.priority == "high" else 1):
            self._reject_now(job, "dropped", reason="queue_full")
            return
        if cmd.at is not None and self._starts_too_late(job):
            self._reject_now(job, "dropped", reason="ttl")
            return
        self._queue.push(
            cmd.id,
            job,
            high=cmd.priority == "high",
            deadline=job.arrived + cmd.ttl,
            front=cmd.interrupt,
        )
        if self._current is None or cmd.interrupt:
            self._hold()  # it starts now: its events and the state can wait for it
        self.emit(cmd.id, "queued", origin=job.origin)
        if cmd.interrupt:
            if self._current is not None:
                self._stop_current()
            self._hush(None)
        self._wake.set()
        self._update_state()

    def _starts_too_late(self, job: Job) -> bool:
        # An `at` later than the say's ttl can never start within it: dropped now, not
        # after holding the queue for it (a clock far off, or a mistake).
        assert job.cmd.at is not None
        wait = job.cmd.at / 1000 - self._wall_clock()
        return job.arrived + wait > job.arrived + job.cmd.ttl

    def _reject_now(self, job: Job, event: str, **detail: Any) -> None:
        self.emit(job.cmd.id, "queued", origin=job.origin)
        self.emit(job.cmd.id, event, origin=job.origin, **detail)
        if job.on_end is not None:
            job.on_end(event, detail)
        job.ack()

    def stop(self, id: str | None = None) -> None:
        """Stop everything (None) or the utterance ``id``, queued or playing."""
        removed = self._queue.clear() if id is None else self._queue.remove(id)
        for entry in removed:
            self._finish(entry, "interrupted")
        if self._current is not None and (id is None or self._current.id == id):
            self._stop_current()
        self._hush(id)
        self._wake.set()
        self._update_state()

    def feed_stream(self, id: str, text: str, final: bool) -> bool:
        """A chunk of a streamed say already queued or playing; False if there is none.
        Raises StreamTooLong (and ends the stream's text there) past MAX_STREAM_CHARS."""
        entry = self._find(id)
        if entry is None or entry.item.feed is None:
            return False
        feed = entry.item.feed
        if feed.closed:
            log.info("stream %s: a chunk after the final one was ignored", id)
            return True
        if feed.length + len(text) > MAX_STREAM_CHARS:
            feed.close()  # what came is spoken; the rest is not
            raise StreamTooLong(feed.length)
        if text:
            feed.add(text)
        if final:
            feed.close()
        return True

    def handled(self, id: str) -> bool:
        """True if the streamed say ``id`` has ended (recently enough to be remembered)."""
        return id in self._handled

    def replay(self) -> bool:
        """Speak the last utterance again, before queued normal ones; False if none."""
        last = self.last
        if last is None:
            return False
        cmd = msgspec.structs.replace(
            last, id=new_id(), priority="high", interrupt=False, at=None, ttl=60.0
        )
        self.submit(Job(cmd, trio.current_time()))
        return True

    def drop_normal(self, reason: str) -> None:
        """Muted: drop the queued normal-priority says and stop one that plays."""
        for entry in self._queue.remove_where(lambda job: job.cmd.priority == "normal"):
            self._finish(entry, "dropped", reason=reason)
        current = self._current
        if current is not None and current.item.cmd.priority == "normal":
            self._stop_reason = reason
            self._stop_current()
        sounding = self._sounding
        if sounding is not None and sounding.item.cmd.priority == "normal":
            self._hush(sounding.id)
        self._wake.set()
        self._update_state()

    def halt(self) -> None:
        """Shutting down: fade out, and leave everything unacknowledged and without a
        terminal event, so the broker redelivers it to the next run (nothing is lost
        to a restart)."""
        self._halted = True
        self._queue.clear()
        self._stop_current()

    def _find(self, id: str) -> Queued[Job] | None:
        if self._current is not None and self._current.id == id:
            return self._current
        return next((e for e in self._queue if e.id == id), None)

    def _stopped_because(self) -> str | None:
        # A method, not the attribute: it changes while the utterance plays.
        return self._stop_reason

    def _stop_current(self) -> None:
        if self._current_scope is not None:
            self._current_scope.cancel()

    def _hush(self, id: str | None) -> None:
        """Cut what the card still holds of the last say that finished (all, or that
        say): a stop heard as soon as one of a say that plays (Player.hush)."""
        sounding = self._sounding
        if sounding is not None and (id is None or sounding.id == id):
            self._sounding = None
            self._player.hush()

    # --- the service ----------------------------------------------------------

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        task_status.started()
        while True:
            for expired in self._queue.expire(trio.current_time()):
                self._finish(expired, "dropped", reason="ttl")
            entry = self._queue.pop()
            if entry is None:
                self._release()  # what was held for is gone (stopped, expired)
                self._update_state()
                deadline = self._queue.next_deadline()
                with trio.move_on_at(deadline if deadline is not None else float("inf")):
                    await self._wake.wait()
                self._wake = trio.Event()
                continue
            await self._play(entry)

    async def _play(self, entry: Queued[Job]) -> None:
        cmd = entry.item.cmd
        gate = self._settings.gate(cmd.priority, cmd.volume)
        if not gate.play:
            self._release()
            self._finish(entry, "dropped", reason=gate.reason)
            return
        self._hold()
        self._current = entry
        self._stop_reason = None
        self._update_state()
        if entry.item.on_start is not None:
            entry.item.on_start()
        outcome: tuple[str, dict[str, Any]] = ("interrupted", {})
        with trio.CancelScope() as scope:
            self._current_scope = scope
            try:
                await self._speak(entry, gate.volume)
                outcome = ("finished", {})
            except SpeechFailed as exc:
                outcome = ("failed", {"error": str(exc)})
            except Exception as exc:  # a bug must cost one utterance, not the daemon
                log.exception("error while speaking %s", entry.id)
                outcome = ("failed", {"error": f"internal error ({type(exc).__name__})"})
        self._release()
        self._current = None
        self._current_scope = None
        self._sounding = entry
        if self._halted:
            return
        reason = self._stopped_because()
        if outcome[0] == "interrupted" and reason is not None:
            outcome = ("dropped", {"reason": reason})
        self._finish(entry, outcome[0], **outcome[1])

    async def _speak(self, entry: Queued[Job], volume_cap: int | None) -> None:
        cmd = entry.item.cmd
        feed = entry.item.feed
        stream = self._player.open_stream()
        if cmd.at is not None:
            # Rooms in sync: the first sample reaches the DAC at that wall-clock time.
            stream.start_at(trio.current_time() + cmd.at / 1000 - self._wall_clock())
        # The transforms, once per utterance: Cartesia, the cache key and a failover all
        # see the same text. A streamed say is not transformed (see the README).
        text = self._voicing.text(cmd.text) if cmd.text is not None else None
        prod = Production(
            text,
            self._params(cmd),
            stream,
            clip=cmd.clip,
            use_cache=cmd.cache,
            feed=feed,
            on_underway=self._release,
        )
        if cmd.text is not None:
            self.last = cmd
        try:
            with self._settings.playing(cmd.volume, volume_cap):
                await self._produce(entry, prod)
        finally:
            # Interrupted, failed or cancelled: fade out instead of clicking.
            stream.interrupt()
            if feed is not None and feed.text.strip():
                # Replay speaks what the stream said, as one plain say.
                self.last = msgspec.structs.replace(cmd, text=feed.text.strip())

    async def _produce(self, entry: Queued[Job], prod: Production) -> None:
        """Produce the say and wait until it has played; raises SpeechFailed."""
        announcer = _StartAnnouncer(self, entry, prod)
        failure: SpeechFailed | None = None
        async with trio.open_nursery() as nursery:
            nursery.start_soon(announcer.wait_and_announce)
            try:
                job = entry.item
                if job.prelude_url is not None:
                    await self._prelude(prod, job.prelude_url)
                if job.media_url is not None:
                    await self._media_play(prod, job.media_url)
                else:
                    await produce(self._sources, prod)
            except SpeechFailed as exc:
                # Let the chime play out before the failure is reported (raised
                # below, outside the nursery, so it is not wrapped in a group).
                failure = exc
                prod.stream.end()
            metrics = await prod.stream.wait_done()
            announcer.announce()  # if the first sample and the end came in one step
            _log_timing(entry, prod, metrics)
            nursery.cancel_scope.cancel()
        if failure is not None:
            raise failure

    async def _prelude(self, prod: Production, url: str) -> None:
        """A sound to play first (Home Assistant's pre-announce chime), whole, so the
        say follows it with no gap; one that cannot be fetched is skipped."""
        from herald.media import MediaError, fetch_pcm

        if self._media is None:
            return
        try:
            prod.play(await fetch_pcm(self._media, url, prod.params.sample_rate), "clip")
        except MediaError as exc:
            log.warning("pre-announce sound skipped: %s", exc)

    async def _media_play(self, prod: Production, url: str) -> None:
        """A media URL (WAV) through the jitter buffer, as it arrives."""
        from herald.media import MediaError, play_url

        if self._media is None:
            raise SpeechFailed("media URLs are not played here (no fetcher)")
        try:
            await play_url(self._media, url, _MediaFeed(prod), prod.params.sample_rate)
        except MediaError as exc:
            raise SpeechFailed(str(exc)) from None

    def _params(self, cmd: SayCommand) -> VoiceParams:
        d = self._defaults
        voice = self._settings.resolve_voice(cmd.voice)
        return VoiceParams(
            model=d.model,
            voice=voice,
            language=cmd.language or d.language,
            sample_rate=d.sample_rate,
            encoding=d.encoding,
            speed=cmd.speed if cmd.speed is not None else d.speed,
            emotion=cmd.emotion or d.emotion,
            volume=cmd.loudness if cmd.loudness is not None else d.volume,
            pronunciation_dict_id=cmd.pronunciation_dict_id or d.pronunciation_dict_id,
        )

    # --- events ------------------------------------------------------------------

    def _finish(self, entry: Queued[Job], event: str, **detail: Any) -> None:
        self.emit(entry.id, event, origin=entry.item.origin, **detail)
        if entry.item.on_end is not None:
            entry.item.on_end(event, detail)
        if entry.item.feed is not None:
            self._handled[entry.id] = None
            while len(self._handled) > _REMEMBER_IDS:
                self._handled.popitem(last=False)
        entry.item.ack()

    def emit(self, id: str, event: str, *, origin: str | None = None, **detail: Any) -> None:
        if origin is not None:
            detail["origin"] = origin
        extra = "".join(f" {k}={v}" for k, v in detail.items())
        log.info("event id=%s event=%s%s", id, event, extra)
        self._emit(SpeakEvent(id, event, detail))

    def _hold(self) -> None:
        if self._hurry is not None and self._underway is None:
            self._underway = self._hurry.hold()

    def _release(self) -> None:
        release = self._underway
        if release is not None:
            self._underway = None
            release()

    def _update_state(self) -> None:
        current = self._current
        announcing = current is not None and current.item.announce
        self.state.set(SpeakerState(current is not None, len(self._queue), announcing))


def _log_timing(entry: Queued[Job], prod: Production, m: StreamMetrics) -> None:
    if m.first_sample_time is None:
        return
    log.debug(
        "timing id=%s source=%s latency %.1f ms, ttfb %s, underruns %d, failovers %d",
        entry.id,
        prod.source,
        (m.first_sample_time - entry.item.arrived) * 1000,
        _ttfb_ms(prod),
        m.underruns,
        prod.failovers,
    )


def _ttfb_ms(prod: Production) -> float | None:
    # The cloud's time to first byte as herald saw it: the part of the latency
    # that is Cartesia's (and the network's), not herald's.
    if prod.requested_at is None or prod.first_cloud_audio_at is None:
        return None
    return round((prod.first_cloud_audio_at - prod.requested_at) * 1000, 1)


class _MediaFeed:
    """A production as `herald.media.play_url` feeds it: the source is "media"."""

    def __init__(self, prod: Production) -> None:
        self._prod = prod

    def feed(self, pcm: bytes) -> None:
        self._prod.play(pcm, "media")

    def end(self) -> None:
        self._prod.stream.end()


class _StartAnnouncer:
    """Emits ``started`` once, when the first sample of the stream reaches ALSA."""

    def __init__(self, speaker: Speaker, entry: Queued[Job], prod: Production) -> None:
        self._speaker = speaker
        self._entry = entry
        self._utt = prod
        self._done = False

    async def wait_and_announce(self) -> None:
        # At the first sample, once it is known what speaks the text (a chime may
        # play first); `announce` after the end covers a say that never learns it.
        await self._utt.stream.wait_started()
        if self._utt.text is not None or self._utt.feed is not None or self._entry.item.media_url:
            await self._utt.source_known.wait()  # else it is only a clip
        self.announce()

    def announce(self) -> None:
        first = self._utt.stream.first_sample_time
        if self._done or first is None:
            return
        self._done = True
        detail: dict[str, Any] = {
            "source": self._utt.source or "clip",
            "latency_ms": round((first - self._entry.item.arrived) * 1000, 1),
        }
        ttfb = _ttfb_ms(self._utt)
        if ttfb is not None and self._utt.source == "cartesia":
            detail["ttfb_ms"] = ttfb
        self._speaker.emit(self._entry.id, "started", origin=self._entry.item.origin, **detail)
