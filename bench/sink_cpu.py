"""CPU cost of the audio path: CPU seconds per second of audio through the real sink.

Runs herald's Player on pyalsaaudio into ALSA's file plugin (``file:FILE=...,FORMAT=raw``,
whose slave is the clockless null PCM, so only herald's own pacing sets the rate) in
real time, and reads the process's CPU time (user + system) over the run:

- playing: one utterance, in Cartesia's 2048-frame chunks, fed at once;
- playing at volume 50 (the audioop path);
- idle: the device kept open on silence between utterances.

``--compare`` also repeats the experiment behind the writer's design (see
herald/audio/alsa_sink.py): the same writes made from trio in non-blocking mode,
through ``trio.to_thread.run_sync``, and from a dedicated thread fed by a queue.

    python bench/sink_cpu.py [--seconds 10] [--rate 24000] [--file PATH] [--compare]
                             [--quick] [--save PATH]
"""

from __future__ import annotations

import argparse
import math
import queue
import threading
import time
from array import array
from pathlib import Path

import alsaaudio  # type: ignore[import-not-found]
import trio

from benchlib import TODAYS_FILL, Results, machine
from herald.audio import AlsaDevice, Player, PlayerTuning, SinkDevice
from herald.audio.sim_sink import SimDevice

GOAL = 0.01  # CPU seconds per audio second


def speech_like(frames: int, rate: int) -> bytes:
    """A 220 Hz tone with a slow tremolo: never silent, never clipped."""
    return array(
        "h",
        [
            int(8000 * math.sin(2 * math.pi * 220 * i / rate) * (1.2 + math.sin(i / rate * 3))) or 1
            for i in range(frames)
        ],
    ).tobytes()


async def measure_player(
    device: str, rate: int, seconds: float, volume: int, fill: str | None = None
) -> tuple[float, float]:
    """(CPU s per audio s while playing, idle CPU s per s). ``fill``: on a simulated
    card with a clock (real time) instead, with herald's fill ("new") or today's."""
    sink: SinkDevice = AlsaDevice(device)
    tuning = PlayerTuning(idle_close_s=None)
    if fill is not None:
        # herald's fill on a card that rewinds; the fill before issue 17 on one that
        # cannot (as it was then).
        sink = SimDevice("sim", rewind=fill == "new")
        if fill == "today":
            tuning = PlayerTuning(idle_close_s=None, **TODAYS_FILL)  # type: ignore[arg-type]
    player = Player(sink, rate, tuning=tuning, volume=volume)
    data = speech_like(int(seconds * rate), rate)
    chunk = 2 * 2048
    async with trio.open_nursery() as nursery:
        await nursery.start(player.run)
        await trio.sleep(0.5)
        cpu0, wall0 = time.process_time(), trio.current_time()
        await trio.sleep(seconds / 2)
        idle = (time.process_time() - cpu0) / (trio.current_time() - wall0)

        stream = player.open_stream()
        cpu0 = time.process_time()
        for i in range(0, len(data), chunk):
            stream.feed(data[i : i + chunk])
            await trio.sleep(0)  # the network side's costs are not the sink's
        stream.end()
        metrics = await stream.wait_done()
        playing = (time.process_time() - cpu0) / seconds
        nursery.cancel_scope.cancel()
    if fill is None:  # no clock: nothing can run dry
        assert metrics.underruns == 0 and metrics.xruns == 0, metrics
    elif metrics.underruns or metrics.xruns:
        # A real-time card on a machine that stalls: counted, not fatal for a CPU figure.
        print(f"  (sim card, {fill}'s fill: {metrics.xruns} xruns, {metrics.underruns} underruns)")
    return playing, idle


def open_pcm(device: str, rate: int, mode: int, period: int) -> object:
    return alsaaudio.PCM(
        alsaaudio.PCM_PLAYBACK,
        mode=mode,
        rate=rate,
        channels=1,
        format=alsaaudio.PCM_FORMAT_S16_LE,
        periodsize=period,
        periods=4,
        device=device,
    )


def compare_writers(device: str, rate: int, seconds: float, tick: float) -> dict[str, float]:
    """The same stream of writes every ``tick``, made three ways."""
    frames = int(rate * tick)
    block = bytes(2 * frames)
    period = int(rate * 0.02)
    results: dict[str, float] = {}

    async def nonblocking() -> None:
        pcm = open_pcm(device, rate, alsaaudio.PCM_NONBLOCK, period)
        start = trio.current_time()
        n = 0
        while trio.current_time() - start < seconds:
            n += 1
            await trio.sleep_until(start + n * tick)
            pcm.avail()  # type: ignore[attr-defined]
            pcm.write(block)  # type: ignore[attr-defined]
        pcm.close()  # type: ignore[attr-defined]

    async def to_thread() -> None:
        pcm = open_pcm(device, rate, alsaaudio.PCM_NORMAL, period)
        start = trio.current_time()
        n = 0
        while trio.current_time() - start < seconds:
            n += 1
            await trio.sleep_until(start + n * tick)  # stands in for the card's pacing
            await trio.to_thread.run_sync(pcm.write, block)  # type: ignore[attr-defined]
        pcm.close()  # type: ignore[attr-defined]

    async def dedicated() -> None:
        pcm = open_pcm(device, rate, alsaaudio.PCM_NORMAL, period)
        blocks: queue.Queue[bytes | None] = queue.Queue(4)

        def writer() -> None:
            while (data := blocks.get()) is not None:
                pcm.write(data)  # type: ignore[attr-defined]
                time.sleep(tick)  # stands in for the card's pacing

        thread = threading.Thread(target=writer)
        thread.start()
        start = trio.current_time()
        n = 0
        while trio.current_time() - start < seconds:
            n += 1
            await trio.sleep_until(start + n * tick)
            await trio.to_thread.run_sync(blocks.put, block)
        blocks.put(None)
        thread.join()
        pcm.close()  # type: ignore[attr-defined]

    for name, fn in (
        ("non-blocking", nonblocking),
        ("to_thread", to_thread),
        ("thread", dedicated),
    ):
        cpu0 = time.process_time()
        trio.run(fn)
        results[name] = (time.process_time() - cpu0) / seconds
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rate", type=int, default=24000)
    parser.add_argument("--file", default="/dev/null", help="where the file plugin writes")
    parser.add_argument("--compare", action="store_true", help="also compare writer designs")
    parser.add_argument("--quick", action="store_true", help="4 s of audio")
    parser.add_argument("--save", type=Path, help="write the figures here (JSON)")
    args = parser.parse_args()
    if args.quick:
        args.seconds = 4.0
    results = Results("sink_cpu", quick=args.quick)
    results.figures["machine"] = machine()
    device = f"file:FILE={args.file},FORMAT=raw"
    tick = PlayerTuning().tick_s

    what = f"{args.rate} Hz mono, {args.seconds:.0f} s of audio, tick {tick * 1e3:.0f} ms"
    print(f"device {device}, {what}")
    playing, idle = trio.run(measure_player, device, args.rate, args.seconds, 100)
    soft, _ = trio.run(measure_player, device, args.rate, args.seconds, 50)
    verdict = "ok" if playing <= GOAL else "OVER"
    print(f"  playing, volume 100: {playing:.4f} CPU s / audio s   (goal <= {GOAL}: {verdict})")
    print(f"  playing, volume 50:  {soft:.4f} CPU s / audio s")
    print(f"  idle on silence:     {idle:.4f} CPU s / s")
    results.figures.update(playing=playing, playing_volume_50=soft, idle_on_silence=idle)
    # The file plugin has no clock, so the fill never changes there; on a card it does.
    sim = {
        fill: trio.run(measure_player, device, args.rate, args.seconds, 100, fill)
        for fill in ("today", "new")
    }
    for fill, label in (("new", "herald's fill"), ("today", "today's fill")):
        p, i = sim[fill]
        print(f"  sim card, {label:13}: playing {p:.4f} CPU s / audio s, idle {i:.4f} CPU s / s")
        results.figures[f"sim_{fill}"] = {"playing": p, "idle_on_silence": i}
    results.goal(
        "sim card with a clock, playing: herald's fill / today's",
        f"{sim['new'][0]:.4f} / {sim['today'][0]:.4f} CPU s / audio s",
        "herald's <= today's",
        sim["new"][0] <= sim["today"][0],
    )
    results.goal(
        "sim card with a clock, open on silence: herald's fill / today's",
        f"{sim['new'][1]:.4f} / {sim['today'][1]:.4f} CPU s / s",
        "",
        None,
    )
    figure = f"{playing:.4f} CPU s / audio s"
    results.goal("playing, volume 100", figure, f"<= {GOAL}", playing <= GOAL)
    results.goal("playing, volume 50", f"{soft:.4f} CPU s / audio s", "", None)
    results.goal("device open on silence", f"{idle:.4f} CPU s / s", "", None)
    if not args.compare:
        results.save(args.save)
    else:
        print("writer designs, CPU s / audio s (same writes, every tick):")
        for t in (0.010, 0.020, tick):
            results = compare_writers(device, args.rate, args.seconds / 2, t)
            row = "   ".join(f"{name} {value:.4f}" for name, value in results.items())
            print(f"  tick {t * 1e3:3.0f} ms: {row}")
        results.save(args.save)


if __name__ == "__main__":
    main()
