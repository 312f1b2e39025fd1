"""Keeps one open sink fed, paced by trio's clock: no threads, never blocks the loop.

Each tick reads ``avail()`` and fills the ring. A *kick* (a stream became ready to
start, or was interrupted) runs a step at once instead of at the next tick; it
writes what the DAC consumed since the last one, like any step, so it hands the first
samples to ALSA sooner without taking more ahead of the DAC. What is written comes
from a render callback (streams, else silence) and may be taken only in part: the
rest stays pending, whole frames only, for the next write.

A device that accepts everything at once (the ``file`` plugin's ``null`` slave has
no clock; ``avail()`` is always the whole ring) would be fed as fast as the loop runs.
So writes are also held to a budget that grows at `PACE` times real time, capped at
one ring. A real card's clock is within a few hundred ppm of ours, so the budget
never binds on one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from herald.audio.sink import PcmSink, SinkLost, Underrun

__all__ = ["PACE", "Marker", "Writer"]

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


class Writer:
    """The write side of one open sink: pacing, partial writes, xrun recovery."""

    def __init__(
        self,
        sink: PcmSink,
        render: Callable[[memoryview], list[Marker]],
        *,
        on_xrun: Callable[[], None],
        on_fill: Callable[[int], None],
    ) -> None:
        geo = sink.geometry
        self._sink = sink
        self._render = render
        self._on_xrun = on_xrun
        self._on_fill = on_fill
        self._ring = geo.buffer_frames
        self._rate = geo.rate
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

    def prime(self, now: float) -> None:
        """Start the ring on silence, so the DAC runs before (and between) words."""
        self._last = now
        n = min(self.target_fill, int(self._budget))
        self._samples[:n].cast("B")[:] = bytes(2 * n)
        self._end, self._pending = n, 0
        self._flush(now)

    def step(self, now: float) -> None:
        """Top the ring up. Raises `SinkLost`."""
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
        if self._pending < self._end:
            after_xrun = self._flush(now)
            if self._pending < self._end:
                return
            if after_xrun is not None:
                queued = after_xrun
        # A second round only if a write found the ring run dry: then the ring holds
        # just what was written since, and must be topped up now, not a tick later.
        for _ in range(2):
            room = self.target_fill - queued
            n = min(room, int(self._budget), self._ring)
            if n <= 0:
                return
            self._markers = self._render(self._samples[:n])
            self._end, self._pending = n, 0
            after_xrun = self._flush(now)
            if after_xrun is None or self._pending < self._end:
                return
            queued = after_xrun

    def discard(self, now: float) -> None:
        """The sink is gone: forget what was not written, firing its markers."""
        for marker in self._markers:
            marker.fire(now)
        self._markers = []
        self._pending = self._end = 0

    def _xrun(self) -> None:
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
