"""The boundary to the sound card: what the player needs from a PCM, and how it fails.

The player only ever talks to a `SinkDevice` (something it can open by name) and the
`PcmSink` it returns. `herald.audio.alsa_sink` is the real one (pyalsaaudio);
`herald.audio.sim_sink` is a simulated card on trio's clock for tests and benches.
Every call is synchronous and must not block: sinks are non-blocking and the player
paces itself with the trio clock and `PcmSink.avail`.

Errors are split by what the caller must do next:

- `Underrun` (ALSA's -EPIPE): the ring ran dry. The sink is already re-prepared and
  nothing of the failed write was taken; count it and write again.
- `SinkLost`: the handle is dead (device unplugged, I/O error, bad fd). Close it,
  never use it again, and open a fresh one with backoff.
- `SinkOpenError`: the device could not be opened (missing, busy, or the driver gave
  a geometry we cannot work with). Retry with backoff.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

__all__ = [
    "FRAME_BYTES",
    "Geometry",
    "PcmSink",
    "SinkDevice",
    "SinkError",
    "SinkLost",
    "SinkOpenError",
    "Underrun",
    "geometry_problem",
]

# int16 little-endian mono: one frame is one sample is two bytes.
FRAME_BYTES = 2

# The ring must hold at least this many periods: with two, the DAC reads one while we
# write the other and any wake-up delay is an xrun (snapcast #774).
MIN_PERIODS = 3


class SinkError(Exception):
    """Base of the sink errors."""


class SinkOpenError(SinkError):
    """The device could not be opened; the message names the device."""


class SinkLost(SinkError):
    """The open handle is dead; close it and open a new one."""


class Underrun(SinkError):
    """The ring ran dry (-EPIPE). The sink is re-prepared; nothing was written."""


@dataclass(frozen=True, slots=True)
class Geometry:
    """Rate and ring layout of an open PCM, in frames."""

    rate: int
    period_frames: int
    buffer_frames: int

    @property
    def periods(self) -> float:
        return self.buffer_frames / self.period_frames

    @property
    def period_s(self) -> float:
        return self.period_frames / self.rate

    @property
    def buffer_s(self) -> float:
        return self.buffer_frames / self.rate

    @classmethod
    def request(cls, rate: int, period_s: float, periods: int) -> Geometry:
        """The geometry to ask a driver for: ``periods`` periods of ``period_s``."""
        period = max(1, round(rate * period_s))
        return cls(rate=rate, period_frames=period, buffer_frames=period * periods)


def geometry_problem(want: Geometry, got: Geometry) -> str | None:
    """Why the geometry a driver gave (``got``) is unusable, or None if it is fine.

    Drivers round periods and buffers, so only what matters is checked: the exact rate
    (anything else plays at the wrong pitch), at least `MIN_PERIODS` periods, and a
    period no longer than half the ring (else ``avail`` moves in steps too coarse to
    keep the ring fed).
    """
    if got.rate != want.rate:
        return f"rate {got.rate} Hz instead of {want.rate} Hz"
    if got.period_frames <= 0 or got.buffer_frames < MIN_PERIODS * got.period_frames:
        return (
            f"{got.buffer_frames} frames in periods of {got.period_frames}: "
            f"fewer than {MIN_PERIODS} periods"
        )
    return None


class PcmSink(Protocol):
    """An open playback PCM: S16_LE, mono, non-blocking."""

    @property
    def geometry(self) -> Geometry:
        """The geometry the driver actually gave (checked at open)."""
        ...

    @property
    def clocked(self) -> bool | None:
        """True if a DAC plays what is queued at the rate, False if the device takes
        everything at once (no clock), None if unknown (the writer finds out)."""
        ...

    def avail(self) -> int:
        """Frames that can be written now, 0 to ``geometry.buffer_frames``.

        Raises `Underrun` if the ring ran dry since the last call (the sink is
        re-prepared and empty), `SinkLost` if the handle is dead.
        """
        ...

    def write(self, pcm: bytes | bytearray | memoryview) -> int:
        """Queue whole frames; returns how many frames were taken (maybe fewer, maybe 0).

        Raises `Underrun` (nothing taken: write the same data again) or `SinkLost`.
        """
        ...

    def rewindable(self) -> int:
        """Frames queued that can still be taken back (`rewind`): 0 where the device
        cannot rewind. Raises `SinkLost`."""
        ...

    def rewind(self, frames: int) -> int:
        """Take back the last ``frames`` frames queued (at most `rewindable`), as if they
        had never been written; returns how many were. Raises `SinkLost`."""
        ...

    def close(self) -> None:
        """Discard what is queued and release the device. Never raises."""
        ...


class SinkDevice(Protocol):
    """A device that can be opened by name, again and again."""

    @property
    def name(self) -> str:
        """The device's name, for logs and status (an ALSA PCM name)."""
        ...

    def open(self, want: Geometry) -> PcmSink:
        """Open a fresh handle asking for ``want``; raises `SinkOpenError`."""
        ...
