"""Jitter-buffer decisions: how late chunks arrive, and how much audio to hold back.

Plain synchronous logic with time passed in (seconds on trio's clock), no I/O.

Two measures of lateness, per utterance, from chunk arrival times ``a_i`` and media
positions ``t_i`` (audio seconds before chunk ``i``; ``e_i`` is where it ends):

- lateness ``L_i = (a_i - a_0) - t_i``: how far chunk ``i`` came after its due time on
  a real-time schedule anchored at the first chunk. Its maximum ``D*`` is the
  clairvoyant minimum start delay: start ``D*`` after the first chunk and nothing
  ever runs dry. Reported per utterance (``max_lateness``).
- relative lateness ``R_i = (a_i - t_i) - min_{j<i} (a_j - e_j)``: the same, anchored
  at the best earlier moment instead of the first chunk (NetEQ's "relative arrival
  delay"). Its maximum is the audio that must be buffered to ride out the worst
  stall of the utterance wherever it struck. A jitter buffer that starts (or
  resumes) once it holds at least that much audio never runs dry on that utterance.
  It also sees stalls that struck while the buffer was full and did no harm, so the
  next utterance is ready for them.

The start threshold is therefore kept in audio seconds: a high quantile of recent
utterances' maximum relative lateness, with exponential forgetting (NetEQ keeps a
histogram with a forgetting factor and reads its 95th percentile), plus a margin and
the writer's own lead, clamped to [floor, ceiling]. Audio seconds, not wall seconds:
a server that sends faster than real time fills the threshold quickly, so a fat
safety margin costs little start delay.
"""

from __future__ import annotations

import math
from array import array
from dataclasses import dataclass

__all__ = ["Lateness", "StartTarget", "TargetTuning"]


class Lateness:
    """Lateness of one utterance's chunks, updated as each chunk arrives."""

    def __init__(self, rate: int) -> None:
        self._rate = rate
        self.first_arrival: float | None = None
        self.frames = 0  # received so far
        self.chunks = 0
        self.max_lateness = 0.0
        self.max_relative = 0.0
        self.values = array("d")  # every chunk's lateness, in arrival order
        self._best_origin = math.inf  # min over earlier chunks of (a_j - e_j)

    def record(self, now: float, frames: int) -> float:
        """Note a chunk of ``frames`` frames arriving at ``now``; return its lateness."""
        if self.first_arrival is None:
            self.first_arrival = now
        t = self.frames / self._rate
        lateness = (now - self.first_arrival) - t
        self.max_lateness = max(self.max_lateness, lateness)
        self.values.append(lateness)
        if self.chunks:
            self.max_relative = max(self.max_relative, (now - t) - self._best_origin)
        self.frames += frames
        self._best_origin = min(self._best_origin, now - self.frames / self._rate)
        self.chunks += 1
        return lateness


@dataclass(frozen=True, slots=True)
class TargetTuning:
    """How the start threshold adapts (all times in seconds of audio)."""

    floor: float = 0.060
    ceiling: float = 0.800
    # Used until the first utterance has been measured, when nothing is known of
    # the network or the server: covers a 200 ms TCP retransmission stall, or a
    # server running 30 % slower than real time for its first second. It costs
    # about 0.15 s, once, on a server that sends at 3x real time.
    seed: float = 0.400
    # Quantile of recent utterances' worst relative lateness, and how fast old
    # utterances are forgotten (per utterance). With forget < quantile the newest
    # observation always counts; a single stall is remembered while its weight
    # forget**k exceeds (1 - quantile) / (1 - forget): about 10 utterances with
    # these values, and for as long as stalls recur in more than 3 % of them.
    quantile: float = 0.97
    forget: float = 0.95
    margin: float = 0.010  # added to the quantile, for what the histogram rounds off
    bucket: float = 0.005


class StartTarget:
    """The adaptive start threshold, shared by all utterances of a player."""

    def __init__(self, tuning: TargetTuning | None = None, *, lead: float = 0.0) -> None:
        """``lead``: how far ahead of an ideal player the writer takes samples (its
        tick, plus the samples held back for a fade); the threshold adds it to what
        the network needs."""
        self._tuning = tuning or TargetTuning()
        self._lead = lead
        t = self._tuning
        self._weights = [0.0] * (math.ceil(t.ceiling / t.bucket) + 1)
        self._total = 0.0
        self._seconds = self._clamp(t.seed)

    @property
    def tuning(self) -> TargetTuning:
        return self._tuning

    @property
    def seconds(self) -> float:
        """Audio to buffer before an utterance starts."""
        return self._seconds

    def rebuffer_seconds(self, relative_so_far: float) -> float:
        """Audio to buffer before resuming after running dry.

        At least the start threshold, and at least what this utterance has already
        shown it needs: it just ran dry, so it grows at once rather than an utterance
        later.
        """
        need = relative_so_far + self._tuning.margin + self._lead
        return self._clamp(max(self._seconds, need))

    def observe(self, max_relative: float) -> None:
        """Feed one finished utterance's worst relative lateness."""
        t = self._tuning
        weights = self._weights
        for i in range(len(weights)):
            weights[i] *= t.forget
        index = min(len(weights) - 1, max(0, math.ceil(max_relative / t.bucket)))
        weights[index] += 1.0
        self._total = self._total * t.forget + 1.0
        self._seconds = self._clamp(self._quantile() + t.margin + self._lead)

    def _quantile(self) -> float:
        t = self._tuning
        need = t.quantile * self._total
        seen = 0.0
        for i, weight in enumerate(self._weights):
            seen += weight
            # A tiny tolerance so that float dust in the decayed weights cannot push
            # the quantile one bucket past the value it should read.
            if seen >= need - 1e-9:
                return i * t.bucket
        return t.ceiling

    def _clamp(self, seconds: float) -> float:
        t = self._tuning
        return min(t.ceiling, max(t.floor, seconds))
