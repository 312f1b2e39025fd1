"""Time to first audio: herald's persistent socket against Cartesia's quickstart pattern.

Both speak the same texts, alternated in one run (herald first on even texts, the
quickstart first on odd ones), against the Cartesia emulator over TLS behind a local
TCP proxy (tests/faultproxy.py) that adds ``--rtt-ms`` of round-trip time (40 ms):
half of it to every byte each way, and one more round trip before a new connection's
first bytes, for the TCP handshake the kernel here completes at once.

- herald: the real ``herald run`` daemon (its socket opened at start, long before the
  says), a real mosquitto and ALSA's ``file:`` plugin. The daemon rather than its
  client and player in-process: that is what is deployed, and it counts every hop a
  say takes (MQTT, router, speaker, cache lookup, jitter buffer, writer), with the
  bench's own work (emulator, proxy) in another process. Says carry
  ``"cache": false``, so every one goes to the cloud.
- the quickstart (bench/quickstart_client.py): the official ``cartesia`` SDK, a
  WebSocket opened per request, chunks written to pyalsaaudio as they arrive, the
  same ``file:`` sink.

Time zero is the moment the bench writes the text to the process that carries it:
a line to a ``mosquitto_pub -l`` for herald, a line on the quickstart's stdin.
**First audio** is the moment the first sample of the text was handed to ALSA,
read the same way for both from the sink's output: alsa-lib's file plugin writes a
frame to its file once one more ring (the application's ALSA buffer) has been written
after it (pcm_file.c), so frame ``k`` was handed to ALSA by the ``write()`` that first
took the file past ``k - ring`` frames. The bench times every ``write()`` to the files
with inotify; the ring of each is known (herald: 6 x 20 ms; the quickstart reports
what pyalsaaudio got). Goal: herald's median / the quickstart's median <= 0.33.

Also printed: "in file", when the first sample reached the file. For the quickstart
that is at once (its ring is 5 ms); for herald it is when its 120 ms ring, the cushion
its writer keeps on a real card, has played out ahead of it, as a listener would hear
it on a card. And herald's own ``latency_ms`` (arrival of the say to first sample to
ALSA) from its ``started`` events, as a cross-check of the first column.

    python bench/ttfa.py [-n 60] [--rtt-ms 40] [--ttfb-ms 0] [--quick] [--save PATH]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import trio

from benchlib import (
    ROOT,
    FileWatch,
    Lines,
    Results,
    as_installed,
    dist,
    line_publisher,
    machine,
    tls_endpoint,
    tls_server_context,
    wait_cloud_online,
)
from cartesia_emulator import Emulator
from daemon_harness import KEY, Herald, Observer, start_online
from faultproxy import FaultProxy
from herald.audio import PlayerTuning
from mosquitto import Mosquitto

GOAL_RATIO = 0.33
RATE = 24000
WARMUP = 3
SETTLE_S = 0.35  # after the end: herald's ring (120 ms) and a tick reach the file

SUBJECTS = [
    "front door",
    "garage door",
    "washing machine",
    "dishwasher",
    "kitchen window",
    "garden gate",
    "bedroom heater",
    "living room light",
    "back door",
    "freezer",
    "dryer",
    "oven",
]
STATES = ["open", "finished", "still running", "too warm", "unlocked", "switched on"]


def texts(n: int) -> list[str]:
    """``n`` different sentences of the kind herald speaks (five to eight words)."""
    out = []
    for i in range(n):
        subject = SUBJECTS[i % len(SUBJECTS)]
        state = STATES[(i // len(SUBJECTS)) % len(STATES)]
        out.append(f"Notice {i + 1}: the {subject} is {state}.")
    return out


class Trial:
    def __init__(self, watch: FileWatch, ring_frames: int) -> None:
        self.watch = watch
        self.ring_bytes = 2 * ring_frames
        self.mark = 0
        self.t0 = 0.0

    def begin(self) -> None:
        self.mark = self.watch.size()
        self.t0 = trio.current_time()

    def result(self) -> tuple[float, float]:
        """(handed to ALSA, in the file), seconds after t0."""
        first = self.watch.first_nonzero(self.mark)
        if first is None:
            raise RuntimeError(f"{self.watch.path}: no audio after byte {self.mark}")
        handed = self.watch.first_time_above(first - self.ring_bytes, self.t0)
        in_file = self.watch.first_time_above(first, self.t0)
        if handed is None or in_file is None:
            raise RuntimeError(f"{self.watch.path}: no write seen for byte {first}")
        return handed - self.t0, in_file - self.t0


async def measure(n: int, rtt_ms: float, ttfb_ms: float, results: Results) -> None:
    herald_ring = round(PlayerTuning().period_s * RATE) * PlayerTuning().periods
    with tempfile.TemporaryDirectory(prefix="herald-ttfa-") as tmp:
        tmp_path = Path(tmp)
        broker = Mosquitto(tmp_path / "broker")
        broker.start()
        children: list[Any] = []  # killed whatever happens, so none outlives the bench
        try:
            async with trio.open_nursery() as nursery:
                context, ca_file = tls_server_context(tmp_path)
                emulator = Emulator(api_keys=frozenset({KEY}), ssl_context=context)
                await nursery.start(emulator.serve)
                emulator.faults.ttfb = ttfb_ms / 1000
                proxy = FaultProxy(emulator.port, delay=rtt_ms / 2000)
                await nursery.start(proxy.serve)
                endpoint = tls_endpoint(proxy.port)
                observer = Observer(broker)
                await nursery.start(observer.run)

                herald = Herald(tmp_path, broker, endpoint, log_level="INFO")  # type: ignore[arg-type]
                children.append(herald)
                as_installed(herald.env)["SSL_CERT_FILE"] = str(ca_file)
                herald_watch = FileWatch(herald.raw)
                nursery.start_soon(herald_watch.run)
                await start_online(herald, observer)
                await wait_cloud_online(herald)
                pub = await line_publisher(broker, "herald/kitchen/say")
                children.append(pub)

                qs_raw = tmp_path / "quickstart.raw"
                qs_watch = FileWatch(qs_raw)
                nursery.start_soon(qs_watch.run)
                qs = await trio.lowlevel.open_process(
                    [
                        sys.executable,
                        str(ROOT / "bench" / "quickstart_client.py"),
                        endpoint.http_url,
                        f"file:FILE={qs_raw},FORMAT=raw",
                        str(ca_file),
                    ],
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    env={**herald.env, "CARTESIA_API_KEY": KEY},
                )
                children.append(qs)
                assert qs.stdin is not None and qs.stdout is not None
                qs_lines = Lines(qs.stdout)
                ready = await qs_lines.next(60)
                qs_ring = int(ready.split()[1])

                async def herald_say(i: int, text: str) -> tuple[float, float]:
                    trial = Trial(herald_watch, herald_ring)
                    say = {"id": f"t{i}", "text": text, "cache": False}
                    trial.begin()
                    await pub.stdin.send_all(json.dumps(say).encode() + b"\n")  # type: ignore[union-attr]
                    await observer.wait_for(
                        lambda: bool({"finished", "failed"} & set(observer.of(f"t{i}"))), 30
                    )
                    await trio.sleep(SETTLE_S)
                    events = [e for e in observer.events() if e.get("id") == f"t{i}"]
                    started = next(e for e in events if e["event"] == "started")
                    if started.get("source") != "cartesia":
                        raise RuntimeError(f"say {i} was not spoken by the cloud: {events}")
                    own.append(float(started["latency_ms"]) / 1000)
                    return trial.result()

                async def quickstart_say(text: str) -> tuple[float, float]:
                    trial = Trial(qs_watch, qs_ring)
                    trial.begin()
                    await qs.stdin.send_all(text.encode() + b"\n")  # type: ignore[union-attr]
                    if (line := await qs_lines.next()) != "done":
                        raise RuntimeError(f"quickstart: {line}")
                    await trio.sleep(0.05)
                    return trial.result()

                own: list[float] = []
                h_handed, h_file, q_handed, q_file = [], [], [], []
                all_texts = texts(n + WARMUP)
                for i, text in enumerate(all_texts):
                    if i % 2 == 0:
                        h = await herald_say(i, text)
                        q = await quickstart_say(text)
                    else:
                        q = await quickstart_say(text)
                        h = await herald_say(i, text)
                    if i < WARMUP:
                        own.pop()
                        continue
                    h_handed.append(h[0])
                    h_file.append(h[1])
                    q_handed.append(q[0])
                    q_file.append(q[1])
                    print(
                        f"  {i - WARMUP + 1:3d}/{n}: herald {h[0] * 1000:6.1f} ms,"
                        f" quickstart {q[0] * 1000:6.1f} ms",
                        flush=True,
                    )
                await qs.stdin.aclose()  # type: ignore[union-attr]
                await pub.stdin.aclose()  # type: ignore[union-attr]
                herald.kill()
                with trio.move_on_after(5):
                    await qs.wait()
                    await pub.wait()
                results.figures.update(
                    {
                        "rtt_ms": rtt_ms,
                        "ttfb_ms": ttfb_ms,
                        "herald_ring_frames": herald_ring,
                        "quickstart_ring_frames": qs_ring,
                        "herald": dist(h_handed),
                        "quickstart": dist(q_handed),
                        "herald_in_file": dist(h_file),
                        "quickstart_in_file": dist(q_file),
                        "herald_own_latency": dist(own),
                        "websocket_handshakes": len(emulator.handshakes),
                    }
                )
                results.series.update(
                    {"herald_ms": [x * 1000 for x in h_handed]}
                    | {"quickstart_ms": [x * 1000 for x in q_handed]}
                )
                nursery.cancel_scope.cancel()
        finally:
            for child in children:
                child.kill()
            broker.kill()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=60, help="texts (each said by both)")
    parser.add_argument("--rtt-ms", type=float, default=40.0, help="round trip the proxy adds")
    parser.add_argument("--ttfb-ms", type=float, default=0.0, help="emulator's time to first byte")
    parser.add_argument("--quick", action="store_true", help="10 texts")
    parser.add_argument("--save", type=Path, help="write the figures here (JSON)")
    args = parser.parse_args()
    n = 10 if args.quick else args.n
    results = Results("ttfa", quick=args.quick)
    results.figures["machine"] = machine()
    print(
        f"{n} texts, each said by herald and by the quickstart pattern, alternated;"
        f" proxy RTT {args.rtt_ms:g} ms, emulator TTFB {args.ttfb_ms:g} ms, TLS"
    )
    trio.run(measure, n, args.rtt_ms, args.ttfb_ms, results)
    f = results.figures
    print()
    print(f"{'first sample handed to ALSA':30} {'p50':>8} {'p95':>8} {'max':>8}")
    for label, key in (
        ("herald (persistent socket)", "herald"),
        ("quickstart (socket per say)", "quickstart"),
        ("herald, in file (after ring)", "herald_in_file"),
        ("quickstart, in file", "quickstart_in_file"),
        ("herald's own latency_ms", "herald_own_latency"),
    ):
        d = f[key]
        print(
            f"{label:30} {d['p50'] * 1000:6.1f}ms {d['p95'] * 1000:6.1f}ms {d['max'] * 1000:6.1f}ms"
        )
    ratio = f["herald"]["p50"] / f["quickstart"]["p50"]
    ratio95 = f["herald"]["p95"] / f["quickstart"]["p95"]
    f["ratio_p50"], f["ratio_p95"] = ratio, ratio95
    results.goal(
        "herald / quickstart, median time to first audio",
        f"{ratio:.2f} ({f['herald']['p50'] * 1000:.0f} / {f['quickstart']['p50'] * 1000:.0f} ms)",
        f"<= {GOAL_RATIO}",
        ratio <= GOAL_RATIO,
    )
    results.goal("herald / quickstart, p95", f"{ratio95:.2f}", "", None)
    in_file = f["herald_in_file"]["p50"] / f["quickstart_in_file"]["p50"]
    results.goal(
        "herald / quickstart, median time to the sink's output", f"{in_file:.2f}", "", None
    )
    results.notes += [
        "Per say the quickstart pattern pays four round trips before its first audio (TCP"
        " handshake, TLS 1.3, the WebSocket upgrade, the request) where herald pays one;"
        f" the emulator answers at once (TTFB {f['ttfb_ms']:g} ms): a real server's time to"
        " first byte adds the same to both and moves the ratio toward 1.",
        "What a listener hears comes later than the first sample handed to ALSA by what the"
        " application keeps queued ahead of the DAC. Herald's writer keeps a 120 ms ring"
        " (70-120 ms full) so that a late wake-up never underruns; the quickstart's"
        " pyalsaaudio defaults keep 5 ms (and would underrun on a card between chunks). The"
        " 'to the sink's output' row is that moment on the file sink.",
    ]
    results.print_goals()
    results.save(args.save)


if __name__ == "__main__":
    main()
