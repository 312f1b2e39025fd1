"""A simulated sound card on trio's clock, for logic tests and benchmarks.

`SimDevice` behaves like a pyalsaaudio playback PCM in non-blocking mode behind the
`SinkDevice` / `PcmSink` protocols: its DAC consumes the ring at exactly the sample
rate on ``trio.current_time()`` (so ``MockClock`` governs it), it starts on the first
frame written (alsa-lib's default start threshold), and a ring that runs empty while
running is an xrun, reported as `Underrun` by the next ``avail`` or ``write``, after
which it is re-prepared (pyalsaaudio returns -EPIPE and prepares).

Faults to inject: `SimDevice.inject_underrun` (the next call sees -EPIPE),
`SimDevice.unplug` (the open handle dies, opens fail) and `SimDevice.replug`,
`SimDevice.fail_opens`, `SimDevice.write_limit` (partial writes), and
`SimDevice.grant` (the geometry the "driver" gives instead of the one asked for).

Every frame written is kept in `SimDevice.written`, in order across handles, with
the moments the DAC went silent (an xrun, a dead handle) recorded in `SimDevice.gaps`.
The hardware pointer moves with the clock: each write is logged with the moment its
first frame reaches the DAC (`SimDevice.dac_log`: after what the ring held then, or at
once if the DAC was stopped), so `SimDevice.dac_time` tells when any frame played and
`SimDevice.first_sound` when the first non-zero one after a point did: what a
listener hears, where ``write_log`` is what the application handed over.
``SimDevice(pointer_step=N)`` moves the pointer that ``avail`` reports in steps of N
frames, like drivers whose position is only updated once per period.

``rewind`` takes frames back off the end of the ring as a card's driver does: they are
cut from `SimDevice.written` (and its logs) as if never written, since they never
play; ``SimDevice(rewind=False)`` is a device that cannot (``rewindable`` is 0), and
`SimDevice.rewound` counts what was taken back.

``SimDevice(clock=False)`` is a device without a clock instead, like ALSA's ``file``
plugin on its ``null`` slave: ``avail()`` is always the whole ring, nothing is ever
played or underrun, and only the writer's pacing keeps it in real time.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import trio

from herald.audio.sink import (
    FRAME_BYTES,
    Geometry,
    SinkLost,
    SinkOpenError,
    Underrun,
    geometry_problem,
)

__all__ = ["Gap", "SimDevice", "SimSink"]


@dataclass(frozen=True, slots=True)
class Gap:
    """The DAC had nothing to play from ``at`` (a frame offset into ``written``)."""

    at: int
    time: float
    reason: str  # "xrun" or "lost"


class SimDevice:
    """A fake sound card that can be opened, unplugged and replugged."""

    def __init__(
        self,
        name: str = "sim",
        *,
        grant: Callable[[Geometry], Geometry] | None = None,
        clock: bool = True,
        pointer_step: int = 1,
        rewind: bool = True,
    ) -> None:
        self._name = name
        self.can_rewind = rewind
        self.rewound = 0  # frames taken back by rewind()
        self.grant = grant
        self.clock = clock
        self.pointer_step = max(1, pointer_step)
        self.present = True
        self.fail_opens = 0  # the next N opens fail even though present
        self.write_limit: int | None = None  # most frames one write() takes
        self.written = bytearray()  # every frame written, in order, across handles
        self.write_log: list[tuple[float, int, int]] = []  # (time, offset, frames)
        # (offset, frames, when the first of them reaches the DAC), one per write
        self.dac_log: list[tuple[int, int, float]] = []
        self.handle_starts: list[int] = []  # the offset in `written` of each handle's start
        self.gaps: list[Gap] = []
        self.opens = 0  # successful opens
        self.open_attempts: list[float] = []
        self.closes = 0
        self.current: SimSink | None = None
        self._underrun_pending: str | None = None

    @property
    def name(self) -> str:
        return self._name

    @property
    def xruns(self) -> int:
        return sum(1 for gap in self.gaps if gap.reason == "xrun")

    def open(self, want: Geometry) -> SimSink:
        self.open_attempts.append(trio.current_time())
        if not self.present:
            raise SinkOpenError(f"No such device [{self._name}]")
        if self.fail_opens:
            self.fail_opens -= 1
            raise SinkOpenError(f"Device or resource busy [{self._name}]")
        if self.current is not None and not self.current.closed:
            raise SinkOpenError(f"Device or resource busy [{self._name}] (still open)")
        got = self.grant(want) if self.grant else want
        problem = geometry_problem(want, got)
        if problem:
            raise SinkOpenError(f"{self._name}: unusable geometry: {problem}")
        self.opens += 1
        self.current = SimSink(self, got)
        return self.current

    def inject_underrun(self, call: Literal["avail", "write"] = "avail") -> None:
        """Make the open handle's next ``call`` find the ring run dry (-EPIPE)."""
        self._underrun_pending = call

    def unplug(self) -> None:
        """The device disappears: the open handle dies and opens fail until `replug`."""
        self.present = False
        if self.current is not None and not self.current.closed:
            self.current._die()

    def replug(self) -> None:
        self.present = True

    def dac_time(self, frame: int) -> float:
        """When frame ``frame`` of `written` reached the DAC.

        Each handle's DAC starts on its first write and plays its ring at exactly the
        rate; after an xrun it starts again on the next write. A frame that a closed
        or dead handle still held never played: the time given is when it would have.
        """
        if not self.clock:
            raise ValueError(f"{self._name} has no clock: its frames never play")
        if self.current is None:
            raise ValueError(f"{self._name} was never opened")
        rate = self.current.geometry.rate
        i = bisect.bisect_right(self.dac_log, frame, key=lambda entry: entry[0]) - 1
        if i >= 0:
            offset, frames, when = self.dac_log[i]
            if offset <= frame < offset + frames:
                return when + (frame - offset) / rate
        raise ValueError(f"frame {frame} was never written")

    def first_sound(self, after: int = 0) -> tuple[int, float] | None:
        """The first non-zero frame written at or after frame ``after``, and when it
        reached the DAC; None if there is none (yet)."""
        data = bytes(self.written[FRAME_BYTES * after :])
        rest = data.lstrip(b"\x00")
        if not rest:
            return None
        frame = after + (len(data) - len(rest)) // FRAME_BYTES
        return frame, self.dac_time(frame)

    def take_underrun(self, call: str) -> bool:
        if self._underrun_pending != call:
            return False
        self._underrun_pending = None
        return True


class SimSink:
    """One open handle of a `SimDevice`."""

    def __init__(self, device: SimDevice, geometry: Geometry) -> None:
        self._device = device
        self._geometry = geometry
        self._fill = 0.0  # frames queued, fractional as the DAC consumes continuously
        self._played = 0.0  # frames the DAC consumed since it last started
        self._running = False
        self._xrun = False
        self._updated = trio.current_time()
        device.handle_starts.append(len(device.written) // FRAME_BYTES)
        self.closed = False
        self.dead = False
        self.min_fill: float | None = None  # lowest fill seen while running

    @property
    def geometry(self) -> Geometry:
        return self._geometry

    @property
    def clocked(self) -> bool:
        return self._device.clock

    def _advance(self) -> None:
        now = trio.current_time()
        if not self._device.clock:
            self._fill = 0.0  # nothing to play it: all of it is gone at once
        elif self._running and not self._xrun:
            played = min(self._fill, (now - self._updated) * self._geometry.rate)
            self._played += played
            self._fill -= (now - self._updated) * self._geometry.rate
            if self._fill <= 0:
                self._xrun = True
                empty_at = now + self._fill / self._geometry.rate
                self._fill = 0.0
                at = len(self._device.written) // FRAME_BYTES
                self._device.gaps.append(Gap(at, empty_at, "xrun"))
            elif self.min_fill is None or self._fill < self.min_fill:
                self.min_fill = self._fill
        self._updated = now

    def _check(self, call: str) -> None:
        if self.closed:
            raise SinkLost(f"PCM device is closed [{self._device.name}]")
        if self.dead:
            raise SinkLost(f"No such device [{self._device.name}]")
        self._advance()
        if self._device.take_underrun(call) and self._running:
            self._xrun = True
            at = len(self._device.written) // FRAME_BYTES
            self._device.gaps.append(Gap(at, trio.current_time(), "xrun"))
        if self._xrun:
            # pyalsaaudio re-prepares the stream and reports -EPIPE.
            self._xrun = False
            self._running = False
            self._fill = 0.0
            self._played = 0.0
            raise Underrun(f"Broken pipe [{self._device.name}]")

    def avail(self) -> int:
        self._check("avail")
        # The pointer the driver reports lags the DAC by what it has played of the
        # current step (a period-granular driver updates it once per period).
        step = self._device.pointer_step
        lag = self._played % step if step > 1 else 0.0
        return self._geometry.buffer_frames - int(-(-(self._fill + lag) // 1))

    def write(self, pcm: bytes | bytearray | memoryview) -> int:
        if len(pcm) % FRAME_BYTES:
            raise ValueError("Data size must be a multiple of framesize")
        self._check("write")
        frames = len(pcm) // FRAME_BYTES
        room = self._geometry.buffer_frames - int(-(-self._fill // 1))
        take = min(frames, room)
        if self._device.write_limit is not None:
            take = min(take, self._device.write_limit)
        if take <= 0:
            return 0
        device = self._device
        now = trio.current_time()
        offset = len(device.written) // FRAME_BYTES
        device.write_log.append((now, offset, take))
        # A running DAC reaches these frames once it has played what is queued; a
        # stopped one starts on them now.
        device.dac_log.append((offset, take, now + self._fill / self._geometry.rate))
        device.written += pcm[: take * FRAME_BYTES]
        self._fill += take
        if not self._running:
            self._played = 0.0
        self._running = True
        return take

    def rewindable(self) -> int:
        if self.closed or self.dead:
            raise SinkLost(f"PCM device is gone [{self._device.name}]")
        self._advance()
        if self._xrun or not self._device.can_rewind or not self._device.clock:
            return 0
        # What the DAC has not reached yet (the frame it is playing is not).
        return max(0, int(self._fill))

    def rewind(self, frames: int) -> int:
        take = min(frames, self.rewindable())
        if take <= 0:
            return 0
        device = self._device
        end = len(device.written) // FRAME_BYTES - take
        del device.written[FRAME_BYTES * end :]
        while device.dac_log and device.dac_log[-1][0] >= end:
            device.dac_log.pop()
        if device.dac_log:
            offset, count, when = device.dac_log[-1]
            device.dac_log[-1] = (offset, min(count, end - offset), when)
        while device.write_log and device.write_log[-1][1] >= end:
            device.write_log.pop()
        if device.write_log:
            when, offset, count = device.write_log[-1]
            device.write_log[-1] = (when, offset, min(count, end - offset))
        self._fill -= take
        device.rewound += take
        return take

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self._device.closes += 1

    def _die(self) -> None:
        self.dead = True
        at = len(self._device.written) // FRAME_BYTES
        self._device.gaps.append(Gap(at, trio.current_time(), "lost"))
