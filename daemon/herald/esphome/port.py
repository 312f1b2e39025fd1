"""What the ESPHome server needs from the rest of herald: the `SpeakerPort`.

The server is a translator: Home Assistant's commands become calls on this port, and
the port's observables become entity states. The real port is a thin layer over the
speaker queue and the runtime settings (see the README section); the server's tests
use a fake of it.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Protocol

from herald.observable import Observable

__all__ = ["AnnounceOutcome", "Playback", "SpeakerPort"]


class Playback(enum.Enum):
    """What the speaker is doing, as the media_player entity shows it."""

    IDLE = "idle"
    PLAYING = "playing"  # a say, or media from play_media without announce
    ANNOUNCING = "announcing"  # an announce (assist_satellite or play_media announce)


@dataclass(frozen=True, slots=True)
class AnnounceOutcome:
    """How an announcement ended: ``success`` goes back to Home Assistant as is.

    ``event`` is herald's terminal event (``finished``, ``interrupted``, ``dropped``,
    ``failed``) and ``detail`` its reason or error, for the log line.
    """

    success: bool
    event: str = "finished"
    detail: str = ""


class SpeakerPort(Protocol):
    """herald's speaker as Home Assistant drives it. Every command is tagged with the
    source ``esphome`` by the real port, for the MQTT events.

    Only `announce` waits; everything else returns at once (it queues or sets).
    """

    @property
    def volume(self) -> Observable[int]:
        """The device volume, 0-100 (shared with MQTT, the buttons and the state file)."""
        ...

    @property
    def muted(self) -> Observable[bool]:
        """Mute (do-not-disturb), shared like the volume."""
        ...

    @property
    def playback(self) -> Observable[Playback]:
        """What plays now."""
        ...

    async def announce(
        self, text: str | None, media_url: str | None, preannounce_url: str | None
    ) -> AnnounceOutcome:
        """Queue a high-priority announcement and wait until it has ended.

        With ``text``, herald speaks it in its own voice (cache, Cartesia, local voice)
        and ignores ``media_url``; without, it plays ``media_url``. ``preannounce_url``
        (Home Assistant's chime) plays first, with no gap. Returns when it finished,
        failed, was dropped or was interrupted; never raises for any of those.
        """
        ...

    def play_media(self, url: str, *, announce: bool) -> None:
        """Queue ``url`` (WAV) to be fetched and played; ``announce``: high priority."""
        ...

    def stop(self) -> None:
        """Stop what plays and clear the queue (as MQTT's stop)."""
        ...

    def set_volume(self, volume: int) -> None:
        """Set the volume, 0-100 (clamped)."""
        ...

    def step_volume(self, steps: int) -> None:
        """Volume up (+1) or down (-1) by herald's step."""
        ...

    def set_mute(self, mute: bool) -> None:
        """Mute or unmute."""
        ...
