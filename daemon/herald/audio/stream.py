"""One utterance as the rest of herald sees it: feed chunks in, wait for it to finish."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import trio

from herald.audio.playout import Playout

__all__ = ["Stream", "StreamMetrics"]

log = logging.getLogger("herald.audio")


@dataclass(frozen=True, slots=True)
class StreamMetrics:
    """What happened to one utterance (times on trio's clock, durations in seconds)."""

    first_arrival: float | None  # the first chunk's arrival
    first_sample_time: float | None  # the first sample handed to ALSA
    start_delay: float | None  # first_sample_time - first_arrival
    underruns: int  # times the jitter buffer ran dry mid-utterance
    max_lateness: float  # the clairvoyant minimum start delay (see jitter.py)
    max_relative_lateness: float  # the audio cushion the worst stall needed
    min_fill: float | None  # lowest ALSA fill seen while it played
    xruns: int  # ALSA underruns (-EPIPE) while it played
    device_losses: int  # times the device died while it played
    frames_received: int
    frames_played: int
    frames_dropped: int  # received but never played (interrupted)
    silence_inserted: float  # seconds of silence while re-buffering
    interrupted: bool
    scheduled_start: float | None = None  # the start asked for with `Stream.start_at`
    first_dac_time: float | None = None  # when the first sample reached the DAC (estimated)
    # When it could first have started: at the head of the queue, with enough audio
    # buffered (or all of it in). first_dac_time - ready_time is what the device
    # added: the silence queued ahead of it, a lead-in, a scheduled start.
    ready_time: float | None = None


class Stream:
    """One utterance's audio, from `Player.open_stream`.

    Call `feed` as chunks arrive (it records their arrival time, so call it at once),
    then `end`; or `interrupt` to fade out within 10 ms and drop the rest. `wait_done`
    returns once the last sample was handed to ALSA (or the interrupt's fade was).
    `start_at` schedules the start for a given moment instead of as soon as possible.
    All methods but the ``wait_*`` ones are synchronous and never block.
    """

    def __init__(
        self,
        playout: Playout,
        poke: Callable[[Stream], None],
        withdraw: Callable[[Stream, int], bool] | None = None,
    ) -> None:
        """``withdraw(stream, frames)``: take back from the device what it was given of
        this stream past frame ``frames``, if none of it was heard (`truncate`)."""
        self._playout = playout
        self._poke = poke
        self._withdraw = withdraw
        self._first_sample_time: float | None = None
        self._scheduled: float | None = None
        self._first_dac_time: float | None = None
        self._ready_time: float | None = None
        self._started = trio.Event()
        self._done = trio.Event()
        self._metrics: StreamMetrics | None = None
        self.min_fill_frames: int | None = None
        self.xruns = 0
        self.device_losses = 0

    @property
    def first_sample_time(self) -> float | None:
        """trio time at which the first sample was handed to ALSA (None until then)."""
        return self._first_sample_time

    @property
    def scheduled_start(self) -> float | None:
        """The trio time given to `start_at`, if any."""
        return self._scheduled

    @property
    def first_dac_time(self) -> float | None:
        """trio time at which the first sample reaches the DAC, as estimated when it was
        placed (None until then). With `start_at`, ``t`` to within a frame unless late."""
        return self._first_dac_time

    @property
    def playout(self) -> Playout:
        return self._playout

    @property
    def done(self) -> bool:
        return self._done.is_set()

    @property
    def metrics(self) -> StreamMetrics | None:
        """The final metrics, once done."""
        return self._metrics

    def feed(self, pcm: bytes) -> None:
        """Queue a chunk of S16_LE mono audio (any length; a split sample is rejoined).

        Raises RuntimeError after `end`; ignored after `interrupt`.
        """
        if self._playout.ended:
            raise RuntimeError("Stream.feed() after end()")
        if self._playout.interrupted:
            return
        self._playout.push(pcm, trio.current_time())
        self._poke(self)

    def end(self) -> None:
        """No more audio: play what is buffered, then finish. Idempotent."""
        if self._playout.ended:
            return
        if not self._playout.end():
            log.warning("audio stream ended with half a sample; the odd byte was dropped")
        self._poke(self)

    def play_local(self) -> None:
        """The rest comes from this machine, not the network: start at once, and keep
        this stream's timing out of the adaptive start threshold."""
        self._playout.local = True
        self._poke(self)

    def truncate(self, frames: int) -> bool:
        """Drop buffered audio past the stream's first ``frames`` frames (a failover
        resuming at a word boundary). Audio past that point that was handed to the
        device but not heard yet is taken back from it, where the device can rewind.
        False if some of it was heard (or cannot be taken back)."""
        if self._playout.interrupted or self.done:
            return False
        if self._playout.truncate(frames):
            return True
        return self._withdraw is not None and self._withdraw(self, frames)

    def start_at(self, t: float) -> None:
        """Start so that the first sample reaches the DAC at trio time ``t``, not before.

        Call it before the stream starts (right after `Player.open_stream`, before or
        after feeding). Until ``t`` the stream holds the device on silence (streams
        opened before it still play first), whatever it has buffered; the first sample
        goes to the frame of the device's timeline that plays at ``t``. If it cannot
        start then (a stream before it still plays, it has not buffered enough by the
        jitter buffer's rules, or ``t`` has passed) it starts as soon as it can, and
        how late is logged. Raises RuntimeError once the stream has started.
        """
        if self._playout.frames_played:
            raise RuntimeError("Stream.start_at() after the stream started")
        self._scheduled = t
        self._poke(self)

    def interrupt(self) -> None:
        """Stop: fade out within 10 ms and drop the rest. Idempotent."""
        if self._playout.interrupted or self.done:
            return
        self._playout.interrupt()
        self._poke(self)

    async def wait_started(self) -> float | None:
        """Wait until the first sample was handed to ALSA; returns `first_sample_time`.

        Returns None if the stream finished without playing anything.
        """
        await self._started.wait()
        return self.first_sample_time

    async def wait_done(self) -> StreamMetrics:
        """Wait until the stream has finished playing (or was interrupted)."""
        await self._done.wait()
        assert self._metrics is not None
        return self._metrics

    # -- called by the player

    def mark_started(self, now: float) -> None:
        if self._first_sample_time is None:
            self._first_sample_time = now
            self._started.set()

    def note_ready(self, now: float) -> None:
        if self._ready_time is None:
            self._ready_time = now

    def placed(self, dac_time: float, frame_s: float) -> None:
        """Its first sample was rendered to reach the DAC at ``dac_time``."""
        self._first_dac_time = dac_time
        if self._scheduled is not None and dac_time - self._scheduled > frame_s:
            log.info("scheduled start %.1f ms late", (dac_time - self._scheduled) * 1000)

    def note_fill(self, frames: int) -> None:
        if self.min_fill_frames is None or frames < self.min_fill_frames:
            self.min_fill_frames = frames

    def finish(self, rate: int) -> StreamMetrics:
        """Freeze the metrics and wake `wait_done`."""
        p = self._playout
        first = p.lateness.first_arrival
        start = self.first_sample_time
        self._metrics = StreamMetrics(
            first_arrival=first,
            first_sample_time=start,
            start_delay=None if first is None or start is None else start - first,
            underruns=p.underruns,
            max_lateness=p.lateness.max_lateness,
            max_relative_lateness=p.lateness.max_relative,
            min_fill=None if self.min_fill_frames is None else self.min_fill_frames / rate,
            xruns=self.xruns,
            device_losses=self.device_losses,
            frames_received=p.lateness.frames,
            frames_played=p.frames_played,
            frames_dropped=p.frames_dropped,
            silence_inserted=p.silence_frames / rate,
            interrupted=p.interrupted,
            scheduled_start=self._scheduled,
            first_dac_time=self._first_dac_time,
            ready_time=self._ready_time,
        )
        self._started.set()
        self._done.set()
        return self._metrics
