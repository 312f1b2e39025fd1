"""Rewinding on a real kernel driver (snd-aloop), through herald's own sink and player.

Run in the system test's VM with herald stopped (it holds the loopback), by the
installed venv: ``/opt/herald/venv/bin/python scripts/vm/rewind_check.py``. Plays into
``hw:Loopback,0,0`` and reads what reached the other side from ``hw:Loopback,1,0``:

1. the sink: 150 ms of one tone written, all but 10 ms taken back at once, another
   tone written after it: what is captured is the first tone's first 10 ms (give or
   take what the driver had already moved) and then the second, bit for bit;
2. the player: a say stopped mid-way: what is captured is the say's samples up to a
   point, then a 5 ms fade of the samples that followed, then silence;
3. the player: a say stopped right after its last sample was handed over
   (`Player.hush`, what a stop after its "finished" does): the same, with most of the
   last ring (160 ms) it had queued never heard.

Underruns count from the say to 100 ms after its stop: the VM's own stalls under TCG
(on a loaded host) may starve the ring on silence before it, which no rewind causes.
Prints one INFO line per part and exits 1 if any is wrong.
"""

from __future__ import annotations

import array
import math
import sys
import threading
import time

import alsaaudio  # type: ignore[import-not-found]
import trio

from herald.audio import AlsaDevice, Player, PlayerTuning
from herald.audio.pcm import ramp
from herald.audio.sink import Geometry

RATE = 24000
FADE = 120


def tone(frames: int, freq: float, amp: int = 8000) -> array.array[int]:
    # Never an exact zero, so silence and sound are told apart sample by sample.
    out = array.array("h", [0] * frames)
    for i in range(frames):
        v = round(amp * math.sin(2 * math.pi * freq * i / RATE))
        out[i] = v if v else 1
    return out


class Capture:
    def __init__(self) -> None:
        self.pcm = alsaaudio.PCM(
            alsaaudio.PCM_CAPTURE,
            rate=RATE,
            channels=1,
            format=alsaaudio.PCM_FORMAT_S16_LE,
            periodsize=240,
            periods=8,
            device="hw:Loopback,1,0",
        )
        self.data = bytearray()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            n, data = self.pcm.read()
            if n > 0:
                self.data += data

    def samples(self) -> array.array[int]:
        self._stop.set()
        self._thread.join(2.0)
        out = array.array("h")
        out.frombytes(bytes(self.data[: len(self.data) - len(self.data) % 2]))
        return out


def nonzero(a: array.array[int]) -> list[int]:
    return [v for v in a if v]


def check_sink() -> bool:
    first, second = tone(round(0.150 * RATE), 440), tone(round(0.200 * RATE), 660, 6000)
    second = array.array("h", (-v for v in second))
    capture = Capture()
    time.sleep(0.3)
    sink = AlsaDevice("hw:Loopback,0,0").open(Geometry.request(RATE, 0.010, 16))
    try:
        if sink._rewind is None:
            print("INFO rewind-sink: no rewind on hw:Loopback,0,0")
            return False
        sink.write(first.tobytes())
        can = sink.rewindable()
        taken = sink.rewind(can - 240)
        # Then silence, so that the ring never runs dry while the capture is read (an
        # xrun on the loopback hands the capture side stale samples of the ring).
        data = memoryview(second.tobytes() + bytes(2 * round(0.3 * RATE)))
        while data:
            n = sink.write(data)
            data = data[2 * n :]
            time.sleep(0.005)
        time.sleep(0.1)
    finally:
        sink.close()
    time.sleep(0.1)
    got = nonzero(capture.samples())
    # What the DAC had played before the rewind took effect plays too: at least the
    # guard's 240 frames of the first tone, then all of the second.
    kept = len(got) - len(second)
    ok = len(first) - taken <= kept < len(first) - taken + 480
    want = list(first[:kept]) + list(second)
    ok = ok and got == want
    if not ok:
        bad = next((i for i, (a, b) in enumerate(zip(got, want, strict=False)) if a != b), None)
        if bad is not None:
            print(f"INFO rewind-sink: first difference at {bad}: {got[bad - 2 : bad + 6]}")
            print(f"INFO rewind-sink: expected {want[bad - 2 : bad + 6]}")
    print(
        f"INFO rewind-sink: wrote {len(first)} frames, {can} rewindable, {taken} taken back;"
        f" captured {len(got)} non-zero = the first {kept} (the guard, {len(first) - taken},"
        f" and what played meanwhile) + all {len(second)} of the second: {ok}"
    )
    return ok


def cut_cleanly(name: str, raw: array.array[int], data: array.array[int]) -> tuple[bool, int]:
    """Whether ``raw`` (captured) is ``data``'s first part, bit for bit, then a fade of
    the samples that followed, then silence; and how long that first part is."""
    start = next(i for i, v in enumerate(raw) if v)
    end = len(raw) - next(i for i, v in enumerate(reversed(raw)) if v)
    k = end + 1 - start - FADE  # the fade ends on an exact zero, after ``end``
    head_ok = list(raw[start : start + k]) == list(data[:k])
    want = array.array("h", data[k : k + FADE])
    ramp(memoryview(want), 1.0, 0.0)
    fade_ok = list(raw[start + k : end]) == list(want[:-1])
    print(
        f"INFO {name}: captured the say's first {k} frames of {len(data)} bit-exact:"
        f" {head_ok}, then its fade of the next {FADE}: {fade_ok}, then silence"
    )
    return head_ok and fade_ok, k


async def check_player() -> bool:
    capture = Capture()
    await trio.sleep(0.3)
    player = Player(AlsaDevice("hw:Loopback,0,0"), RATE, tuning=PlayerTuning(idle_close_s=None))
    data = tone(2 * RATE, 330)
    async with trio.open_nursery() as nursery:
        await nursery.start(player.run)
        await trio.sleep(0.5)
        before = player.xruns
        stream = player.open_stream()
        stream.feed(data.tobytes())
        stream.end()
        await stream.wait_started()
        await trio.sleep(0.6)
        stream.interrupt()
        metrics = await stream.wait_done()
        await trio.sleep(0.1)
        during = player.xruns - before
        await trio.sleep(0.4)
        nursery.cancel_scope.cancel()
    ok, k = cut_cleanly("rewind-stop", capture.samples(), data)
    played = metrics.frames_played
    print(
        f"INFO rewind-stop: {played} frames of the say played of {len(data)}, the"
        f" first {played - FADE} unfaded: captured so: {k == played - FADE}; {during}"
        f" underruns from the say to 100 ms after its stop ({player.xruns} in all)"
    )
    return ok and k == played - FADE and played < RATE and not during


async def check_hush() -> bool:
    capture = Capture()
    await trio.sleep(0.3)
    player = Player(AlsaDevice("hw:Loopback,0,0"), RATE, tuning=PlayerTuning(idle_close_s=None))
    data = tone(RATE // 2, 550)
    async with trio.open_nursery() as nursery:
        await nursery.start(player.run)
        await trio.sleep(0.5)
        before = player.xruns
        stream = player.open_stream()
        stream.feed(data.tobytes())
        stream.end()
        await stream.wait_done()  # handed over whole: up to a ring still queued
        cut = player.hush()
        await trio.sleep(0.1)
        during = player.xruns - before
        await trio.sleep(0.4)
        nursery.cancel_scope.cancel()
    ok, k = cut_cleanly("rewind-hush", capture.samples(), data)
    # Of the up to 3,840 frames the ring held, all but the guard (240), the fade (120)
    # and what played until the cut (the VM's own delays: tens of ms under TCG) were
    # never heard: at least half a ring.
    unheard = len(data) - k
    print(
        f"INFO rewind-hush: cut {cut}, {unheard} frames never heard; {during} underruns from"
        f" the say to 100 ms after the cut ({player.xruns} in all)"
    )
    return ok and cut and unheard >= 1920 and not during


def main() -> int:
    ok = check_sink()
    ok = trio.run(check_player) and ok
    ok = trio.run(check_hush) and ok
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
