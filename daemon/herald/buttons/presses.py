"""Edges in, gestures out: the press classifier, pure and synchronous.

Times are plain floats in seconds (trio's clock in the service, numbers in tests). Each
gesture is reported exactly once:

- "long": the button is held for `hold_s`; reported at that moment (from `poll`, or from the
  release if nobody polled in time). Its release is ignored.
- "double": a second press starts within `double_s` of the first release; reported at that
  press. The first press does not also give a "short"; the second press's release, and any
  hold of it, are ignored.
- "short": a press released before `hold_s`, with no second press within `double_s`;
  reported when that window closes.

Edges closer than `bounce_s` to the previous accepted edge are ignored, as are edges that
do not change the state (a press while pressed).
"""

import enum
import math

from herald.config.button_actions import Press

__all__ = ["PressClassifier"]


class _State(enum.Enum):
    IDLE = enum.auto()
    DOWN = enum.auto()  # first press, held, not yet long
    UP = enum.auto()  # first press released, waiting for a second
    HELD = enum.auto()  # long reported, waiting for the release
    DOWN_AGAIN = enum.auto()  # double reported, waiting for the release


class PressClassifier:
    """Classifies one button's edges; call `poll` at `next_deadline()`."""

    def __init__(self, *, hold_s: float, double_s: float, bounce_s: float = 0.0) -> None:
        if hold_s <= 0 or double_s <= 0 or bounce_s < 0:
            raise ValueError("hold_s and double_s must be above 0, bounce_s at least 0")
        self.hold_s = hold_s
        self.double_s = double_s
        self.bounce_s = bounce_s
        self._state = _State.IDLE
        self._since = 0.0  # when the current state began (press or release time)
        self._last_edge = -math.inf

    @property
    def is_pressed(self) -> bool:
        return self._state in (_State.DOWN, _State.HELD, _State.DOWN_AGAIN)

    def next_deadline(self) -> float | None:
        """When `poll` may report a gesture; None: not until the next edge."""
        if self._state is _State.DOWN:
            return self._since + self.hold_s
        if self._state is _State.UP:
            return self._since + self.double_s
        return None

    def poll(self, t: float) -> Press | None:
        """Report the gesture whose deadline has passed at time `t`, if any."""
        if self._state is _State.DOWN and t >= self._since + self.hold_s:
            self._state = _State.HELD
            return "long"
        if self._state is _State.UP and t >= self._since + self.double_s:
            self._state = _State.IDLE
            return "short"
        return None

    def pressed(self, t: float) -> Press | None:
        """The button went down at `t`. May report the previous press's "short" (late
        poll) or a "double"."""
        if self.is_pressed or self._bounces(t):
            return None
        late = self.poll(t)  # the double window closed before this press
        if self._state is _State.UP:
            self._state = _State.DOWN_AGAIN
            return "double"
        self._state = _State.DOWN
        self._since = t
        return late

    def released(self, t: float) -> Press | None:
        """The button went up at `t`. May report a "long" nobody polled for in time."""
        if not self.is_pressed or self._bounces(t):
            return None
        late = self.poll(t)
        if self._state is _State.DOWN:
            self._state = _State.UP
            self._since = t
            return None
        self._state = _State.IDLE
        return late

    def _bounces(self, t: float) -> bool:
        if t - self._last_edge < self.bounce_s:
            return True
        self._last_edge = t
        return False
