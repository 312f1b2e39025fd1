"""Capped exponential backoff with jitter, as plain synchronous logic."""

from __future__ import annotations

import random
from dataclasses import dataclass, field


@dataclass
class Backoff:
    """Delays that double from ``initial`` up to ``cap``.

    Each delay is drawn uniformly from ``[d * (1 - jitter), d]`` where ``d`` is the
    current step, so many herald boxes behind one router that lost its uplink do
    not all reconnect in the same instant. The rng is injectable so tests are exact.
    """

    initial: float
    cap: float
    factor: float = 2.0
    jitter: float = 0.25
    rng: random.Random = field(default_factory=random.Random)
    attempts: int = 0

    def next_delay(self) -> float:
        step = min(self.cap, self.initial * self.factor**self.attempts)
        self.attempts += 1
        return step * (1.0 - self.jitter * self.rng.random())

    def reset(self) -> None:
        self.attempts = 0
