"""When did the first sound of ALSA ``file:`` sinks reach their "DAC"? (to ~1 ms)

For end-to-end tests of synchronised playback (`Stream.start_at`): herald processes
(or players) play into ``file:FILE=<path>,FORMAT=raw`` sinks while a `SinkTimeline`
watches the files, and afterwards tells, for each file, the wall-clock moment its
first non-zero sample reached the DAC, on ``time.monotonic()`` and ``time.time()``.
The difference between two files is how far apart two rooms would have started.

**How alsa-lib's file plugin writes** (src/pcm/pcm_file.c). Every frame written to
the PCM goes to the slave (the ``null`` PCM) and is copied into a write buffer twice
the slave's ring; frames go on to the file only once *more than one ring* is pending
(``snd_pcm_file_add_frames``: ``if (wbuf_used_bytes > buffer_bytes)
snd_pcm_file_write_bytes(pcm, wbuf_used_bytes - buffer_bytes)``), in one ``write()``
(two where the buffer wraps). So the file always ends exactly one ring behind what
was written to the PCM; ``drop``/``drain``/``close`` write the pending ring at once.

**What "the DAC" is there.** The null slave has no clock, so herald's writer is paced
by its budget, and its DAC is a virtual one that plays ``PACE`` times faster than the
rate (herald/audio/writer.py): right after each writer step the file ends where that
virtual DAC is, to a frame. So the file grows in bursts (each step: 50 ms apart, or
a kick), flat in between, and the end of every burst lies on one straight line, the
DAC's timeline: ``time = a + b * frames``. A frame reaches the DAC at that line's
time, even though it is written to the file up to a tick later, in a burst.

**The estimate.** A thread polls ``os.stat`` of every file every ~0.5 ms and records
``(frames, time.monotonic())`` whenever a size changed, the time read after the stat:
each point is at or after the write that made it (by the poll interval and any
scheduling delay), never before. Points that do not fit real-time pacing are left
out: an empty file (created at open, before the first write), a burst larger than
the time since the previous one allows (``PACE_LIMIT`` x the rate, plus 5 ms), and
the last burst of a file that then stopped growing for `QUIET_S`: both are what a
close does, writing the whole pending ring at once. (A file that shrinks was
truncated by a sink opened again: its points start over.) The DAC line is then
the *lower envelope* of the points near the frame in question (within ``window``
seconds of audio): the line below every point that is closest to them in total (it
is an edge of their lower convex hull), so late polls do not pull it, and its slope
is fitted, not assumed (it is ``1 / (PACE * rate)`` for herald, not ``1 / rate``).
The first non-zero frame ``k`` is read from the file, and its DAC time is
``a + b * k``. Two files' estimates share the same clock and the same method, so
their difference is good to the earliest poll lateness among a dozen bursts: well
under a millisecond on an idle machine.

Poll until the files have grown at least a few ticks past the first sound: the
fit wants bursts on both sides of it.
"""

from __future__ import annotations

import itertools
import os
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Arrival", "SinkTimeline"]

PACE_LIMIT = 1.1  # a paced burst is at most this many times real time (herald: 1.02)
SLACK_S = 0.005  # plus this much audio, for the lateness of the previous poll
QUIET_S = 0.2  # a paced file grows every tick (50 ms); one quiet this long was closed


@dataclass(frozen=True, slots=True)
class Arrival:
    """When the first non-zero frame of one file reached its DAC."""

    frame: int  # its index in the file
    monotonic: float  # on time.monotonic()
    wall: float  # the same moment on time.time()
    frame_s: float  # the fitted duration of a frame on the DAC's timeline
    points: int  # bursts the fit used
    lateness: float  # mean lateness of those points above the line (poll and scheduling)


class SinkTimeline:
    """Watches raw capture files as they grow. Use as a context manager, or `start`/`stop`."""

    def __init__(
        self,
        paths: Iterable[Path | str],
        *,
        rate: int,
        frame_bytes: int = 2,
        interval: float = 0.0005,
        window: float = 1.0,
    ) -> None:
        self.paths = [Path(p) for p in paths]
        self.rate = rate
        self.frame_bytes = frame_bytes
        self.interval = interval
        self.window = window
        self._points: dict[Path, list[tuple[int, float]]] = {p: [] for p in self.paths}
        self._stop = threading.Event()
        self._stopped_at: float | None = None
        self._thread: threading.Thread | None = None
        self._wall_offset = self._measure_wall_offset()

    @staticmethod
    def _measure_wall_offset() -> float:
        """time.time() - time.monotonic(), from the closest of a few back-to-back reads."""
        best = (float("inf"), 0.0)
        for _ in range(20):
            m0 = time.monotonic()
            w = time.time()
            m1 = time.monotonic()
            best = min(best, (m1 - m0, w - (m0 + m1) / 2))
        return best[1]

    def __enter__(self) -> SinkTimeline:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError("already started")
        self._thread = threading.Thread(target=self._poll, name="sink-timeline", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop polling (idempotent); the points recorded so far are kept."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        if self._stopped_at is None:
            self._stopped_at = time.monotonic()

    def _poll(self) -> None:
        sizes = dict.fromkeys(self.paths, -1)
        while not self._stop.is_set():
            for path in self.paths:
                try:
                    size = os.stat(path).st_size
                except FileNotFoundError:
                    continue
                now = time.monotonic()
                if size != sizes[path]:
                    sizes[path] = size
                    self.note(path, size, now)
            time.sleep(self.interval)

    def note(self, path: Path, size: int, when: float) -> None:
        """Record that ``path`` was seen ``size`` bytes long at ``when`` (monotonic)."""
        points = self._points[path]
        frames = size // self.frame_bytes
        if points and frames < points[-1][0]:
            points.clear()  # truncated: the sink was opened again
        points.append((frames, when))

    # -- results

    def wall(self, monotonic: float) -> float:
        """A time.monotonic() moment on time.time()."""
        return monotonic + self._wall_offset

    def growth(self, path: Path | str) -> list[tuple[int, float]]:
        """Every size seen, as (frames, time.monotonic() just after seeing it)."""
        return list(self._points[Path(path)])

    def paced_points(self, path: Path | str) -> list[tuple[int, float]]:
        """The points that fit real-time pacing (see the module docstring)."""
        points = self._points[Path(path)]
        end = time.monotonic() if self._stopped_at is None else self._stopped_at
        if points and end - points[-1][1] > QUIET_S:
            points = points[:-1]
        kept: list[tuple[int, float]] = []
        previous: tuple[int, float] | None = None
        for frames, when in points:
            if previous is not None and frames > 0:
                allowed = ((when - previous[1]) * PACE_LIMIT + SLACK_S) * self.rate
                if frames - previous[0] <= allowed:
                    kept.append((frames, when))
            previous = (frames, when)
        return kept

    def first_nonzero_frame(self, path: Path | str) -> int | None:
        """The index of the file's first frame with a non-zero byte, if any."""
        offset = 0
        with open(path, "rb") as f:
            while chunk := f.read(1 << 20):
                rest = chunk.lstrip(b"\x00")
                if rest:
                    return (offset + len(chunk) - len(rest)) // self.frame_bytes
                offset += len(chunk)
        return None

    def dac_line(self, path: Path | str, frame: int) -> tuple[float, float, int, float]:
        """The DAC's timeline near ``frame``: (a, b, points, lateness), time = a + b * frames."""
        reach = self.window * self.rate
        points = [(x, y) for x, y in self.paced_points(path) if abs(x - frame) <= reach]
        if len(points) < 3 or points[0][0] > frame or points[-1][0] <= frame:
            raise ValueError(
                f"{path}: too few bursts around frame {frame} to fit its timeline "
                f"({len(points)} within {self.window} s): poll for longer"
            )
        hull = _lower_hull(points)
        best: tuple[float, float, float] | None = None  # (total residual, a, b)
        for (x0, y0), (x1, y1) in itertools.pairwise(hull):
            b = (y1 - y0) / (x1 - x0)
            a = y0 - b * x0
            total = sum(y - a - b * x for x, y in points)
            if best is None or total < best[0]:
                best = (total, a, b)
        assert best is not None
        total, a, b = best
        if not 0.5 / self.rate < b < 2.0 / self.rate:
            raise ValueError(f"{path}: the file grows at {1 / b:.0f} frames/s, not ~{self.rate}")
        return a, b, len(points), total / len(points)

    def dac_time(self, path: Path | str, frame: int) -> float:
        """When frame ``frame`` of the file reached the DAC, on time.monotonic()."""
        a, b, _, _ = self.dac_line(path, frame)
        return a + b * frame

    def first_sound(self, path: Path | str) -> Arrival:
        """When the file's first non-zero frame reached the DAC."""
        frame = self.first_nonzero_frame(path)
        if frame is None:
            raise ValueError(f"{path}: nothing but silence")
        a, b, points, lateness = self.dac_line(path, frame)
        when = a + b * frame
        return Arrival(frame, when, self.wall(when), b, points, lateness)


def _lower_hull(points: list[tuple[int, float]]) -> list[tuple[int, float]]:
    """The lower convex hull of points sorted by x (Andrew's monotone chain)."""
    hull: list[tuple[int, float]] = []
    for p in points:
        while len(hull) >= 2:
            (x0, y0), (x1, y1) = hull[-2], hull[-1]
            # Drop the middle point unless it turns left (lies strictly below the chord).
            if (x1 - x0) * (p[1] - y0) - (y1 - y0) * (p[0] - x0) <= 0:
                hull.pop()
            else:
                break
        hull.append(p)
    return hull
