"""Quiet hours: windows of local time in which normal-priority says are lowered or dropped.

High-priority says (alarms, doorbells) are never touched: missing one is worse than
being woken. Plain synchronous logic; the caller passes the local time of day.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, get_args

__all__ = ["Decision", "Mode", "Priority", "QuietHours", "Window", "parse_window"]

Mode = Literal["lower", "drop"]
Priority = Literal["normal", "high"]

_DAY_US = 24 * 3600 * 1_000_000
_ALLOWED = '"HH:MM-HH:MM" in 24-hour local time, like "22:00-07:00" (24:00 may end a window)'
# 1-digit hours are unambiguous, so accepted; re.ASCII keeps other scripts' digits out.
# Possessive, and only from the start of a run of spaces: linear even under search.
_WINDOW = re.compile(r"(?<!\s)\s*+(\d{1,2}):(\d\d)\s*+-\s*+(\d{1,2}):(\d\d)\s*+", re.ASCII)


def _us(t: dt.time) -> int:
    return ((t.hour * 60 + t.minute) * 60 + t.second) * 1_000_000 + t.microsecond


@dataclass(frozen=True)
class Window:
    """From ``start`` (inclusive) to ``end`` (exclusive), crossing midnight if end < start.

    ``time`` has no 24:00, so an end of 24:00 is stored as 00:00, which means the same
    thing; ``start == end`` is the whole day ("00:00-24:00").
    """

    start: dt.time
    end: dt.time

    def contains(self, now: dt.time) -> bool:
        start = _us(self.start)
        length = (_us(self.end) - start) % _DAY_US or _DAY_US
        return (_us(now) - start) % _DAY_US < length

    def __str__(self) -> str:
        end = "24:00" if self.end == dt.time(0) else f"{self.end:%H:%M}"
        return f"{self.start:%H:%M}-{end}"


def parse_window(text: str) -> Window:
    """Parse "HH:MM-HH:MM"; raises ValueError saying what is wrong and what is allowed."""
    shown = json.dumps(text, ensure_ascii=False)
    if not text.strip():
        raise ValueError(f"quiet hours window {shown} is blank: expected {_ALLOWED}")
    match = _WINDOW.fullmatch(text)
    if match is None:
        raise ValueError(f"quiet hours window {shown} is not a time range: expected {_ALLOWED}")
    sh, sm, eh, em = (int(g) for g in match.groups())
    for hour, minute in ((sh, sm), (eh, em)):
        if hour > 24 or minute > 59 or (hour == 24 and minute):
            raise ValueError(
                f"quiet hours window {shown}: {hour:02}:{minute:02} is not a time of day"
                " (hours 00 to 23, minutes 00 to 59; 24:00 may end a window)"
            )
    if sh == 24:
        raise ValueError(
            f"quiet hours window {shown}: 24:00 can only end a window; start it at 00:00"
        )
    if (sh, sm) == (eh, em):
        raise ValueError(
            f"quiet hours window {shown} is an empty window: it starts and ends at"
            f' {sh:02}:{sm:02} (for the whole day, write "00:00-24:00")'
        )
    return Window(dt.time(sh, sm), dt.time(eh % 24, em))


@dataclass(frozen=True)
class Decision:
    play: bool
    volume: int | None  # None: unchanged; else the volume to speak this say at


_PLAY = Decision(play=True, volume=None)
_DROP = Decision(play=False, volume=None)


class QuietHours:
    """The quiet hours policy; no windows: never quiet."""

    def __init__(self, windows: Sequence[Window], mode: Mode, volume: int) -> None:
        if mode not in get_args(Mode):
            raise ValueError(f'quiet hours mode must be "lower" or "drop", not {mode!r}')
        if not 0 <= volume <= 100:
            raise ValueError(f"quiet hours volume must be 0 to 100, not {volume}")
        self.windows = tuple(windows)
        self.mode: Mode = mode
        self.volume = volume

    def active(self, now: dt.time) -> bool:
        return any(w.contains(now) for w in self.windows)

    def decide(self, priority: Priority, now: dt.time, volume: int) -> Decision:
        """Whether and how loud to speak a say that would otherwise play at ``volume``."""
        if priority == "high" or not self.active(now):
            return _PLAY
        if self.mode == "drop":
            return _DROP
        # Never louder: a volume already below the quiet one stays where the user put it.
        return Decision(play=True, volume=min(self.volume, volume))

    def __repr__(self) -> str:
        windows = ", ".join(str(w) for w in self.windows)
        return f"QuietHours([{windows}], mode={self.mode!r}, volume={self.volume})"
