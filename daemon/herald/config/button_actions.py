"""`[[buttons]]`: one table per button, and the actions its gestures trigger.

    [[buttons]]
    name = "kitchen"
    pin = 17                   # BCM number, or a gpiozero name: "GPIO17", "BOARD11"
    pull_up = true             # pressed connects the pin to ground
    bounce_ms = 30
    hold_s = 1.0               # held this long: a long press
    double_s = 0.4             # a second press this soon after release: a double press
    short = {say = "Dinner is ready"}
    long = "stop"
    double = {clip = "doorbell", say = "Someone is at the door"}

An action is one of the strings "stop", "replay", "volume_up", "volume_down", "mute"
(mute toggles), or a table with `say` (text to speak) and/or `clip` (a sound from the
clips folder, played before the text).
"""

from typing import Annotated, Literal

import msgspec
from msgspec import Meta

__all__ = ["Action", "ButtonConfig", "Command", "Press", "Speak", "describe"]

Press = Literal["short", "long", "double"]
Command = Literal["stop", "replay", "volume_up", "volume_down", "mute"]

ButtonName = Annotated[
    str,
    Meta(pattern=r"^[a-z0-9_-]{1,32}\Z", description="1 to 32 of a-z, 0-9, '_' or '-'"),
]
BcmPin = Annotated[int, Meta(ge=0, le=53, description="a BCM GPIO number from 0 to 53")]
PinName = Annotated[
    str,
    Meta(
        pattern=r"^(?:(?:GPIO|BCM|BOARD|WPI)[0-9]{1,2}|J8:[0-9]{1,2})\Z",
        description='a pin name such as "GPIO17" or "BOARD11"',
    ),
]
BounceMs = Annotated[int, Meta(ge=0, le=1000)]
HoldSeconds = Annotated[float, Meta(ge=0.2, le=10)]
DoubleSeconds = Annotated[float, Meta(ge=0.1, le=2)]
Text = Annotated[str, Meta(min_length=1)]
ClipName = Annotated[str, Meta(min_length=1)]


class Speak(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Say text, play a clip, or both (the clip first): `{say = "..."}`, `{clip = "..."}`."""

    say: Text | None = None
    clip: ClipName | None = None

    def __post_init__(self) -> None:
        if self.say is None and self.clip is None:
            raise ValueError("an action table needs `say` (text) or `clip` (a clip name)")


Action = Command | Speak


class ButtonConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One `[[buttons]]` table."""

    name: ButtonName
    pin: BcmPin | PinName
    pull_up: bool = True  # true: pressed pulls the pin low
    bounce_ms: BounceMs = 30  # edges closer than this are ignored
    hold_s: HoldSeconds = 1.0  # held this long: "long" (fires while still held)
    double_s: DoubleSeconds = 0.4  # a second press within this of the release: "double"
    short: Action | None = None
    long: Action | None = None
    double: Action | None = None

    def action(self, press: Press) -> Action | None:
        """The action configured for a gesture (None: only published)."""
        if press == "short":
            return self.short
        if press == "long":
            return self.long
        return self.double


def describe(action: Action | None) -> str:
    """An action in words, for logs: 'say "Dinner is ready"', 'clip doorbell', 'stop'."""
    if action is None:
        return "no action"
    if isinstance(action, str):
        return action.replace("_", " ")
    parts = []
    if action.clip is not None:
        parts.append(f"clip {action.clip}")
    if action.say is not None:
        text = action.say if len(action.say) <= 40 else action.say[:39] + "…"
        parts.append(f'say "{text}"')
    return " then ".join(parts)
