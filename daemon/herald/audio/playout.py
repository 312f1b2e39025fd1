"""One utterance between the network and the device: buffering, start, underruns, fades.

Plain synchronous logic, no trio and no I/O: the player pushes chunks in as they
arrive and pulls blocks of samples out whenever the device has room.

States::

    PREBUFFER --(threshold reached, or the whole utterance is in)--> PLAYING
    PLAYING --(about to run dry)--> fade out --> REBUFFER
    REBUFFER --(rebuffer threshold, or the rest is all in)--> fade in --> PLAYING
    PLAYING --(end() and the last sample played)--> DONE      (not an underrun)
    any --(interrupt())--> fade out, if anything is audible --> DONE

Samples pass unchanged except inside fades: a stream starts without a fade (the
device is already running on silence, and a TTS utterance starts at silence) and ends
without one, so at volume 100 the output is the input, in order, with silence only
inserted. While playing, `fade_frames` samples are always held back, so that running
dry can always be announced by a full-length fade-out of real samples rather than a
cut: those samples are played, faded, and nothing is dropped.
"""

from __future__ import annotations

import enum
from collections import deque

from herald.audio.jitter import Lateness, StartTarget
from herald.audio.pcm import ramp

__all__ = ["Phase", "Playout"]


class Phase(enum.Enum):
    PREBUFFER = "prebuffer"
    PLAYING = "playing"
    REBUFFER = "rebuffer"
    DONE = "done"


class Playout:
    """The samples of one utterance and the decisions about when they play."""

    def __init__(self, rate: int, target: StartTarget, fade_frames: int) -> None:
        self._rate = rate
        self._target = target
        self._fade = max(1, fade_frames)
        self._chunks: deque[bytes] = deque()
        self._head = 0  # bytes of _chunks[0] already played
        self._odd = b""  # the first byte of a sample whose second byte is still to come
        self.lateness = Lateness(rate)
        self.phase = Phase.PREBUFFER
        self.ended = False
        self.interrupted = False
        self.buffered = 0  # frames waiting
        self.underruns = 0
        self.frames_played = 0  # frames of this utterance sent out (faded ones included)
        self.frames_dropped = 0  # frames never played (interrupted)
        self.silence_frames = 0  # silence inserted while re-buffering
        # The gain ramp over this stream's samples: a fade in or out in progress.
        self._gain = 1.0
        self._ramp_left = 0
        self._ramp_step = 0.0
        self._after_fade_out = Phase.DONE
        # Audio from this machine (the local voice after a chime) has no network
        # jitter: it starts at once and does not train the start threshold.
        self.local = False

    # -- input

    def push(self, data: bytes, now: float) -> None:
        """Add a chunk that arrived at ``now``. Odd bytes wait for their other half."""
        if self.ended or self.interrupted or self.phase is Phase.DONE:
            return
        if self._odd:
            data = self._odd + data
            self._odd = b""
        if len(data) % 2:
            self._odd = data[-1:]
            data = data[:-1]
        if not data:
            return
        frames = len(data) // 2
        self.lateness.record(now, frames)
        self._chunks.append(data)
        self.buffered += frames

    def end(self) -> bool:
        """No more audio. Returns False if half a sample was left over (and dropped)."""
        self.ended = True
        clean = not self._odd
        self._odd = b""
        return clean

    def truncate(self, frames: int) -> bool:
        """Keep only the utterance's first ``frames`` frames, dropping buffered audio past
        them. False (and nothing dropped) if audio past that point already played."""
        excess = self.frames_played + self.buffered - frames
        if excess <= 0:
            return True
        if excess > self.buffered or self.frames_played > frames:
            return False
        self._odd = b""
        while excess > 0:
            tail = self._chunks[-1]
            usable = len(tail) - (self._head if len(self._chunks) == 1 else 0)
            take = min(excess, usable // 2)
            if take * 2 == usable:
                self._chunks.pop()
                if not self._chunks:
                    self._head = 0
            else:
                self._chunks[-1] = tail[: len(tail) - 2 * take]
            self.buffered -= take
            self.frames_dropped += take
            excess -= take
        return True

    def interrupt(self) -> None:
        """Fade out what is playing (if anything is) and drop the rest."""
        self.interrupted = True

    def withdraw(self, frames: int) -> None:
        """What was rendered past frame ``frames`` was taken back from the device before
        it played: forget it, and what is buffered. What is fed next follows frame
        ``frames``, faded in (or started afresh at frame 0)."""
        if not 0 <= frames <= self.frames_played or self.phase is Phase.DONE:
            raise ValueError(f"cannot withdraw to frame {frames} of {self.frames_played}")
        self.frames_dropped += self.frames_played - frames + self.buffered
        self.frames_played = frames
        self._chunks.clear()
        self._head = 0
        self._odd = b""
        self.buffered = 0
        self._ramp_left, self._ramp_step = 0, 0.0
        if frames == 0:
            self._gain, self.phase = 1.0, Phase.PREBUFFER
        else:
            self._gain, self.phase = 0.0, Phase.REBUFFER

    def cut(self, heard: int | None = None) -> None:
        """Stopped, and already faded out where the listener hears it (the writer took
        back what was queued and faded the samples at that point): drop the rest, with
        no fade of its own. ``heard``: the frames of it that will have played, fade
        included, if fewer than were rendered."""
        self.interrupted = True
        if heard is not None and 0 <= heard < self.frames_played:
            self.frames_dropped += self.frames_played - heard
            self.frames_played = heard
        self._gain, self._ramp_left, self._ramp_step = 0.0, 0, 0.0
        self._finish()

    def suspend(self) -> None:
        """The device died holding our latest samples: resume later with a fade-in."""
        if self.phase is not Phase.PLAYING:
            return
        fading_to = self._after_fade_out if self._ramp_step < 0 else Phase.REBUFFER
        self._gain, self._ramp_left, self._ramp_step = 0.0, 0, 0.0
        if fading_to is Phase.DONE:
            self._finish()
        else:
            self.phase = Phase.REBUFFER

    # -- decisions

    @property
    def done(self) -> bool:
        return self.phase is Phase.DONE

    def ready(self) -> bool:
        """True if the next `render` should come now: to start, resume, or stop."""
        if self.phase is Phase.DONE:
            return False
        if self.interrupted:
            return True
        if self.phase is Phase.PLAYING:
            return False
        return self.ended or self._may_start()

    def _may_start(self) -> bool:
        if self.ended:
            return True
        if self.local and self.phase is Phase.PREBUFFER:
            return self.buffered > 0
        if self.phase is Phase.PREBUFFER:
            need = self._target.seconds
        else:
            need = self._target.rebuffer_seconds(self.lateness.max_relative)
        return self.buffered > max(need * self._rate, self._fade)

    # -- output

    def render(self, out: memoryview) -> int:
        """Fill the start of ``out`` (int16 samples) with this stream's next samples.

        Returns how many samples of ``out`` the stream used: all of them while it plays
        or re-buffers (silence), none while it pre-buffers, and fewer once it is done.
        """
        n = len(out)
        pos = 0
        while True:
            if self.phase is Phase.DONE:
                return pos
            if self.phase is not Phase.PLAYING:
                if self.interrupted or (self.ended and self.buffered == 0):
                    self._finish()
                    return pos
                if not self._may_start():
                    if self.phase is Phase.REBUFFER and pos < n:
                        out[pos:].cast("B")[:] = bytes(2 * (n - pos))
                        self.silence_frames += n - pos
                        pos = n
                    return pos
                if self.phase is Phase.REBUFFER:
                    self._start_ramp(0.0, 1.0, self._fade)
                self.phase = Phase.PLAYING
                continue
            if self._ramp_left == 0 and self._gain == 0.0:
                # A fade-out has just reached silence.
                if self._after_fade_out is Phase.DONE:
                    self._finish()
                else:
                    self.phase = Phase.REBUFFER
                continue
            if pos == n:
                return pos
            want = n - pos
            if self._ramp_step < 0:  # fading out: finish the fade
                k = min(want, self._ramp_left)
                self._copy(out[pos : pos + k])
                pos += k
            elif self.interrupted:
                self._fade_out(Phase.DONE)
            elif self.ended:
                k = min(want, self.buffered)
                self._copy(out[pos : pos + k])
                pos += k
                if self.buffered == 0:
                    self._finish()  # the natural end: not an underrun
            elif self.buffered - self._fade >= want:
                self._copy(out[pos:n])
                pos = n
            else:
                # About to run dry: play what is spare, then fade out the reserve.
                spare = self.buffered - self._fade
                if spare > 0:
                    self._copy(out[pos : pos + spare])
                    pos += spare
                self.underruns += 1
                self._fade_out(Phase.REBUFFER)

    def _fade_out(self, then: Phase) -> None:
        frames = min(self._fade, self.buffered)
        if frames == 0:
            self._gain, self._ramp_left = 0.0, 0
        else:
            self._start_ramp(self._gain, 0.0, frames)
        self._after_fade_out = then

    def _start_ramp(self, start: float, end: float, frames: int) -> None:
        self._gain = start
        self._ramp_left = frames
        self._ramp_step = (end - start) / frames

    def _copy(self, dst: memoryview) -> None:
        """Move ``len(dst)`` buffered samples into ``dst``, applying any ramp."""
        k = len(dst)
        filled = 0
        while filled < k:
            chunk = self._chunks[0]
            take = min((len(chunk) - self._head) // 2, k - filled)
            end = self._head + 2 * take
            dst[filled : filled + take] = memoryview(chunk)[self._head : end].cast("h")
            filled += take
            if end == len(chunk):
                self._chunks.popleft()
                self._head = 0
            else:
                self._head = end
        self.buffered -= k
        self.frames_played += k
        if self._ramp_left:
            r = min(self._ramp_left, k)
            self._ramp_left -= r
            end_gain = self._gain + self._ramp_step * r
            if self._ramp_left == 0:
                end_gain = 1.0 if self._ramp_step > 0 else 0.0
                ramp(dst[:r], self._gain, end_gain)
                self._ramp_step = 0.0
            else:
                ramp(dst[:r], self._gain, end_gain)
            self._gain = end_gain

    def _finish(self) -> None:
        self.frames_dropped += self.buffered
        self._chunks.clear()
        self._head = 0
        self.buffered = 0
        self.phase = Phase.DONE
