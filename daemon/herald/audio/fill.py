"""How full the ALSA ring is kept, and how often the writer wakes: plain logic, no I/O.

What the ring holds ahead of the DAC is what a listener waits behind: a first word is
heard only once the silence queued before it has played, and an interrupt's fade once
the speech queued before it has. What it holds is also what survives a late wake-up
of the writer (a GC pause, a busy loop, the scheduler). So the fill follows what is
at stake, on a device with a clock (`Mode`):

- **idle** (nothing to play, only silence queued): the slow tick and a fill just
  above it (`idle_fill_s`): the same wake-ups as ever while herald waits, so the idle
  daemon costs what it did, and the least silence that still outlasts a late tick.
- **waiting** (a stream is about to start as soon as it may: queued, pre-buffering,
  re-buffering, or behind a cold open's lead-in): the ring is let down to
  `start_fill_s` of silence and held there by a fast tick, so the first sample
  written when the stream becomes ready is heard that much later, not a ring later.
  Only while something is about to play: the fast tick never runs while idle.
- **playing**: the fill grows from the jitter buffer up to the whole ring
  (`Mode.PLAYING`, with the stream's spare audio): audio moves from one buffer to
  the other, so the cushion against the network is unchanged, and the ring then
  outlasts a 100 ms stall of the writer between two slow ticks. When the network
  runs late the ring is drawn down first (the stream gives only what it has), and
  the stream fades out only when the ring is down to `start_fill_s`.

The low fills assume the writer wakes on time. It is measured (`WakeLateness`): every
timed wake-up's lateness, as a decaying maximum that forgets over about 30 s, is
added to them (an underrun counts as a wake-up as late as the fill it ran through),
so a loaded machine (or one that just stalled) keeps more queued, and gets back to
the fast start once it is quiet again.

A device without a clock (ALSA's ``file`` plugin on ``null``) has nothing queued to
manage: there the writer's budget is the clock, and it is always fed the whole ring
at the slow tick, as before (`Writer.clocked`).
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass

__all__ = ["FillPlan", "Mode", "WakeLateness"]


class Mode(enum.Enum):
    IDLE = "idle"
    WAITING = "waiting"
    PLAYING = "playing"


@dataclass(frozen=True, slots=True)
class FillPlan:
    """Fill targets and tick choice in frames, from `PlayerTuning` and the ring."""

    ring: int
    start_fill: int  # held while a stream waits to start (on a punctual machine)
    idle_fill: int  # held on silence with nothing to play (on a punctual machine)
    fast_tick: int
    slow_tick: int
    margin: int  # least fill left at a wake-up, beyond its lateness

    @classmethod
    def make(
        cls,
        rate: int,
        ring: int,
        *,
        tick_s: float,
        fast_tick_s: float,
        start_fill_s: float,
        idle_margin_s: float,
        margin_s: float,
    ) -> FillPlan:
        def frames(seconds: float) -> int:
            return min(ring, max(1, round(seconds * rate)))

        return cls(
            ring=ring,
            start_fill=frames(start_fill_s),
            idle_fill=frames(tick_s + idle_margin_s),
            fast_tick=frames(fast_tick_s),
            slow_tick=frames(tick_s),
            margin=frames(margin_s),
        )

    def target(self, mode: Mode, queued: int, spare: int = 0, *, late: int = 0) -> int:
        """Frames the ring should hold after this step.

        ``spare``, while playing: frames the stream can hand over now without running
        dry (all it holds once it has ended). The ring never takes more than that
        beyond what it holds, and never less than the start fill: below that the
        stream has to fade out (an underrun), because the ring would run dry.
        ``late``: how late the writer's wake-ups have been lately (`WakeLateness`).
        """
        if mode is Mode.IDLE:
            return min(self.ring, max(self.idle_fill, self.slow_tick + late + self.margin))
        start = self.least(late)
        if mode is Mode.WAITING:
            return start
        return min(self.ring, max(start, queued + max(0, spare)))

    def least(self, late: int = 0) -> int:
        """The least fill that outlasts the next wake-up, with ``late`` frames of recent
        lateness: what is held while a stream waits, and below which a playing one
        fades out rather than let the ring run dry."""
        return min(self.ring, max(self.start_fill, self.fast_tick + late + self.margin))

    def slow(self, fill_after: int, *, late: int = 0) -> bool:
        """Whether the slow tick may come next, with ``fill_after`` frames queued: once
        the ring outlasts it (and the lateness seen), or is as full as it gets (waking
        more often would only add to the load that makes the wake-ups late)."""
        return fill_after >= min(self.ring, self.slow_tick + late + self.margin)


class WakeLateness:
    """How late the writer's timed wake-ups come: a maximum that decays by e every
    `memory_s`, so one stall is remembered for a while and then forgotten."""

    def __init__(self, memory_s: float = 30.0) -> None:
        self._memory = memory_s
        self._value = 0.0
        self._at = -math.inf

    def seconds(self, now: float) -> float:
        if self._value == 0.0:
            return 0.0
        return self._value * math.exp(-(now - self._at) / self._memory)

    def observe(self, now: float, lateness: float) -> None:
        if lateness > self.seconds(now):
            self._value, self._at = lateness, now
