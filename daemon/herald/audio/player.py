"""The player service: owns the sound card, plays streams through it one at a time.

The device is opened at start and kept open, fed silence between utterances, so the
DAC does not start and stop mid-session (pops, clipped first words); it is closed
after `PlayerTuning.idle_close_s` without streams (``audio.idle_close``; after fading
out whatever plays) and reopened for the next stream, whose first word then waits
until the DAC has played `PlayerTuning.lead_in_s` of silence (``audio.lead_in_ms``)
for sinks that wake on a stream. How much the ring holds, and how often the writer
wakes, follows what is at stake (herald/audio/fill.py): while a stream is about to
start only `PlayerTuning.start_fill_s` of silence is queued ahead of it.

Any device error other than an underrun closes the handle and reopens a fresh one
with backoff (100 ms doubling to 2 s), primed with silence; a missing device is
reported in `Player.status` and retried for as long as herald runs. The player never
exits because of the device.

Streams play in the order they were opened (a queue above decides that order); a
stream that is not yet ready to start holds back the ones behind it.

**Scheduled starts** (`Stream.start_at`, for rooms that must play in sync). The writer
tells each render when the block's first frame reaches the DAC (see writer.py), so
the first sample of a stream that waits for ``t`` goes to the frame of the block that
plays at ``t`` (the first one not before it), after silence. Every frame of the
device's timeline is rendered by some step before it is due, and whichever step
renders the frame at ``t`` places the start on it: the start is sample-accurate
whatever the tick, its phase, or a kick, and needs no wake-up of its own (feeding a
stream that waits does not wake the writer until ``t`` is within a ring). Whether it
may start is decided by the jitter buffer's usual rules when that frame is rendered,
up to a ring ahead of ``t``; if it may not, it starts as soon as it may (late, logged).
"""

from __future__ import annotations

import contextlib
import enum
import logging
import math
import random
from collections import deque
from dataclasses import dataclass, field
from functools import partial

import trio

from herald.audio.fill import FillPlan, Mode, WakeLateness
from herald.audio.jitter import StartTarget, TargetTuning
from herald.audio.pcm import Volume, volume_gain
from herald.audio.playout import Phase, Playout
from herald.audio.sink import Geometry, PcmSink, SinkDevice, SinkLost, SinkOpenError
from herald.audio.stream import Stream
from herald.audio.writer import Marker, Writer
from herald.backoff import Backoff
from herald.observable import Observable

__all__ = ["AudioState", "AudioStatus", "Player", "PlayerTuning"]

log = logging.getLogger("herald.audio")


@dataclass(frozen=True, slots=True)
class PlayerTuning:
    """Device geometry, pacing, fill and recovery (seconds). See herald/audio/fill.py."""

    # A 160 ms ring in 10 ms periods. Full while audio flows: between two slow ticks it
    # holds 160 ms down to 110 ms, so a 100 ms stall of the writer (a GC pause, a busy
    # loop, the scheduler) never underruns, above the ~50 ms the Pi's bcm2835 path
    # wants. Periods of 10 ms keep the low fills below (2 periods) above one period
    # on drivers whose pointer moves a period at a time.
    period_s: float = 0.010
    periods: int = 16
    # The slow tick: idle on silence, and while the ring is full. On the development
    # VM a trio wake-up costs 0.25-0.45 ms of CPU whatever it does, so the tick, not
    # the work, sets the CPU cost (bench/sink_cpu.py): 20 wake-ups a second.
    tick_s: float = 0.050
    # The fast tick, only while a stream is about to start (or the ring runs low):
    # it holds `start_fill_s` with at least 10 ms left at each wake-up.
    fast_tick_s: float = 0.010
    # Silence queued while a stream waits to start: what its first sound waits behind.
    start_fill_s: float = 0.020
    # Idle on silence the ring holds a slow tick plus this (70 ms), or more if the
    # wake-ups have been later than that lately: a say arriving then waits behind at
    # most that much silence, 20 ms once the ring is let down for it.
    idle_margin_s: float = 0.020
    margin_s: float = 0.010  # least fill left at a wake-up before the slow tick is used
    # After the device opens (a cold start, or a reopen after a loss) the first word
    # waits until the DAC has played this much silence, so that sinks that wake on a
    # stream (HDMI, USB DACs, amplifiers) do not clip it. It runs while the first audio
    # is on its way, so it only delays what is ready sooner than that. 120 ms is what
    # a cold start always got before (the whole ring of silence, primed at the open):
    # no sink gets less time to wake than it had.
    lead_in_s: float = 0.120
    fade_s: float = 0.005  # underrun and interrupt fades (<= 10 ms)
    volume_ramp_s: float = 0.010
    idle_close_s: float | None = 30.0  # None: keep the device open for ever
    backoff_initial_s: float = 0.1
    backoff_cap_s: float = 2.0
    stable_s: float = 2.0  # a handle that lived this long resets the backoff
    target: TargetTuning = field(default_factory=TargetTuning)

    @classmethod
    def configured(cls, *, idle_close: float, lead_in_ms: int) -> PlayerTuning:
        """The tuning for ``audio.idle_close`` (seconds, 0: never) and ``audio.lead_in_ms``."""
        return cls(idle_close_s=idle_close or None, lead_in_s=lead_in_ms / 1000)


class AudioState(enum.StrEnum):
    STARTING = "starting"
    OPEN = "open"  # playing, or streaming silence
    IDLE = "idle"  # closed after idle_close_s; reopens for the next stream
    ERROR = "error"  # cannot open or lost; retrying


@dataclass(frozen=True, slots=True)
class AudioStatus:
    state: AudioState
    device: str
    error: str = ""

    @property
    def ok(self) -> bool:
        return self.state is not AudioState.ERROR

    def __str__(self) -> str:
        text = f"ALSA device {self.device!r}: {self.state.value}"
        return f"{text}: {self.error} (retrying)" if self.error else text


class Player:
    """Plays `Stream`s on a `SinkDevice`. Start with ``await nursery.start(player.run)``."""

    def __init__(
        self,
        device: SinkDevice,
        sample_rate: int,
        *,
        tuning: PlayerTuning | None = None,
        volume: int = 100,
        rng: random.Random | None = None,
    ) -> None:
        self._device = device
        self._rate = sample_rate
        self._tuning = tuning or PlayerTuning()
        t = self._tuning
        volume_gain(volume)  # validates
        self._volume = Volume(volume, round(t.volume_ramp_s * sample_rate))
        self._target = StartTarget(t.target, lead=t.tick_s + t.fade_s)
        self._want = Geometry.request(sample_rate, t.period_s, t.periods)
        self._fade_frames = max(1, round(t.fade_s * sample_rate))
        self._queue: deque[Stream] = deque()
        # Where the head stream's audio went in the writer's frame count: (stream frame,
        # writer frame, frames) per render, the last few, for `_withdraw`.
        self._placed: deque[tuple[int, int, int]] = deque(maxlen=64)
        self._placed_for: Stream | None = None
        # Where the audio of the last stream that finished ends, in the writer's frame
        # count: what is queued before it may still be heard (`hush`).
        self._tail_end: int | None = None
        self._kick = trio.Event()
        self._rng = rng
        self._writer: Writer | None = None
        self._plan_frames: FillPlan | None = None
        self._late = WakeLateness()
        self._now = -math.inf  # the time of the writer step in progress
        self._not_before = -math.inf  # no first word reaches the DAC before (lead-in)
        self.status = Observable(AudioStatus(AudioState.STARTING, device.name))
        self.xruns = 0
        self._xrun_logged = -math.inf
        self.device_losses = 0

    @property
    def sample_rate(self) -> int:
        return self._rate

    @property
    def volume(self) -> int:
        return self._volume.volume

    @property
    def start_threshold(self) -> float:
        """Audio seconds the next utterance buffers before it starts."""
        return self._target.seconds

    def set_volume(self, volume: int) -> None:
        """Set the software volume 0-100 (ramped, also during playback)."""
        self._volume.set(volume)

    def open_stream(self) -> Stream:
        """A new utterance; it plays after those opened before it."""
        stream = Stream(
            Playout(self._rate, self._target, self._fade_frames), self._poke, self._withdraw
        )
        self._queue.append(stream)
        self._kick.set()
        return stream

    def _poke(self, stream: Stream) -> None:
        if stream.playout.interrupted and stream in self._queue:
            head = self._queue[0] is stream
            if not head or self._writer is None or not stream.playout.frames_played:
                # Nothing of it can be heard (it has not started, or there is no
                # device): it is done now, not when it reaches a device.
                self._queue.remove(stream)
                stream.playout.suspend()
                stream.playout.render(memoryview(b"").cast("h"))
                self._finished(stream, trio.current_time())
                return
        if not self._queue or self._queue[0] is not stream or not stream.playout.ready():
            return
        stream.note_ready(trio.current_time())
        t = stream.scheduled_start
        writer = self._writer
        if (
            t is not None
            and not stream.playout.frames_played
            and writer is not None
            and trio.current_time() < t - writer.ring_s
        ):
            # Its start is further ahead than the ring reaches: the step that renders
            # that frame places it, so waking the writer now would do nothing.
            return
        # Wake the writer when the stream at the head can start, resume or stop,
        # rather than at the next tick.
        self._kick.set()
        if writer is not None and writer.rewinds and not stream.playout.frames_played:
            # A start is written here and now, in the task that fed it, not after every
            # other task that is ready runs first (the socket's reader with the next
            # chunk, on the emulated VM 3 ms at the median). A lost device is for the
            # player's own step to find and reopen.
            now = self._now = trio.current_time()
            with contextlib.suppress(SinkLost):
                self._take_back(writer, now)
                writer.step(now, grow=True)

    def hush(self) -> bool:
        """Stop what the card still holds of streams that have finished: the last part
        of a say, handed over whole, that is queued ahead of the DAC (up to a ring). A
        stream that plays is stopped with `Stream.interrupt`; this is for a stop that
        comes after the say's last sample was handed over but before it was heard. On
        a card that rewinds it is cut down to the writer's guard and faded out there;
        elsewhere it plays out. True if something was cut."""
        writer = self._writer
        end = self._tail_end
        if writer is None or end is None or not writer.rewinds:
            return False
        if self._queue and self._queue[0].playout.frames_played:
            return False  # a later stream plays: its own interrupt stops it
        now = self._now = trio.current_time()
        try:
            if end <= writer.frames_written - writer.rewindable() + writer.guard:
                return False  # all of it is with the DAC already
            at = writer.cut(now, self._fade_frames)
        except SinkLost:
            return False  # the player's own step finds out and reopens
        self._tail_end = None
        if at is None:
            return False
        # The ring now holds the guard and the fade: top it up at once rather than when
        # the writer's task next runs, which on a busy Pi may be too late. (A lost
        # device is for the player's own step to find and reopen.)
        with contextlib.suppress(SinkLost):
            writer.step(now)
        return True

    # -- the service

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Own the device until cancelled. Reports started after the first open attempt."""
        t = self._tuning
        backoff = Backoff(t.backoff_initial_s, t.backoff_cap_s, rng=self._rng or random.Random())
        started = False
        try:
            while True:
                sink = self._open()
                if not started:
                    task_status.started()
                    started = True
                if sink is None:
                    await trio.sleep(backoff.next_delay())
                    continue
                opened = trio.current_time()
                self._not_before = opened + t.lead_in_s
                try:
                    await self._session(sink)
                except SinkLost as exc:
                    self._lost(sink, exc)
                    if trio.current_time() - opened >= t.stable_s:
                        backoff.reset()
                    await trio.sleep(backoff.next_delay())
                    continue
                # Closed after idle_close_s without streams: reopen for the next one.
                backoff.reset()
                self.status.set(AudioStatus(AudioState.IDLE, self._device.name))
                log.info("audio idle for %.0f s: closed %r", t.idle_close_s, self._device.name)
                while not self._queue:
                    await self._kick.wait()
                    self._kick = trio.Event()
        finally:
            for stream in self._queue:
                stream.playout.interrupt()
                stream.finish(self._rate)
            self._queue.clear()
            self.status.set(AudioStatus(AudioState.IDLE, self._device.name))

    def _open(self) -> PcmSink | None:
        name = self._device.name
        try:
            sink = self._device.open(self._want)
        except SinkOpenError as exc:
            error = str(exc)
            if self.status.value.error != error:
                log.error("cannot open ALSA device %r: %s; retrying", name, error)
            self.status.set(AudioStatus(AudioState.ERROR, name, error))
            return None
        if not self.status.value.ok:
            log.info("ALSA device %r is back", name)
        geo = sink.geometry
        log.debug(
            "opened %r: %d Hz, period %d, ring %d frames",
            name,
            geo.rate,
            geo.period_frames,
            geo.buffer_frames,
        )
        self.status.set(AudioStatus(AudioState.OPEN, name))
        return sink

    def _lost(self, sink: PcmSink, exc: SinkLost) -> None:
        self.device_losses += 1
        now = trio.current_time()
        if self._writer is not None:
            self._writer.discard(now)
            self._writer = None
        self._tail_end = None
        sink.close()
        for stream in self._queue:
            if stream.playout.frames_played:
                stream.device_losses += 1
            stream.playout.suspend()
        error = f"device lost: {exc}"
        log.error("ALSA device %r: %s; reopening", self._device.name, error)
        self.status.set(AudioStatus(AudioState.ERROR, self._device.name, error))

    async def _session(self, sink: PcmSink) -> None:
        """Feed ``sink`` until idle for idle_close_s (then close it); raises SinkLost."""
        t = self._tuning
        geo = sink.geometry
        self._plan_frames = plan = FillPlan.make(
            geo.rate,
            geo.buffer_frames,
            tick_s=t.tick_s,
            fast_tick_s=t.fast_tick_s,
            start_fill_s=t.start_fill_s,
            idle_margin_s=t.idle_margin_s,
            margin_s=t.margin_s,
        )
        writer = Writer(sink, self._render, on_xrun=self._xrun, on_fill=self._fill, plan=self._plan)
        self._writer = writer
        now = self._now = trio.current_time()
        idle_since = opened = now
        ticks = 1
        slow_tick = now + t.tick_s
        try:
            if self._queue:
                # Opened for a stream: silence only until it can be rendered, right
                # after (behind the lead-in, if it is ready before that has played).
                writer.prime(now, plan.start_fill)
                writer.step(now)
            else:
                writer.prime(now)
            next_tick = self._next_tick(writer, now, slow_tick)
            while True:
                kicked = False
                with trio.move_on_at(next_tick):
                    await self._kick.wait()
                    kicked = True
                now = self._now = trio.current_time()
                if kicked:
                    self._kick = trio.Event()
                else:
                    self._late.observe(now, now - next_tick)
                if now >= slow_tick:
                    # On the tick grid; after a stall, the next tick still to come.
                    ticks = max(ticks + 1, int((now - opened) / t.tick_s) + 1)
                    slow_tick = opened + ticks * t.tick_s
                self._take_back(writer, now)
                # A kick writes what the DAC consumed since the last step, no more
                # (Writer.step); a timed step also grows the fill towards the plan. On
                # a card that rewinds, what is handed over can still be taken back (a
                # failover's truncate), so a kick grows it too: a stream that starts
                # gets the whole ring at once, which outlasts a stall right after.
                writer.step(now, grow=not kicked or writer.rewinds)
                next_tick = self._next_tick(writer, now, slow_tick)
                if self._queue:
                    idle_since = now
                elif t.idle_close_s is not None and now - idle_since >= t.idle_close_s:
                    break
        except SinkLost:
            raise
        except BaseException:
            # Cancelled (shutdown) or a bug: still fade out rather than click.
            with trio.CancelScope(shield=True):
                await self._close_gracefully(sink, writer)
            raise
        await self._close_gracefully(sink, writer)

    def _take_back(self, writer: Writer, now: float) -> None:
        """On a card that rewinds: let what the head stream does now through what the
        ring holds ahead of it (herald/audio/writer.py). A stop or an interrupt cuts
        the ring down to the writer's guard and fades out there; a stream that can
        start or resume takes the place of the silence queued ahead of it."""
        if not writer.rewinds or not self._queue:
            return
        stream = self._queue[0]
        playout = stream.playout
        if playout.interrupted:
            if playout.frames_played and not playout.done:
                at = writer.cut(now, self._fade_frames)
                if at is not None:
                    playout.cut(self._stream_frame(stream, at, self._fade_frames))
            return
        if not playout.ready():
            return
        if stream.scheduled_start is not None and not playout.frames_played:
            return  # put on its exact frame whatever is queued
        # Not closer to the DAC than the lead-in after an open allows. And after a stall
        # (a GC pause, a busy Pi) the ring must still hold the least fill for it
        # (FillPlan.least: below it a stream fades out) after another such stall right
        # away: the stall seen plus that least, as far as the ring goes, once the start
        # is written. The audio the stream hands over now counts towards that: only
        # what it lacks is kept as silence ahead of it (none for a cache hit).
        lead_in = math.ceil(max(0.0, self._not_before - now) * self._rate)
        late = self._late_frames()
        cushion = 0
        plan = self._plan_frames
        if late and plan is not None:
            need = min(plan.ring, late + plan.least(late))
            cushion = need - max(0, self._spare(playout))
        writer.rewind_silence(now, max(lead_in, cushion))

    def _stream_frame(self, stream: Stream, at: int, fade: int) -> int | None:
        """How much of ``stream`` plays if the writer's output ends ``fade`` frames after
        its frame ``at``: None if that is not known."""
        if self._placed_for is not stream or not self._placed:
            return None
        for first, start, count in reversed(self._placed):
            if start <= at:
                return first + min(count, at - start + fade)
        return 0 if self._placed[0][0] == 0 else None  # cut before any of it

    def _withdraw(self, stream: Stream, frames: int) -> bool:
        """Take the head stream's audio past its frame ``frames`` back from the ring, if
        the card rewinds and none of it has been heard (a failover's truncate)."""
        writer = self._writer
        playout = stream.playout
        if (
            writer is None
            or not writer.rewinds
            or self._placed_for is not stream
            or not self._queue
            or self._queue[0] is not stream
            or not 0 <= frames < playout.frames_played
        ):
            return False
        for first, at, count in reversed(self._placed):
            if first <= frames < first + count:
                try:
                    taken = writer.take_back_to(trio.current_time(), at + frames - first)
                except SinkLost:
                    return False  # the player's own step finds out and reopens
                if not taken:
                    return False
                playout.withdraw(frames)
                self._placed.clear()
                self._kick.set()  # top the ring up again
                return True
        return False

    def _next_tick(self, writer: Writer, now: float, slow_tick: float) -> float:
        """The slow tick's grid, unless the ring would run too low before it."""
        plan = self._plan_frames
        if (
            not writer.clocked
            or plan is None
            or plan.slow(writer.fill_after, late=self._late_frames())
        ):
            return slow_tick
        return min(slow_tick, now + self._tuning.fast_tick_s)

    def _late_frames(self) -> int:
        """Frames to add to the low fills: the wake-ups' recent lateness, and how far
        the device's pointer lags (a driver that reports its position per period)."""
        lag = self._writer.pointer_lag if self._writer is not None else 0
        return math.ceil(self._late.seconds(self._now) * self._rate) + lag

    def _plan(self, queued: int) -> int:
        """The writer's fill target for this step (see herald/audio/fill.py)."""
        plan = self._plan_frames
        assert plan is not None
        late = self._late_frames()
        if not self._queue:
            return plan.target(Mode.IDLE, queued, late=late)
        stream = self._queue[0]
        playout = stream.playout
        if playout.phase is Phase.PLAYING:
            return plan.target(Mode.PLAYING, queued, self._spare(playout), late=late)
        t = stream.scheduled_start
        if t is not None and not playout.frames_played and self._now < t:
            # A start at a set moment is put on its exact frame whatever the fill: no
            # need to let the ring down (or to tick fast) for it.
            return plan.target(Mode.IDLE, queued, late=late)
        if playout.ready():
            # It starts (or resumes) in this very block: fill the ring with it at once.
            return plan.target(Mode.PLAYING, queued, self._spare(playout), late=late)
        writer = self._writer
        if writer is not None and writer.rewinds:
            # The silence queued ahead of it is taken back when it can start: no need
            # to let the ring down (and tick fast) for it.
            return plan.target(Mode.IDLE, queued, late=late)
        return plan.target(Mode.WAITING, queued, late=late)

    def _spare(self, playout: Playout) -> int:
        """Frames the ring may take from ``playout`` now, beyond what it must to stay fed.

        All of an ended stream; of an interrupted one its fade; of one still arriving,
        what it holds beyond the samples kept back for a fade-out.
        """
        if playout.interrupted:
            return min(playout.buffered, self._fade_frames)
        if playout.ended:
            return playout.buffered
        return playout.buffered - self._fade_frames

    async def _close_gracefully(self, sink: PcmSink, writer: Writer) -> None:
        """Fade out whatever plays, let the ring play out, close."""
        tick = self._tuning.tick_s
        try:
            with trio.move_on_after(sink.geometry.buffer_s + 3 * tick):
                for stream in self._queue:
                    stream.playout.interrupt()
                while True:
                    writer.step(trio.current_time())
                    if not self._queue:
                        break
                    await trio.sleep(tick)
                # Closing drops what is queued: wait for the fade to reach the DAC.
                await trio.sleep(sink.geometry.buffer_s)
        except SinkLost:
            pass
        finally:
            self._writer = None
            self._tail_end = None
            writer.discard(trio.current_time())
            sink.close()

    # -- writer callbacks

    def _render(self, block: memoryview, dac_time: float, frame_s: float) -> list[Marker]:
        markers: list[Marker] = []
        n = len(block)
        pos = 0
        while self._queue and pos <= n:
            stream = self._queue[0]
            playout = stream.playout
            before = playout.frames_played
            t = stream.scheduled_start
            start = -math.inf
            if not playout.interrupted:
                # No word before the lead-in has played after an open (a first start
                # or a resume), nor a first one before its scheduled moment.
                if playout.phase is not Phase.PLAYING:
                    start = self._not_before
                if t is not None and not before:
                    start = max(start, t)
            if start > dac_time + pos * frame_s:
                # The first frame that reaches the DAC at start or after (the tolerance
                # keeps float dust from pushing an exact frame one further).
                due = math.ceil((start - dac_time) / frame_s - 1e-6)
                if due >= n:
                    break  # later: silence until then
                if due > pos:
                    block[pos:due].cast("B")[:] = bytes(2 * (due - pos))
                    pos = due
            used = playout.render(block[pos:])
            if playout.frames_played > before and self._writer is not None:
                if self._placed_for is not stream:
                    self._placed_for = stream
                    self._placed.clear()
                # Its audio comes first in what it used (silence only after): frame
                # ``before`` went to the block's frame ``pos``.
                played = playout.frames_played - before
                self._placed.append((before, self._writer.frames_written + pos, played))
            if not before and playout.frames_played:
                stream.note_ready(self._now)
                markers.append(Marker(pos, stream.mark_started, inclusive=True))
                stream.placed(dac_time + pos * frame_s, frame_s)
            pos += used
            if not playout.done:
                break
            self._queue.popleft()
            if self._writer is not None and playout.frames_played:
                self._tail_end = self._writer.frames_written + pos
            markers.append(Marker(pos, partial(self._finished, stream), inclusive=False))
        if pos < n:
            block[pos:].cast("B")[:] = bytes(2 * (n - pos))
        self._volume.apply(block)
        return markers

    def _finished(self, stream: Stream, now: float) -> None:
        metrics = stream.finish(self._rate)
        if stream.playout.lateness.chunks >= 2 and not stream.playout.local:
            self._target.observe(metrics.max_relative_lateness)
        if metrics.frames_received:
            log.debug(
                "utterance done: %s; next start threshold %.3f s", metrics, self._target.seconds
            )

    def _xrun(self) -> None:
        # The loop was away for at least what the ring held after the last step: keep
        # that much more queued from now on (the lateness memory forgets it in time).
        writer = self._writer
        if writer is not None and writer.clocked:
            self._late.observe(trio.current_time(), writer.fill_after / self._rate)
        self.xruns += 1
        if self._queue and self._queue[0].playout.frames_played:
            self._queue[0].xruns += 1
        # At most one line every 10 s: a starved device would otherwise flood the log.
        now = trio.current_time()
        if now - self._xrun_logged >= 10.0:
            self._xrun_logged = now
            log.warning("ALSA underrun on %r (%d so far)", self._device.name, self.xruns)

    def _fill(self, frames: int) -> None:
        if self._queue and self._queue[0].playout.frames_played:
            self._queue[0].note_fill(frames)
