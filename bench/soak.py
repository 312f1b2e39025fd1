"""Soak: thousands of utterances through one `herald run`, watching its memory and fds.

The real daemon, a real mosquitto, the Cartesia emulator and ALSA's ``file:`` plugin,
with the default config. A pool of short texts is said once through the cloud
first (so the cache holds them), then ``-n`` utterances (5,000) go through:

- half from the cache (the pool's texts: hits), half from the cloud (the same texts
  with ``"cache": false``: a context on the socket, the audio streamed and played);
- one in ten plays to its end (``finished``: one word, about 0.1 s); the other nine
  (three words) are cut off by the next say (``"interrupt": true``) as soon as their
  first sample reached ALSA (``interrupted``), which also cancels their cloud
  context. Audio plays in real time and every started utterance holds the device for
  about 0.1 s (the ring and a writer tick), so this keeps 5,000 utterances to about
  nine minutes, and it exercises the paths an interrupt takes, where leaks like to
  hide. (A say that interrupts one still queued would not cut it off: an interrupt
  stops what plays, so the next say waits for the previous one's first sample.)

Nothing here adds clips to the cache after the warm-up, on purpose: each new clip
grows herald's in-memory cache of recent clips by design (up to 4 MiB), which would
hide a leak; clip commits are covered by bench/cache_crash.py and the tests.

Every 100 utterances the bench reads herald's RSS (VmRSS), open fds and threads from
/proc. Goals, after a warm-up of the first 10 %: RSS grows <= 2 MB to the end, and the
number of open fds is the same at the end as after the warm-up. Every utterance must
end exactly once, ``finished`` or ``interrupted``.

    python bench/soak.py [-n 5000] [--seed 1] [--quick] [--save PATH]
"""

from __future__ import annotations

import argparse
import json
import random
import signal
import tempfile
from pathlib import Path

import trio

from benchlib import (
    Results,
    Watch,
    as_installed,
    line_publisher,
    machine,
    open_fds,
    rss_bytes,
    threads,
    wait_cloud_online,
)
from cartesia_emulator import Emulator
from daemon_harness import KEY, Herald
from mosquitto import Mosquitto

GOAL_GROWTH_MB = 2.0
SAMPLE_EVERY = 100
MB = 1024 * 1024
WORDS = (
    *("door", "bell", "rain", "lamp", "fan", "oven", "gate", "dryer", "alarm", "heat"),
    *("cold", "wind", "snow", "mail", "car", "dog", "cat", "baby", "tea", "milk"),
)
# Played to the end: one short word (about 0.1 s of audio). Cut off: three words
# (about 0.5 s), so that they are still playing when the next say arrives.
SHORT = WORDS
LONG = tuple(f"{w} {WORDS[(i + 7) % 20]} {WORDS[(i + 13) % 20]}" for i, w in enumerate(WORDS))
FINISH_EVERY = 10


async def measure(n: int, seed: int, results: Results) -> None:
    rng = random.Random(seed)
    f = results.figures
    with tempfile.TemporaryDirectory(prefix="herald-soak-") as tmp:
        tmp_path = Path(tmp)
        broker = Mosquitto(tmp_path / "broker")
        broker.start()
        herald: Herald | None = None
        try:
            async with trio.open_nursery() as nursery:
                emulator = Emulator(api_keys=frozenset({KEY}))
                await nursery.start(emulator.serve)
                watch = Watch(broker)
                await nursery.start(watch.run)
                herald = Herald(tmp_path, broker, emulator, log_level="INFO")
                as_installed(herald.env)
                await herald.start()
                await wait_cloud_online(herald)
                assert herald.process is not None
                pid = herald.process.pid
                pub = await line_publisher(broker, "herald/kitchen/say")

                async def say(id: str, **fields: object) -> None:
                    line = json.dumps({"id": id, **fields}) + "\n"
                    await pub.stdin.send_all(line.encode())  # type: ignore[union-attr]

                for k, text in enumerate(SHORT + LONG):  # warm-up: the pool into the cache
                    await say(f"w{k}", text=text)
                    await watch.wait_end(f"w{k}")

                samples: list[dict[str, float]] = []
                start = trio.current_time()
                for i in range(n):
                    cloud = i % 2 == 1
                    to_end = i % FINISH_EVERY == 0
                    text = rng.choice(SHORT if to_end else LONG)
                    fields: dict[str, object] = {"text": text, "interrupt": True}
                    if cloud:
                        fields["cache"] = False
                    await say(f"s{i}", **fields)
                    if to_end:
                        await watch.wait_end(f"s{i}", timeout=30)
                    else:
                        await watch.wait_for(
                            lambda i=i: any(e != "queued" for e in watch.events(f"s{i}")), 30
                        )
                    if i % SAMPLE_EVERY == SAMPLE_EVERY - 1 or i == n - 1:
                        samples.append(
                            {
                                "utterances": i + 1,
                                "seconds": trio.current_time() - start,
                                "rss_mb": rss_bytes(pid) / MB,
                                "fds": open_fds(pid),
                                "threads": threads(pid),
                            }
                        )
                        s = samples[-1]
                        print(
                            f"  {i + 1:5d} utterances, {s['seconds']:6.1f} s:"
                            f" RSS {s['rss_mb']:.2f} MB, {s['fds']} fds, {s['threads']} threads",
                            flush=True,
                        )
                await watch.wait_end(f"s{n - 1}", timeout=30)
                await trio.sleep(1)
                ends: dict[str, int] = {}
                wrong = []
                for i in range(n):
                    events = watch.events(f"s{i}")
                    terminal = [e for e in events if e not in ("queued", "started")]
                    key = terminal[0] if len(terminal) == 1 else "/".join(terminal) or "none"
                    ends[key] = ends.get(key, 0) + 1
                    if len(terminal) != 1 or terminal[0] not in ("finished", "interrupted"):
                        wrong.append(f"s{i}: {events}")
                sources: dict[str, int] = {}
                for i in range(n):
                    if "started" in watch.events(f"s{i}"):
                        src = str(watch.event(f"s{i}", "started")[1].get("source"))
                        sources[src] = sources.get(src, 0) + 1
                f.update(
                    {
                        "utterances": n,
                        "seconds": trio.current_time() - start,
                        "ends": ends,
                        "sources": sources,
                        "wrong": wrong[:20],
                        "wrong_count": len(wrong),
                        "piper_loaded": "onnxruntime" in Path(f"/proc/{pid}/maps").read_text(),
                    }
                )
                results.series["samples"] = samples
                await pub.stdin.aclose()  # type: ignore[union-attr]
                herald.signal(signal.SIGTERM)
                f["exit_code"] = await herald.wait(10)
                nursery.cancel_scope.cancel()
        finally:
            if herald is not None:  # whatever happened: it must not outlive the bench
                herald.kill()
            broker.kill()


def fit_slope(points: list[tuple[float, float]]) -> float:
    """Least-squares slope of y on x."""
    mx = sum(x for x, _ in points) / len(points)
    my = sum(y for _, y in points) / len(points)
    den = sum((x - mx) ** 2 for x, _ in points)
    return sum((x - mx) * (y - my) for x, y in points) / den if den else 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=5000, help="utterances after the warm-up")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--quick", action="store_true", help="500 utterances")
    parser.add_argument("--save", type=Path, help="write the figures here (JSON)")
    args = parser.parse_args()
    n = 500 if args.quick else args.n
    results = Results("soak", quick=args.quick)
    results.figures["machine"] = machine()
    trio.run(measure, n, args.seed, results)
    f = results.figures
    samples = results.series["samples"]
    warm = [s for s in samples if s["utterances"] >= n // 10]
    base, last = warm[0], samples[-1]
    growth = last["rss_mb"] - base["rss_mb"]
    peak = max(s["rss_mb"] for s in warm) - base["rss_mb"]
    slope = fit_slope([(s["utterances"], s["rss_mb"]) for s in warm]) * 1000
    f.update(
        {
            "rss_after_warmup_mb": base["rss_mb"],
            "rss_end_mb": last["rss_mb"],
            "rss_growth_mb": growth,
            "rss_peak_over_base_mb": peak,
            "rss_slope_mb_per_1000": slope,
            "fds_after_warmup": base["fds"],
            "fds_end": last["fds"],
            "fds_range": [min(s["fds"] for s in warm), max(s["fds"] for s in warm)],
            "threads_range": [min(s["threads"] for s in warm), max(s["threads"] for s in warm)],
        }
    )
    print(
        f"\nRSS: {samples[0]['rss_mb']:.2f} MB after {samples[0]['utterances']},"
        f" {base['rss_mb']:.2f} MB after the warm-up ({base['utterances']}),"
        f" {last['rss_mb']:.2f} MB at the end ({last['utterances']});"
        f" peak {peak:+.2f} MB over the warm-up; slope {slope:+.3f} MB per 1000 utterances"
    )
    print(f"ends: {f['ends']}; sources: {f['sources']}; {f['seconds']:.0f} s")
    results.goal(
        f"RSS growth over {n} utterances after the warm-up",
        f"{growth:+.2f} MB ({base['rss_mb']:.1f} -> {last['rss_mb']:.1f} MB)",
        f"<= {GOAL_GROWTH_MB:g} MB",
        growth <= GOAL_GROWTH_MB,
    )
    results.goal(
        "open fds, after the warm-up / at the end (range)",
        f"{base['fds']} / {last['fds']} ({f['fds_range'][0]}-{f['fds_range'][1]})",
        "stable",
        last["fds"] <= base["fds"],
    )
    results.goal(
        "utterances that did not end exactly once, finished or interrupted",
        f"{f['wrong_count']} of {n}",
        "0",
        f["wrong_count"] == 0,
    )
    code = f["exit_code"]
    results.goal("herald's exit status after SIGTERM", str(code), "0", code == 0)
    results.print_goals()
    results.save(args.save)


if __name__ == "__main__":
    main()
