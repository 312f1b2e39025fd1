"""Keeps one open sink fed, paced by trio's clock: no threads, never blocks the loop.

Each step reads ``avail()`` and tops the ring up to the fill the player's ``plan``
asks for (herald/audio/fill.py: a little silence while a stream is about to start,
the whole ring while audio flows). A *kick* (a stream became ready to start, or was
interrupted) runs a step at once instead of at the next tick; it writes what the DAC
consumed since the last one, like any step, so it hands the first samples to ALSA
sooner without taking more ahead of the DAC. What is written comes from a render
callback (streams, else silence) and may be taken only in part: the rest stays
pending, whole frames only, for the next write.

A device that accepts everything at once (the ``file`` plugin's ``null`` slave has
no clock; ``avail()`` is always the whole ring) would be fed as fast as the loop runs.
So writes are also held to a budget that grows at `PACE` times real time, capped at
one ring. A real card's clock is within a few hundred ppm of ours, so the budget
never binds on one. Such a device is recognised at `Writer.prime` (right after the
first write the ring is empty again, where a card still holds it all) unless the sink
says (`PcmSink.clocked`), and is then always fed the whole ring: nothing queued there
delays anything, and the budget alone keeps the pace.

**The DAC timeline.** Each render is told when the block's first frame will reach the
DAC and how long a frame lasts there, so that a scheduled start can be put on an exact
frame. On a card that is ``now`` plus what is queued ahead of the write position
(``ring - avail``, as fine as the driver's hardware pointer; a codec's own latency
past the ring is not counted), at the sample rate. A device without a clock has
nothing queued that anything plays: there the budget is the clock, and its "DAC" is
a virtual one that plays at `PACE` times the rate, ``ring - budget`` frames behind
the write position. That is what "reaches the DAC at t" means on such a device, and
it is what its output shows: alsa-lib's ``file`` plugin writes a frame to its file
once one more ring has been written after it (pcm_file.c keeps the slave's buffer
pending), so right after each step the file ends where that virtual DAC is, to a
frame. The file grows along this timeline, 2 % faster than real time, and two such
sinks told to start at the same moment put their first samples at the same point of
it, whatever their tick phases. Of the two delays the longer one binds: on a card
the ring's fill (the budget never falls behind it), on a clockless device the budget
(nothing is ever queued).

**Taking back what is queued** (on a card that can rewind: `Writer.rewinds`). What
the ring holds ahead of the DAC is both the cushion against a late wake-up and what
a listener waits behind. Rewinding lets the ring stay full and still let the urgent
things through: `Writer.rewind_silence` takes back the silence queued at its end
when a stream is ready to start, so its first sample is heard a `guard` after it is
written, not a ring after; `Writer.cut` takes back all but a guard of what is queued
when a stream is stopped, and writes a fade-out of the very samples the DAC was
about to play (kept in a history of the last ring written), so a stop is heard a
guard after the player acts on it, without a click. The guard (one period) is left
to the DAC: frames a driver may already have handed to the hardware (a DMA's or a
USB URB's read-ahead) are never rewritten.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from herald.audio.pcm import ramp
from herald.audio.sink import PcmSink, SinkLost, Underrun

__all__ = ["PACE", "Marker", "Render", "Writer"]

PACE = 1.02

# Underruns in a row with no frame taken in between: the handle is treated as dead
# (squeezelite reopens after 10 failed recoveries).
MAX_XRUNS_IN_A_ROW = 10


@dataclass(slots=True)
class Marker:
    """Call ``fire(now)`` once frame ``frame`` of the block has been written.

    ``inclusive``: fire once that frame itself was taken (a first sample); else once
    every frame before it was (the end of a stream).
    """

    frame: int
    fire: Callable[[float], None]
    inclusive: bool


# render(block, dac_time, frame_s): fill ``block``; its frame ``i`` reaches the DAC at
# ``dac_time + i * frame_s`` (trio time).
Render = Callable[[memoryview, float, float], list[Marker]]


class Writer:
    """The write side of one open sink: pacing, partial writes, xrun recovery."""

    def __init__(
        self,
        sink: PcmSink,
        render: Render,
        *,
        on_xrun: Callable[[], None],
        on_fill: Callable[[int], None],
        plan: Callable[[int], int] | None = None,
    ) -> None:
        """``plan(queued)``: the frames the ring should hold after a step, given what it
        holds now (only asked on a device with a clock; default: the whole ring)."""
        geo = sink.geometry
        self._sink = sink
        self._render = render
        self._on_xrun = on_xrun
        self._on_fill = on_fill
        self._plan = plan
        self._ring = geo.buffer_frames
        self._rate = geo.rate
        self._frame_s = 1.0 / geo.rate
        self._paced_frame_s = 1.0 / (geo.rate * PACE)
        self.target_fill = geo.buffer_frames
        self._block = bytearray(2 * geo.buffer_frames)
        self._samples = memoryview(self._block).cast("h")
        self._bytes = memoryview(self._block)
        self._pending = 0  # first frame of the block not yet written
        self._end = 0  # frames rendered into the block
        self._markers: list[Marker] = []
        self._budget = float(geo.buffer_frames)
        self._last: float | None = None
        self._xruns_in_a_row = 0
        self.frames_written = 0
        # Whether the device plays what it is given at its own pace (a card) or takes
        # everything at once (no clock): declared by the sink, else found at `prime`.
        self.clocked: bool | None = sink.clocked
        self.fill_after = 0  # frames queued right after the last step (an estimate)
        # How far the pointer ``avail`` reports has lagged what the clock says the DAC
        # played since the last step, at most: drivers that update their position once
        # a period report up to a period more queued than there is.
        self.pointer_lag = 0
        self._after_at: float | None = None  # when fill_after was true
        # The last ring of frames written, by frames_written modulo the ring: what the
        # DAC is about to play, for the fade-out of a cut.
        self._history = memoryview(bytearray(2 * geo.buffer_frames)).cast("h")
        self._guard = min(geo.buffer_frames // 2, max(1, geo.period_frames))
        self._credit = 0  # frames taken back since the last step, to be written again
        # Whether the sink can take back what is queued (found at `prime`).
        self.rewinds = False

    @property
    def ring_s(self) -> float:
        """The ring's length in seconds."""
        return self._ring * self._frame_s

    def prime(self, now: float, frames: int | None = None) -> None:
        """Start the ring on ``frames`` of silence (default: the plan's target), so the
        DAC runs before (and between) words."""
        self._last = now
        self.target_fill = self._target(0) if frames is None else frames
        if self.clocked is False:
            self.target_fill = self._ring
        self._silence(now, min(self.target_fill, int(self._budget)))
        if self.clocked is None and self.frames_written:
            # A card holds what was just written (microseconds ago); a device without a
            # clock has taken all of it already. Such a device gets the whole ring.
            try:
                self.clocked = self._sink.avail() < self._ring
            except Underrun:
                self.clocked = True
            if not self.clocked:
                self.target_fill = self._ring
                self._silence(now, int(self._budget))
        self.fill_after = self.frames_written if self.clocked else 0
        if self.clocked and self.frames_written:
            self.rewinds = self._sink.rewindable() > 0

    def rewindable(self) -> int:
        """Frames queued that could be taken back now (0 on a card that cannot)."""
        return self._sink.rewindable() if self.rewinds else 0

    @property
    def guard(self) -> int:
        """Frames a rewind always leaves queued."""
        return self._guard

    def rewind_silence(self, now: float, keep: int = 0) -> int:
        """Take back the silence at the end of the ring, leaving at least ``keep`` frames
        (and the guard) queued, so that what the next step writes is heard that much
        sooner. Sound queued before that silence stays. Returns the frames taken back.
        """
        if not self.rewinds or self._pending < self._end:
            return 0
        can = self._sink.rewindable()
        n = min(can - max(keep, self._guard), self._silent_tail(can))
        return self._take_back(now, n)

    def cut(self, now: float, fade: int) -> int | None:
        """Take back all but the guard of what is queued, and write a fade-out over
        ``fade`` frames of the samples that were to follow the guard. Returns the frame
        (a `frames_written` count) the fade starts at; None if nothing could be taken
        back (the caller fades out as it would have anyway)."""
        if not self.rewinds:
            return None
        self.discard(now)
        n = self._take_back(now, self._sink.rewindable() - self._guard)
        if n <= 0:
            return None
        at = self.frames_written
        self._rewrite(now, min(fade, n), fade=True)
        return at

    def take_back_to(self, now: float, frame: int) -> bool:
        """Take back everything written from frame ``frame`` (a `frames_written` count)
        on, if all of it is still queued beyond the guard. False, and nothing changed,
        if not."""
        n = self.frames_written - frame
        if not self.rewinds or n <= 0 or self._pending < self._end:
            return n == 0
        if n > self._sink.rewindable() - self._guard:
            return False
        taken = self._take_back(now, n)
        if 0 < taken < n:
            # The driver took back less than it said it could: write that part again,
            # so that nothing is lost or doubled.
            self._rewrite(now, taken, fade=False)
        return taken == n

    def _rewrite(self, now: float, frames: int, *, fade: bool) -> None:
        """Write again the first ``frames`` frames just taken back (from the history),
        faded out to silence if ``fade``; the next step writes back the rest."""
        at = self.frames_written % self._ring
        first = min(frames, self._ring - at)
        block = self._samples[:frames]
        block[:first] = self._history[at : at + first]
        block[first:] = self._history[: frames - first]
        if fade:
            ramp(block, 1.0, 0.0)
        self._markers, self._end, self._pending = [], frames, 0
        before = self.frames_written
        self._flush(now)
        written = self.frames_written - before
        self._credit = max(0, self._credit - written)
        self.fill_after += written

    def _silent_tail(self, frames: int) -> int:
        """How many of the last ``frames`` frames written are silence."""
        ring = self._ring
        frames = min(frames, self.frames_written, ring)
        end = self.frames_written % ring
        # Newest first: the part of the history before ``end``, then the wrapped part.
        newest = (max(0, end - frames), end)
        oldest = (ring - max(0, frames - end), ring)
        count = 0
        for lo, hi in (newest, oldest):
            if hi <= lo:
                continue
            part = self._history[lo:hi].cast("B")
            tail = len(part) - len(bytes(part).rstrip(b"\0"))
            count += tail // 2
            if tail < len(part):
                break
        return min(count, frames)

    def _take_back(self, now: float, frames: int) -> int:
        if frames <= 0:
            return 0
        taken = self._sink.rewind(frames)
        if taken <= 0:
            return 0
        self.frames_written -= taken
        self._credit += taken
        self._budget = min(float(self._ring), self._budget + taken)
        self.fill_after = max(0, self.fill_after - taken)
        return taken

    def _silence(self, now: float, n: int) -> None:
        if n <= 0:
            return
        self._samples[:n].cast("B")[:] = bytes(2 * n)
        self._end, self._pending = n, 0
        self._flush(now)

    def _target(self, queued: int) -> int:
        if self.clocked is False or self._plan is None:
            return self._ring
        return max(0, min(self._ring, self._plan(queued)))

    def step(self, now: float, *, grow: bool = True) -> None:
        """Top the ring up. Raises `SinkLost`.

        ``grow=False`` (a kick): write what the DAC consumed since the last step, at
        most, not more. It is heard no later for that (what is queued ahead of it plays
        first either way), and nothing is handed over sooner than it must be: what
        ALSA holds cannot be taken back (a failover's `Stream.truncate`), and a burst
        of arrivals with a kick in it commits nothing the next step would not.
        """
        held = self.fill_after + self._credit
        self._credit = 0
        if self._last is not None:
            earned = (now - self._last) * self._rate * PACE
            self._budget = min(float(self._ring), self._budget + earned)
        self._last = now
        try:
            avail = self._sink.avail()
        except Underrun:
            self._xrun()
            avail = self._ring
        queued = self._ring - avail
        self._on_fill(queued)
        self._note_lag(now, queued)
        self.fill_after = queued
        if self._pending < self._end:
            before = self.frames_written
            after_xrun = self._flush(now)
            queued = after_xrun if after_xrun is not None else queued + self.frames_written - before
            self.fill_after = queued
            if self._pending < self._end:
                return
            # What was just written is queued too, ahead of the block rendered next.
        self.target_fill = self._target(queued)
        if not grow and self.clocked:  # (no clock: the budget alone paces it, as ever)
            self.target_fill = min(self.target_fill, max(queued, held))
        # A second round only if a write found the ring run dry: then the ring holds
        # just what was written since, and must be topped up now, not a tick later.
        for _ in range(2):
            room = self.target_fill - queued
            n = min(room, int(self._budget), self._ring)
            if n <= 0:
                return
            paced = (self._ring - self._budget) * self._paced_frame_s
            queued_s = queued * self._frame_s
            if paced > queued_s:
                self._markers = self._render(self._samples[:n], now + paced, self._paced_frame_s)
            else:
                self._markers = self._render(self._samples[:n], now + queued_s, self._frame_s)
            self._end, self._pending = n, 0
            before = self.frames_written
            after_xrun = self._flush(now)
            written = self.frames_written - before
            self.fill_after = after_xrun if after_xrun is not None else queued + written
            if after_xrun is None or self._pending < self._end:
                return
            queued = after_xrun

    def _note_lag(self, now: float, queued: int) -> None:
        at, self._after_at = self._after_at, now
        if at is None or not self.clocked or queued <= 0:
            return  # no clock, or it ran dry: nothing to compare
        played = self.fill_after - queued
        # Less a frame: a pointer read between two frames is rounded either way.
        lag = round((now - at) * self._rate) - played - 1
        if lag > self.pointer_lag:
            self.pointer_lag = min(lag, self._ring // 2)

    def _remember(self, start: int, frames: int) -> None:
        """Copy block frames ``start:start+frames`` (just written) into the history."""
        ring = self._ring
        src = self._samples[start : start + frames]
        if frames >= ring:
            src, frames = src[frames - ring :], ring
        at = (self.frames_written) % ring
        first = min(frames, ring - at)
        self._history[at : at + first] = src[:first]
        if frames > first:
            self._history[: frames - first] = src[first:]

    def discard(self, now: float) -> None:
        """The sink is gone: forget what was not written, firing its markers."""
        for marker in self._markers:
            marker.fire(now)
        self._markers = []
        self._pending = self._end = 0

    def _xrun(self) -> None:
        self._after_at = None
        self._on_xrun()
        self._budget = float(self._ring)  # the ring is empty: fill it all at once
        self._xruns_in_a_row += 1
        if self._xruns_in_a_row >= MAX_XRUNS_IN_A_ROW:
            raise SinkLost(f"{self._xruns_in_a_row} underruns in a row, nothing written")

    def _flush(self, now: float) -> int | None:
        """Write what is pending. Returns None, or after an xrun the frames written since."""
        after_xrun: int | None = None
        retried = False
        while self._pending < self._end:
            try:
                taken = self._sink.write(self._bytes[2 * self._pending : 2 * self._end])
            except Underrun:
                # Nothing was taken and the sink is prepared again: write the same
                # data once more (a second xrun in a row waits for the next tick).
                self._xrun()
                after_xrun = 0
                if retried:
                    break
                retried = True
                continue
            if taken <= 0:
                break
            self._remember(self._pending, taken)
            self._pending += taken
            self._budget -= taken
            self.frames_written += taken
            self._xruns_in_a_row = 0
            if after_xrun is not None:
                after_xrun += taken
        if self._markers:
            done = self._pending
            keep = []
            for marker in self._markers:
                if marker.frame < done or (not marker.inclusive and marker.frame == done):
                    marker.fire(now)
                else:
                    keep.append(marker)
            self._markers = keep
        return after_xrun
