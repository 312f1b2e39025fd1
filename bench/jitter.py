"""Jitter buffer against seeded lateness traces: herald vs a fixed prebuffer vs none.

Each trace is a run of utterances whose chunks arrive as a TTS server and a network
would deliver them (the seed makes it repeatable). Herald plays them through its real
Player on a simulated card, on trio's MockClock, so the whole run takes seconds; the
two baselines are ideal continuous-time players with no writer overheads:

- clairvoyant: the minimum start delay with no underrun, known only afterwards: the
  utterance's maximum lateness D* (herald/audio/jitter.py);
- fixed 80 ms: start, and resume after running dry, once 80 ms of audio is buffered;
- no buffer: play each chunk as it arrives.

Start delays are from an utterance's first chunk to its first sample handed to the
device. The last trace is calm, but herald's own loop stalls for 100 ms once per
utterance, at a random moment while it plays (MockClock.jump: no task runs). Herald's
underruns count both the jitter buffer running dry and ALSA xruns; "dac" is when the
first sample reached the simulated DAC after the utterance was ready to start, and
herald plays on a card that rewinds (a kernel driver's), "no rewind" is the same player
on a card that cannot (a plugin without snd_pcm_rewind: the fill alone), and "today"
the player with the fill herald had before issue 17 (a 120 ms ring, always full) on
that card, side by side. Goals: herald has no underrun on every trace whose worst
network stall is within the clamp (800 ms), starts within clairvoyant + 30 ms on the
calm trace, and on the stall trace, rewinding, is heard within 25 ms of ready at the
median and 50 ms at p99 (after a stall a start keeps only what its audio lacks of the
cushion for another one).

With ``--save``, also the timeline of one utterance for docs/benchmarks.md's plot:
the Wi-Fi power-save trace's utterance with the longest stall, as received and as it
reached the (simulated) DAC.

    python bench/jitter.py [--utterances 40] [--seed 1] [--quick] [--save PATH]
"""

from __future__ import annotations

import argparse
import logging
import random
import statistics
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import trio
import trio.testing

from benchlib import TODAYS_FILL, Results, dist, machine
from herald.audio import Player, PlayerTuning
from herald.audio.jitter import Lateness, TargetTuning
from herald.audio.sim_sink import SimDevice
from herald.audio.stream import StreamMetrics

RATE = 24000
CLAMP = TargetTuning().ceiling
PLOTTED = ("Wi-Fi power save", "slow server start")  # traces whose timeline is saved
Trace = list[tuple[float, int]]  # (arrival seconds from the first chunk, frames)


@dataclass
class Network:
    """How a trace is made: server speed, jitter, and stalls."""

    name: str
    rtf: Callable[[float], float]  # server seconds per audio second, at media time t
    jitter_ms: float  # mean of an exponential delay added per chunk
    stalls_per_s: float  # Poisson rate of delivery stalls
    stall_ms: tuple[float, float]  # uniform duration range
    # Once per utterance, at a random moment while it plays, herald's own loop stalls
    # this long (no task runs: a GC pause, a busy CPU, the scheduler).
    loop_stall_ms: float = 0.0

    def utterance(self, rng: random.Random) -> tuple[Trace, float]:
        """One utterance's arrivals, and the worst stall in it (seconds)."""
        seconds = rng.uniform(1.0, 6.0)
        made, media, chunks = 0.0, 0.0, []
        while media < seconds:
            frames = rng.randint(960, 2048)  # Cartesia sends up to 2048 frames a message
            made += frames / RATE * self.rtf(media) * rng.uniform(0.7, 1.3)
            chunks.append((made, frames))
            media += frames / RATE
        # Stalls hold back delivery (TCP keeps order: what waits, waits in line).
        horizon = chunks[-1][0] + 1.0
        stalls, t = [], 0.0
        while self.stalls_per_s:
            t += rng.expovariate(self.stalls_per_s)
            if t > horizon:
                break
            stalls.append((t, t + rng.uniform(*self.stall_ms) / 1000))
        trace, last = [], 0.0
        for made_at, frames in chunks:
            at = made_at + rng.expovariate(1000 / self.jitter_ms) if self.jitter_ms else made_at
            for begin, end in stalls:
                if begin <= at < end:
                    at = end
            last = max(last, at)
            trace.append((last, frames))
        first = trace[0][0]
        worst = max((end - begin for begin, end in stalls), default=0.0)
        return [(at - first, frames) for at, frames in trace], worst


NETWORKS = [
    Network("calm LAN", lambda t: 0.35, 1.0, 0.0, (0, 0)),
    # Power save: the access point holds frames until the station wakes for a beacon
    # (102.4 ms apart; listen intervals of 1-3 beacons).
    Network("Wi-Fi power save", lambda t: 0.35, 3.0, 1.5, (100, 310)),
    # A lost segment waits for the retransmission timeout (at least 200 ms on Linux).
    Network("TCP retransmits", lambda t: 0.35, 2.0, 0.3, (200, 260)),
    Network("slow server start", lambda t: 1.3 if t < 1.0 else 0.35, 2.0, 0.0, (0, 0)),
    # Beyond the clamp: no threshold herald would choose covers these.
    Network("stalls over the clamp", lambda t: 0.35, 2.0, 0.3, (900, 1500)),
    # The network is calm, herald is not: its loop stalls 100 ms once per utterance.
    Network("100 ms scheduling stall", lambda t: 0.35, 1.0, 0.0, (0, 0), loop_stall_ms=100),
]


def ideal(trace: Trace, threshold: float) -> tuple[float, int]:
    """Start delay and underruns of a player that starts at ``threshold`` seconds buffered."""
    start = None
    underruns = 0
    playing = False
    runs_out = 0.0  # when the buffered audio ends, while playing
    buffered = 0.0
    for i, (at, frames) in enumerate(trace):
        if playing:
            if at > runs_out + 1e-9:
                underruns += 1
                playing, buffered = False, 0.0
            else:
                buffered = runs_out - at
        buffered += frames / RATE
        if not playing and (buffered >= threshold - 1e-9 or i == len(trace) - 1):
            playing = True
            start = at if start is None else start
        runs_out = at + buffered
    assert start is not None
    return start, underruns


async def herald(
    traces: list[Trace],
    device: SimDevice | None = None,
    begins: list[float] | None = None,
    *,
    clock: trio.testing.MockClock | None = None,
    loop_stall: float = 0.0,
    tuning: PlayerTuning | None = None,
    seed: int = 0,
) -> list[StreamMetrics]:
    """Play every trace through a fresh Player, one utterance after another (on
    ``device``; ``begins`` gets the time each one's first chunk was fed). With
    ``loop_stall``, the loop stalls that long once per utterance while it plays."""
    player = Player(device or SimDevice(), RATE, tuning=tuning, rng=random.Random(0))
    rng = random.Random(seed)
    results = []

    async def stall_once(at: float) -> None:
        await trio.sleep(at)
        assert clock is not None
        clock.jump(loop_stall)  # synchronous: no task runs in between

    async with trio.open_nursery() as nursery:
        await nursery.start(player.run)
        for trace in traces:
            stream = player.open_stream()
            begin = trio.current_time()
            if begins is not None:
                begins.append(begin)
            if loop_stall:
                media = sum(frames for _, frames in trace) / RATE
                nursery.start_soon(stall_once, rng.uniform(0.2, 0.2 + media))
            for at, frames in trace:
                await trio.sleep_until(begin + at)
                stream.feed(b"\x01\x00" * frames)
            stream.end()
            results.append(await stream.wait_done())
            await trio.sleep(1.0)
        nursery.cancel_scope.cancel()
    return results


def timeline(trace: Trace, device: SimDevice, begin: float, after: int) -> dict[str, Any]:
    """One utterance as received and as played: (seconds since its first chunk,
    seconds of audio), with the audio's frames found in what was written to the
    device (its samples are 1, silence and fades are 0) from frame ``after`` on."""
    received, total = [(0.0, 0.0)], 0
    for at, frames in trace:
        received.append((at, total / RATE))
        total += frames
        received.append((at, total / RATE))
    samples = memoryview(device.written).cast("h")
    first = next(i for i in range(after, len(samples)) if samples[i])
    played, count, step = [], 0, RATE // 200  # every 5 ms of audio
    i = first
    while count < total and i < len(samples):
        if samples[i]:
            if count % step == 0:
                played.append((device.dac_time(i) - begin, count / RATE))
            count += 1
        i += 1
    played.append((device.dac_time(i - 1) - begin, count / RATE))
    # How close it came to running dry: the least audio received and not yet played,
    # while more was still to come.
    total_s = total / RATE
    margins = [
        got - p
        for t, p in played
        if (got := max((y for x, y in received if x <= t), default=0.0)) < total_s
    ]
    margin = min(margins, default=total_s)
    return {"received": received, "played": played, "end_frame": i, "margin_s": margin}


def ms(seconds: float) -> str:
    return f"{seconds * 1000:5.0f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--utterances", type=int, default=40)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--quick", action="store_true", help="10 utterances per trace")
    parser.add_argument("--save", type=Path, help="write the figures here (JSON)")
    args = parser.parse_args()
    if args.quick:
        args.utterances = 10
    results = Results("jitter", quick=args.quick)
    results.figures["machine"] = machine()
    rows = []

    print(
        f"{args.utterances} utterances per trace, seed {args.seed}; times in ms (mean / max);"
        " und: jitter-buffer underruns + ALSA xruns; dac: first sound at the DAC after ready"
    )
    header = (
        f"{'trace':24} {'worst':>5} | {'clairvoyant':>11} | {'herald start':>12} {'und':>4}"
        f" {'dac':>9} | {'no rewind':>9} {'dac':>9} | {'today und':>9} {'dac':>9} |"
        f" {'fixed 80':>8} {'und':>4} |"
        f" {'no buffer':>9}"
    )
    print(header)
    print("-" * len(header))
    goals: list[tuple[str, bool | None, str]] = []
    today_tuning = PlayerTuning(**TODAYS_FILL)  # type: ignore[arg-type]
    logging.getLogger("herald.audio").setLevel(logging.ERROR)  # today's xruns: counted
    heard: dict[str, list[float]] = {"herald": [], "norewind": [], "today": []}
    stalled: dict[str, list[float]] = {"herald": [], "norewind": [], "today": []}
    for k, network in enumerate(NETWORKS):
        rng = random.Random(args.seed * 1000 + k)
        made = [network.utterance(rng) for _ in range(args.utterances)]
        traces = [trace for trace, _ in made]
        worst = max(stall for _, stall in made)
        d_star = []
        for trace in traces:
            lateness = Lateness(RATE)
            for at, frames in trace:
                lateness.record(at, frames)
            d_star.append(lateness.max_lateness)
        runs = {}
        # herald on a card that rewinds (a kernel driver), on one that cannot (a plugin
        # without snd_pcm_rewind), and with the fill before issue 17.
        for name, tuning, rewinds in (
            ("herald", None, True),
            ("norewind", None, False),
            ("today", today_tuning, False),
        ):
            device, begins = SimDevice(rewind=rewinds), []
            clock = trio.testing.MockClock(autojump_threshold=0)
            metrics = trio.run(
                partial(
                    herald,
                    traces,
                    device,
                    begins,
                    clock=clock,
                    loop_stall=network.loop_stall_ms / 1000,
                    tuning=tuning,
                    seed=args.seed * 1000 + k,
                ),
                clock=clock,
            )
            dac = [
                m.first_dac_time - m.ready_time
                for m in metrics
                if m.first_dac_time is not None and m.ready_time is not None
            ]
            under = sum(m.underruns for m in metrics) + device.xruns
            runs[name] = (device, begins, metrics, dac, under)
        device, begins, metrics, dac, under = runs["herald"]
        _, _, _, norew_dac, norew_under = runs["norewind"]
        _, _, _, today_dac, today_under = runs["today"]
        into = stalled if network.loop_stall_ms else heard
        into["herald"] += dac
        into["norewind"] += norew_dac
        into["today"] += today_dac
        starts = [m.start_delay for m in metrics if m.start_delay is not None]
        fixed = [ideal(trace, 0.080) for trace in traces]
        none = [ideal(trace, 0.0) for trace in traces]
        print(
            f"{network.name:24} {ms(worst)} |"
            f" {ms(statistics.mean(d_star))}/{ms(max(d_star))} |"
            f" {ms(statistics.mean(starts))}/{ms(max(starts))} {under:4d}"
            f" {ms(statistics.mean(dac))}/{ms(max(dac)).strip():>3} |"
            f" {norew_under:9d} {ms(statistics.mean(norew_dac))}/{ms(max(norew_dac)).strip():>3} |"
            f" {today_under:9d} {ms(statistics.mean(today_dac))}/{ms(max(today_dac)).strip():>3} |"
            f" {ms(statistics.mean(s for s, _ in fixed)):>5}  {sum(u for _, u in fixed):4d} |"
            f" {sum(u for _, u in none):9d}"
        )
        rows.append(
            {
                "trace": network.name,
                "worst_stall_ms": worst * 1000,
                "loop_stall_ms": network.loop_stall_ms,
                "clairvoyant_mean_ms": statistics.mean(d_star) * 1000,
                "herald_start_mean_ms": statistics.mean(starts) * 1000,
                "herald_start_max_ms": max(starts) * 1000,
                "herald_underruns": under,
                "herald_dac_after_ready_mean_ms": statistics.mean(dac) * 1000,
                "herald_dac_after_ready_max_ms": max(dac) * 1000,
                "norewind_underruns": norew_under,
                "norewind_dac_after_ready_mean_ms": statistics.mean(norew_dac) * 1000,
                "today_underruns": today_under,
                "today_dac_after_ready_mean_ms": statistics.mean(today_dac) * 1000,
                "fixed80_underruns": sum(u for _, u in fixed),
                "nobuffer_underruns": sum(u for _, u in none),
            }
        )
        if network.name in PLOTTED:
            # For the plot: its utterance that came closest to running dry.
            lines, after = [], 0
            for k, trace in enumerate(traces):
                lines.append(timeline(trace, device, begins[k], after))
                after = lines[-1]["end_frame"]
            u = min(range(len(lines)), key=lambda k: lines[k]["margin_s"])
            line = lines[u]
            line.update(
                network=network.name,
                utterance=u,
                start_delay_s=metrics[u].start_delay,
                clairvoyant_s=d_star[u],
            )
            results.series.setdefault("timelines", []).append(line)
        if worst <= CLAMP:
            goals.append((f"0 underruns on {network.name!r}", under == 0, f"{under}"))
            goals.append(
                (f"0 underruns on {network.name!r}, no rewind", norew_under == 0, f"{norew_under}")
            )
        if k == 0:
            mean_start, mean_best = statistics.mean(starts), statistics.mean(d_star)
            figure = f"mean {ms(mean_start).strip()} vs {ms(mean_best).strip()} ms"
            goals.append(
                ("calm start <= clairvoyant + 30 ms", mean_start - mean_best <= 0.030, figure)
            )
    # The first sound at the DAC after ready, on a writer that wakes on time (MockClock):
    # what the fill itself adds, without a loaded machine's lateness.
    h, nr, t = (dist(heard[k]) for k in ("herald", "norewind", "today"))
    figure = f"{h['p50'] * 1000:.1f} ({h['p99'] * 1000:.1f}) ms;"
    figure += f" no rewind {nr['p50'] * 1000:.1f} ({nr['p99'] * 1000:.1f}) ms;"
    figure += f" today's fill {t['p50'] * 1000:.1f} ({t['p99'] * 1000:.1f}) ms"
    # Informative: these traces' first chunk comes the moment the stream opens (no round
    # trip before it), so the ring has had no time to be let down: ttfa.py judges it.
    goals.append(("first sound at the DAC after ready p50 (p99), network traces", None, figure))
    results.figures["dac_after_ready"] = {"herald": h, "norewind": nr, "today": t}
    # After the loop's own stalls a start keeps what its audio lacks of the cushion for
    # another one (herald/audio/player.py): what that costs a listener, rewinding.
    h, nr, t = (dist(stalled[k]) for k in ("herald", "norewind", "today"))
    figure = f"{h['p50'] * 1000:.1f} ({h['p99'] * 1000:.1f}) ms;"
    figure += f" no rewind {nr['p50'] * 1000:.1f} ({nr['p99'] * 1000:.1f}) ms;"
    figure += f" today's fill {t['p50'] * 1000:.1f} ({t['p99'] * 1000:.1f}) ms"
    ok = h["p50"] <= 0.025 and h["p99"] <= 0.050
    goals.append(("first sound at the DAC after ready p50 (p99), 100 ms stalls", ok, figure))
    results.figures["dac_after_ready_stalled"] = {"herald": h, "norewind": nr, "today": t}
    print()
    for text, ok, figure in goals:
        print(f"  {'--  ' if ok is None else 'ok  ' if ok else 'MISS'} {text}: {figure}")
        if text.startswith("0 underruns"):
            results.goal(text.replace("0 underruns", "herald's underruns"), figure, "0", ok)
        elif text.startswith("first sound") and ok is None:
            results.goal(text + " (writer on time, no round trip before the audio)", figure, "", ok)
        elif text.startswith("first sound"):
            results.goal(text + ", rewinding", figure, "<= 25 (50) ms", ok)
        else:
            what = "calm LAN: herald's mean start, vs the clairvoyant minimum"
            results.goal(what, figure, "<= clairvoyant + 30 ms", ok)
    results.figures["rows"] = rows
    results.save(args.save)


if __name__ == "__main__":
    main()
