"""Latency of every path: command arrival → first sample handed to ALSA.

Runs the real `herald run` process against a real mosquitto, the Cartesia emulator
(with a fixed time to first byte) and ALSA's file plugin, sends N says one after the
other, and reads each `started` event's `latency_ms` and `ttfb_ms` (request sent →
first chunk received, as herald sees it, the way a client measures a server's time
to first byte). `latency_ms - ttfb_ms` is what herald adds: MQTT hand-off, the
context request, decoding, the jitter buffer and the ALSA writer.

The second row subtracts instead the emulator's own view of its time to first byte
(request received → first chunk sent), so it also counts loopback transit and the
scheduling of three processes on a small machine; it is printed for comparison.

Then the same texts again (cache hits: no TTFB to subtract, the whole latency is
herald's), then the cloud is taken down and new texts are said: the offline
fallback's start (the chime, at once, while Piper synthesizes the first sentence).

    python bench/latency.py [-n 200] [--offline 30] [--ttfb-ms 50] [--quick] [--save PATH]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import trio

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "emulator"), str(ROOT / "tests" / "support")]

from benchlib import Results, dist, machine  # noqa: E402
from cartesia_emulator import Emulator  # noqa: E402
from daemon_harness import KEY, Herald, Observer, publish  # noqa: E402
from mosquitto import Mosquitto  # noqa: E402

GOAL_CLOUD_P99_MS = 10.0
GOAL_CACHE_P99_MS = 5.0
GOAL_OFFLINE_P99_MS = 100.0
STATE = "herald/kitchen/state"


def server_ttfb_ms(emulator: Emulator, i: int) -> float:
    """The emulator's real time to first byte for say number ``i`` (request in, chunk out)."""
    text = f"Number {i}."
    request = next(r for r in emulator.received if r.msg.get("transcript") == text)
    context = str(request.msg["context_id"])
    return (emulator.first_chunk_sent[context] - request.time) * 1000


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))
    return ordered[index]


@dataclass
class Figures:
    cloud: list[float] = field(default_factory=list)  # latency_ms - ttfb_ms
    cloud_transit: list[float] = field(default_factory=list)  # minus the emulator's TTFB
    cache: list[float] = field(default_factory=list)  # latency_ms of cache hits
    offline: list[float] = field(default_factory=list)  # latency_ms, cloud down


async def say(broker: Mosquitto, observer: Observer, id: str, text: str) -> dict[str, Any]:
    await publish(broker, "herald/kitchen/say", {"id": id, "text": text})
    await observer.wait_for(lambda: observer.of(id)[-1:] in (["finished"], ["failed"]), 120)
    return next(e for e in observer.events() if e["id"] == id and e["event"] == "started")


async def measure(n: int, ttfb_ms: float, n_offline: int) -> Figures:
    figures = Figures()
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        broker = Mosquitto(tmp_path / "broker")
        broker.start()
        try:
            async with trio.open_nursery() as nursery:
                emulator = Emulator(api_keys=frozenset({KEY}))
                await nursery.start(emulator.serve)
                emulator.faults.ttfb = ttfb_ms / 1000
                observer = Observer(broker)
                await nursery.start(observer.run)
                # INFO, as in production: DEBUG logs every WebSocket frame.
                herald = Herald(tmp_path, broker, emulator, log_level="INFO")
                await herald.start()
                try:
                    await observer.wait_for(
                        lambda: observer.last("herald/kitchen/availability") == "online"
                    )
                    for i in range(n):  # cloud: each text new
                        started = await say(broker, observer, f"lat{i}", f"Number {i}.")
                        latency = float(started["latency_ms"])
                        figures.cloud.append(latency - float(started["ttfb_ms"]))
                        figures.cloud_transit.append(latency - server_ttfb_ms(emulator, i))
                    for i in range(n):  # the same texts again: cache hits
                        started = await say(broker, observer, f"hit{i}", f"Number {i}.")
                        assert started["source"] == "cache", started
                        figures.cache.append(float(started["latency_ms"]))
                    # The cloud goes down: Piper loads in the background; then new texts.
                    emulator.faults.refuse = True
                    emulator.cut_all()
                    await observer.wait_for(
                        lambda: '"cloud": "offline"' in (observer.last(STATE) or "")
                    )
                    await say(broker, observer, "warmup", "Warming up the local voice.")
                    for i in range(n_offline):
                        started = await say(broker, observer, f"off{i}", f"Offline number {i}.")
                        assert started["source"] == "local", started
                        figures.offline.append(float(started["latency_ms"]))
                finally:
                    herald.kill()
                nursery.cancel_scope.cancel()
        finally:
            broker.kill()
    return figures


def report(name: str, values: list[float]) -> tuple[str, ...]:
    return (
        name,
        f"{len(values)}",
        f"{statistics.median(values):.1f}",
        f"{percentile(values, 95):.1f}",
        f"{percentile(values, 99):.1f}",
        f"{max(values):.1f}",
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=200, help="cloud says (and as many cache hits)")
    parser.add_argument("--offline", type=int, default=30, help="says while the cloud is down")
    parser.add_argument("--ttfb-ms", type=float, default=50.0)
    parser.add_argument("--quick", action="store_true", help="20 says (and hits), 5 offline")
    parser.add_argument("--save", type=Path, help="write the figures here (JSON)")
    args = parser.parse_args()
    if args.quick:
        args.n, args.offline = 20, 5
    results = Results("latency", quick=args.quick)
    results.figures["machine"] = machine()
    f = trio.run(measure, args.n, args.ttfb_ms, args.offline)
    header = ("path", "n", "p50 ms", "p95 ms", "p99 ms", "max ms", "goal (p99)")
    rows = [
        header,
        (*report("cloud, added", f.cloud), f"<= {GOAL_CLOUD_P99_MS:g} ms"),
        (*report("  incl. transit", f.cloud_transit), ""),
        (*report("cache hit", f.cache), f"<= {GOAL_CACHE_P99_MS:g} ms"),
        (*report("offline fallback", f.offline), f"<= {GOAL_OFFLINE_P99_MS:g} ms"),
    ]
    for row in rows:
        print("  ".join(f"{c:>10}" if i else f"{c:<18}" for i, c in enumerate(row)))
    for name, values, goal in (
        ("cloud added latency", f.cloud, GOAL_CLOUD_P99_MS),
        ("cache-hit latency", f.cache, GOAL_CACHE_P99_MS),
        ("offline fallback start", f.offline, GOAL_OFFLINE_P99_MS),
    ):
        p99 = percentile(values, 99)
        verdict = "meets" if p99 <= goal else "MISSES"
        print(f"{name} p99 {p99:.1f} ms: {verdict} the goal of <= {goal:g} ms")
        results.goal(name + ", p99", f"{p99:.1f} ms", f"<= {goal:g} ms", p99 <= goal)
    results.figures.update(
        {
            "ttfb_ms": args.ttfb_ms,
            "cloud_added": dist(f.cloud),
            "cloud_transit": dist(f.cloud_transit),
            "cache": dist(f.cache),
            "offline": dist(f.offline),
        }
    )
    results.series.update({"cloud_added": f.cloud, "cache": f.cache, "offline": f.offline})
    results.save(args.save)


if __name__ == "__main__":
    main()
