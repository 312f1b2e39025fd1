"""Hostile input and heavy load (issue 14): every way the issue found to crash, hang,
deafen or bloat herald, repeated against the real daemon, one line per case: held or
not, with its figure.

Real processes throughout: ``herald run`` (INFO logging, local voice off so that what
is measured is herald and not Piper), a real mosquitto per case (on a free loopback
port), the Cartesia emulator with its hostile-server switches, ALSA's ``file:`` plugin.
Every herald runs under a stand-in for systemd's notify socket with a 40 ms watchdog,
so it pings every 20 ms from a trio task: the longest gap between two pings (kernel
receive timestamps, so the bench's own loop does not blur them) less the 20 ms is the
longest the daemon's event loop was blocked. Its RSS is sampled every 20 ms; the flood
cases must stay under 60 MB (README, Limits).

    python bench/hostile.py [--quick] [--only NAME[,NAME...]] [--save PATH]

``--quick`` makes the floods smaller (about a minute instead of three).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import tracemalloc
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import trio

from benchlib import TERMINAL, Results, Watch, as_installed, machine, rss_bytes
from cartesia_emulator import Emulator
from daemon_harness import KEY, Herald, config_text, publish
from mosquitto import INSTALLED_QUEUE, Mosquitto

DEVICE = "kitchen"
SAY = f"herald/{DEVICE}/say"
STREAM = f"herald/{DEVICE}/say/stream"
STOP = f"herald/{DEVICE}/stop"
QUIET = '[offline]\nlocal_voice = "none"\n'
PING_S = 0.020  # the watchdog interval herald is given: WATCHDOG_USEC is twice this
RSS_CAP_MB = 60.0
STALL_CAP_MS = 50.0
STOP_WITHIN_S = 1.0
SIGTERM_WITHIN_S = 2.0
MQTT_PASSWORD = "hostile-bench-Pa55"
SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)  # Linux (x86, arm): 35


@dataclass(frozen=True)
class Sizes:
    muted: int = 300
    stream_chunks: int = 400
    streams: int = 200
    queued_before_stop: int = 500
    qos0_flood: int = 6239
    audio_flood_bytes: int = 200_000_000
    qos0_burst: int = 1000
    qos1_flood: int = 3000


QUICK = Sizes(100, 100, 50, 200, 1000, 50_000_000, 300, 500)


@dataclass
class Outcome:
    case: str
    held: bool
    figure: str
    rss_mb: float | None = None  # herald's peak RSS during the case
    stall_ms: float | None = None  # the longest its loop was blocked (watchdog gaps)
    flood: bool = False  # held only under RSS_CAP_MB


# --- the rig ------------------------------------------------------------------------


class Pings:
    """systemd's notify socket, stand-in: WATCHDOG=1 datagrams with the kernel's receive
    time. Read by a thread of its own: a Unix datagram socket queues only 10 datagrams
    (net.unix.max_dgram_qlen), and herald drops a ping it cannot send, so a bench loop
    busy for 200 ms (the in-process emulator synthesizing a long text) would show up
    as a stall of herald's."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.sock.settimeout(0.1)
        self.sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        self.times: list[float] = []
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._read, name="pings", daemon=True)
        self._thread.start()

    def _read(self) -> None:
        while not self._closed.is_set():
            try:
                data, ancillary, _, _ = self.sock.recvmsg(4096, socket.CMSG_SPACE(16))
            except TimeoutError:
                continue
            except OSError:
                return
            when = time.time()
            for level, kind, cdata in ancillary:
                if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS:
                    sec, nsec = struct.unpack("@ll", cdata[: struct.calcsize("@ll")])
                    when = sec + nsec / 1e9
            if b"WATCHDOG=1" in data:
                self.times.append(when)

    def close(self) -> None:
        self._closed.set()
        self._thread.join()
        self.sock.close()


@dataclass
class Rig:
    """One case's broker, emulator, watcher and heralds (each herald's RSS sampled and
    its watchdog pings kept per process, so a restart is not a stall)."""

    tmp: Path
    broker: Mosquitto
    emulator: Emulator
    watch: Watch
    pings: Pings
    nursery: trio.Nursery
    heralds: list[Herald] = field(default_factory=list)
    peak_rss: int = 0
    epochs: list[tuple[int, int]] = field(default_factory=list)  # ping index ranges

    def herald(self, *, extra: str = QUIET, env: dict[str, str] | None = None) -> Herald:
        h = Herald(self.tmp, self.broker, self.emulator, extra=extra, env=env)
        h.log_level = "INFO"
        as_installed(h.env)
        h.env["NOTIFY_SOCKET"] = str(self.pings.path)
        h.env["WATCHDOG_USEC"] = str(round(PING_S * 2 * 1e6))
        return h

    async def start(self, h: Herald | None = None, *, online: bool = True) -> Herald:
        h = h or self.herald()
        self.close_epoch()
        await h.start()
        self.heralds.append(h)
        self.epochs.append((len(self.pings.times), -1))
        self.nursery.start_soon(self._sample, h)
        if online:
            topic = f"herald/{h.device}/availability"
            try:
                await self.watch.wait_for(lambda: self.watch.last.get(topic) == "online", 30)
            except trio.TooSlowError:
                raise RuntimeError("herald did not come online:\n" + h.logs()[-3000:]) from None
        return h

    def close_epoch(self) -> None:
        if self.epochs and self.epochs[-1][1] < 0:
            self.epochs[-1] = (self.epochs[-1][0], len(self.pings.times))

    async def _sample(self, h: Herald) -> None:
        assert h.process is not None
        while h.process.returncode is None:
            with contextlib.suppress(OSError, RuntimeError):
                self.peak_rss = max(self.peak_rss, rss_bytes(h.process.pid))
            await trio.sleep(0.02)

    def stall_ms(self) -> float | None:
        """The longest gap between two pings of one process, less the interval."""
        self.close_epoch()
        gaps = [
            b - a
            for start, end in self.epochs
            for a, b in zip(
                self.pings.times[start:end], self.pings.times[start + 1 : end], strict=False
            )
        ]
        return max(0.0, (max(gaps) - PING_S) * 1000) if gaps else None

    def events(self, id: str) -> list[str]:
        return self.watch.events(id, DEVICE)

    def payloads(self) -> list[dict[str, Any]]:
        return [p for (dev, _), es in self.watch.by_id.items() if dev == DEVICE for *_, p in es]

    def ended(self, id: str) -> str | None:
        return self.watch.ended(id, DEVICE)

    async def say(self, id: str, text: str, timeout: float = 30, **fields: Any) -> list[str]:
        await publish(self.broker, SAY, {"id": id, "text": text, **fields})
        await self.watch.wait_for(lambda: self.ended(id) is not None, timeout)
        return self.events(id)

    async def mute(self) -> None:
        await publish(self.broker, f"herald/{DEVICE}/mute/set", "ON")
        await self.watch.wait_for(lambda: self.watch.state(DEVICE).get("mute") is True)

    def alive(self) -> bool:
        return bool(self.heralds) and all(
            h.process is not None and h.process.returncode is None for h in self.heralds[-1:]
        )


@contextlib.asynccontextmanager
async def open_rig(
    tmp: Path,
    *,
    users: dict[str, str] | None = None,
    acl: Sequence[str] | None = None,
    broker_settings: Sequence[str] = (),
) -> AsyncIterator[Rig]:
    tmp.mkdir(parents=True)
    broker = Mosquitto(tmp / "broker", users=users, acl=acl, settings=broker_settings)
    broker.start()
    pings = Pings(tmp / "notify")
    try:
        async with trio.open_nursery() as nursery:
            emulator = Emulator(api_keys=frozenset({KEY}))
            await nursery.start(emulator.serve)
            watch = Watch(broker)
            await nursery.start(watch.run)
            rig = Rig(tmp, broker, emulator, watch, pings, nursery)
            try:
                yield rig
            finally:
                for h in rig.heralds:
                    h.kill()
                nursery.cancel_scope.cancel()
    finally:
        pings.close()
        broker.kill()


async def publish_lines(
    broker: Mosquitto, topic: str, payloads: Sequence[str], *, qos: int = 1
) -> None:
    """Many messages through one mosquitto_pub (one per line), as a busy home sends them.
    mosquitto_pub ends once the last one is acknowledged (QoS 1) or written (QoS 0)."""
    args = ["mosquitto_pub", *broker.cli_args(), "-t", topic, "-q", str(qos), "-l"]
    with trio.fail_after(120):
        await trio.run_process(args, stdin="".join(p + "\n" for p in payloads).encode())


async def herald_cli(
    *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[bytes]:
    full = {k: v for k, v in os.environ.items() if not k.startswith(("HERALD_", "NOTIFY_"))}
    full.update(env or {})
    with trio.fail_after(60):
        return await trio.run_process(
            [sys.executable, "-m", "herald", *args],
            env=full,
            capture_stdout=True,
            capture_stderr=True,
            check=False,
        )


async def until_logged(h: Herald, needle: str, n: int, timeout: float) -> int:
    """How often ``needle`` is in herald's log once it is there ``n`` times, or at the
    timeout: what herald did with a flood, whether or not its events got out."""
    with contextlib.suppress(trio.TooSlowError), trio.fail_after(timeout):
        while h.logs().count(needle) < n:
            await trio.sleep(0.1)
    return h.logs().count(needle)


def answered(rig: Rig, ids: Sequence[str]) -> int:
    return sum(1 for i in ids if rig.events(i))


def ended_all(rig: Rig, ids: Sequence[str]) -> int:
    return sum(1 for i in ids if rig.ended(i) is not None)


def mb(n: int) -> float:
    return n / 2**20


# --- the cases ----------------------------------------------------------------------

Case = Callable[[Rig, Sizes], Awaitable[Outcome]]
CASES: list[tuple[str, Case, dict[str, Any]]] = []


def case(name: str, **rig_options: Any) -> Callable[[Case], Case]:
    def register(fn: Case) -> Case:
        CASES.append((name, fn, rig_options))
        return fn

    return register


@case("deep_frame")
async def deep_frame(rig: Rig, sizes: Sizes) -> Outcome:
    rig.emulator.faults.deep_frame_after_chunks = 1
    depth = rig.emulator.faults.deep_frame_depth
    await rig.start()
    events = await rig.say("d1", "The frame after this one is hostile.")
    held = events == ["queued", "started", "finished"] and rig.alive()
    return Outcome(
        "", held, f"a Cartesia frame nested {depth} deep mid-say: {'/'.join(events)}, still running"
    )


@case("deep_state_file")
async def deep_state_file(rig: Rig, sizes: Sizes) -> Outcome:
    depth = 1500
    state = rig.tmp / f"state-{DEVICE}.json"
    state.write_text('{"volume": ' + "[" * depth + "]" * depth + "}")
    t0 = trio.current_time()
    await rig.start()
    took = trio.current_time() - t0
    events = await rig.say("s1", "Started with a hostile state file.")
    held = rig.alive() and events[-1] == "finished"
    return Outcome(
        "",
        held,
        f"state file nested {depth} deep ({state.stat().st_size} B): online in {took:.2f} s, "
        "says play",
    )


@case("poison_say")
async def poison_say(rig: Rig, sizes: Sizes) -> Outcome:
    rig.emulator.faults.chunk_delay = 0.2  # long enough to be killed while it plays
    long = " ".join(["This say is long enough to be playing when herald dies."] * 6)
    h = await rig.start()
    await publish(rig.broker, SAY, {"id": "p", "text": long})
    for crash in (1, 2):
        await rig.watch.wait_for(lambda n=crash: rig.events("p").count("started") >= n, 30)
        h.kill()  # as a crash would: no clean stop
        await h.wait()
        h = await rig.start(h)
    await rig.watch.wait_for(lambda: "failed" in rig.events("p"), 30)
    failed = [p for e, _, p in rig.watch.by_id[(DEVICE, "p")] if e == "failed"][-1]
    starts = rig.events("p").count("started")
    held = starts == 2 and "twice" in failed.get("error", "")
    return Outcome(
        "",
        held,
        f"killed twice mid-say: played {starts} times, then failed ({failed.get('error')!r})",
    )


@case("muted_flood")
async def muted_flood(rig: Rig, sizes: Sizes) -> Outcome:
    await rig.start()
    await rig.mute()
    ids = [f"m{i}" for i in range(sizes.muted)]
    await publish_lines(rig.broker, SAY, [json.dumps({"id": i, "text": "Shh."}) for i in ids])
    with contextlib.suppress(trio.TooSlowError):
        await rig.watch.wait_for(lambda: ended_all(rig, ids) == len(ids), 60)
    n = sum(1 for i in ids if rig.ended(i) == "dropped")
    return Outcome(
        "", n == len(ids), f"{n} of {len(ids)} muted QoS 1 says answered dropped", flood=True
    )


@case("stream_of_many_chunks")
async def stream_of_many_chunks(rig: Rig, sizes: Sizes) -> Outcome:
    await rig.start()
    words = [chr(97 + i % 26) + (" " if i % 20 == 19 else "") for i in range(sizes.stream_chunks)]
    chunks = [json.dumps({"id": "s", "text": w}) for w in words]
    chunks.append(json.dumps({"id": "s", "text": "", "final": True}))
    await publish_lines(rig.broker, STREAM, chunks)
    await rig.watch.wait_for(lambda: rig.ended("s") is not None, 180)
    heard = "".join(
        str(r.msg["transcript"]) for r in rig.emulator.received if "transcript" in r.msg
    )
    sent = "".join(words)
    missing = len(sent) - len(heard) if sent.startswith(heard) else len(sent)
    end = rig.ended("s")
    held = end == "finished" and heard == sent
    return Outcome(
        "",
        held,
        f"{len(words)} QoS 1 chunks: {missing} of {len(sent)} characters missing, {end}",
        flood=True,
    )


@case("concurrent_streams")
async def concurrent_streams(rig: Rig, sizes: Sizes) -> Outcome:
    await rig.start()
    ids = [f"c{i}" for i in range(sizes.streams)]
    chunks = [json.dumps({"id": i, "text": f"Stream {n} says hello. "}) for n, i in enumerate(ids)]
    chunks += [json.dumps({"id": i, "text": "", "final": True}) for i in ids]
    await publish_lines(rig.broker, STREAM, chunks)
    with contextlib.suppress(trio.TooSlowError):
        await rig.watch.wait_for(lambda: answered(rig, ids) == len(ids), 60)
    heard = answered(rig, ids)
    await publish(rig.broker, STOP, "")
    with contextlib.suppress(trio.TooSlowError):
        await rig.watch.wait_for(lambda: ended_all(rig, ids) == len(ids), 30)
    done = ended_all(rig, ids)
    held = heard == done == len(ids)
    return Outcome(
        "",
        held,
        f"{len(ids)} streams at once: {heard} answered, {done} ended after a stop",
        flood=True,
    )


@case("stop_behind_queue")
async def stop_behind_queue(rig: Rig, sizes: Sizes) -> Outcome:
    rig.emulator.faults.chunk_delay = 0.05  # each say takes a while to speak
    await rig.start()
    ids = [f"q{i}" for i in range(sizes.queued_before_stop)]
    text = "This announcement is one of very many in a row, and it is not short."
    await publish_lines(rig.broker, SAY, [json.dumps({"id": i, "text": text}) for i in ids])
    t0 = trio.current_time()
    await publish(rig.broker, STOP, "")
    with contextlib.suppress(trio.TooSlowError):
        await rig.watch.wait_for(lambda: ended_all(rig, ids) == len(ids), 60)
    last = max(
        (t for i in ids for e, t, _ in rig.watch.by_id.get((DEVICE, i), []) if e in TERMINAL),
        default=t0,
    )
    took = last - t0
    started = sum(1 for i in ids if "started" in rig.events(i))
    full = sum(1 for i in ids if rig.ended(i) == "dropped")
    held = ended_all(rig, ids) == len(ids) and took <= STOP_WITHIN_S and started <= 2
    return Outcome(
        "",
        held,
        f"stop behind {len(ids)} queued QoS 1 says: all ended {took * 1000:.0f} ms after it "
        f"(goal {STOP_WITHIN_S:g} s), {started} started, {full} dropped (queue full or stopped)",
        flood=True,
    )


@case("question_mark_chunks")
async def question_mark_chunks(rig: Rig, sizes: Sizes) -> Outcome:
    h = await rig.start()
    chunk = "?" * 4999 + "y"

    def rejected() -> int:
        return sum(p["event"] == "rejected" and p.get("topic") == STREAM for p in rig.payloads())

    await publish_lines(rig.broker, STREAM, [json.dumps({"id": "qm", "text": chunk})] * 12)
    with contextlib.suppress(trio.TooSlowError):
        await rig.watch.wait_for(lambda: "started" in rig.events("qm") and rejected() >= 1, 60)
    with trio.fail_after(10):  # the 7 chunks after the cap: logged, then nothing to wait for
        while h.logs().count("a chunk after the final one was ignored") < 7:
            await trio.sleep(0.05)
    await publish(rig.broker, STOP, "")
    with contextlib.suppress(trio.TooSlowError):
        await rig.watch.wait_for(lambda: rig.ended("qm") is not None, 20)
    stall = rig.stall_ms()
    dropped_link = "MQTT: lost" in h.logs() or "MQTT: connection lost" in h.logs()
    held = stall is not None and stall <= STALL_CAP_MS and rejected() == 1 and not dropped_link
    return Outcome(
        "",
        held,
        f"12 stream chunks of '?'*4999+'y': loop blocked at most {stall or 0:.1f} ms (goal "
        f"{STALL_CAP_MS:g}); the 5th crossed the 20,000-character cap: {rejected()} rejected, "
        f"the 7 after it ignored, 20,000 spoken; MQTT link {'dropped' if dropped_link else 'kept'}",
    )


@case("server_stalls_mid_say")
async def server_stalls_mid_say(rig: Rig, sizes: Sizes) -> Outcome:
    rig.emulator.faults.hang_after_chunks = 1
    await rig.start()
    t0 = trio.current_time()
    events = await rig.say("h1", "One chunk, and then nothing at all for ages.", timeout=60)
    took = trio.current_time() - t0
    rig.emulator.faults.hang_after_chunks = None
    after = await rig.say("h2", "The next say plays.")
    held = events[-1] in ("failed", "finished") and after[-1] == "finished" and took < 10
    return Outcome(
        "",
        held,
        f"server silent after one chunk (pings answered): say {events[-1]} after "
        f"{took:.1f} s (bound 5 s of silence), the next {after[-1]}",
    )


@case("at_far_ahead")
async def at_far_ahead(rig: Rig, sizes: Sizes) -> Outcome:
    await rig.start()
    hour = int((time.time() + 3600) * 1000)  # a clock an hour behind, or a mistake
    t0 = trio.current_time()
    a = await rig.say("far", "An hour from now.", at=hour)
    took = trio.current_time() - t0
    b = await rig.say("y9999", "At the end of time.", at=253_402_300_799_000)
    c = await rig.say("soon", "Right after this.")
    reasons = [
        p.get("reason")
        for i in ("far", "y9999")
        for e, _, p in rig.watch.by_id[(DEVICE, i)]
        if e == "dropped"
    ]
    held = a[-1] == b[-1] == "dropped" and reasons == ["ttl", "ttl"] and c[-1] == "finished"
    return Outcome(
        "",
        held,
        f"at +1 h and at year 9999 (ttl 60 s): dropped, reason {'/'.join(map(str, reasons))}, "
        f"in {took * 1000:.0f} ms; the next say {c[-1]}",
    )


@case("sigterm_in_every_state")
async def sigterm_in_every_state(rig: Rig, sizes: Sizes) -> Outcome:
    times: dict[str, float] = {}
    codes: dict[str, int | None] = {}
    # Before READY: the broker's port is closed.
    h = rig.herald()
    closed = rig.broker.port + 1 if rig.broker.port < 65000 else 1
    h.config.write_text(
        h.config.read_text().replace(f"port = {rig.broker.port}", f"port = {closed}")
    )
    await rig.start(h, online=False)
    with trio.fail_after(30):
        while "MQTT: " not in h.logs():
            await trio.sleep(0.02)
    for state in ("before READY", "idle", "mid-say"):
        if state != "before READY":
            h = await rig.start(rig.herald())
        if state == "mid-say":
            rig.emulator.faults.chunk_delay = 0.1
            await publish(
                rig.broker, SAY, {"id": "t", "text": "A long say that is cut by SIGTERM. " * 4}
            )
            await rig.watch.wait_for(lambda: "started" in rig.events("t"), 30)
        t0 = time.monotonic()
        h.signal(signal.SIGTERM)
        try:
            codes[state] = await h.wait(10)
        except trio.TooSlowError:
            codes[state] = None
            h.kill()
        times[state] = time.monotonic() - t0
    held = all(c == 0 for c in codes.values()) and max(times.values()) <= SIGTERM_WITHIN_S
    figure = ", ".join(f"{s} {t * 1000:.0f} ms (exit {codes[s]})" for s, t in times.items())
    return Outcome("", held, f"SIGTERM: {figure} (goal {SIGTERM_WITHIN_S:g} s)")


@case("qos0_flood_of_long_says", broker_settings=("max_queued_messages 0", "max_queued_bytes 0"))
async def qos0_flood_of_long_says(rig: Rig, sizes: Sizes) -> Outcome:
    h = await rig.start()
    text = ("Lorem ipsum dolor sit amet, consectetur adipiscing elit. " * 100)[:5000]
    ids = [f"f{i}" for i in range(sizes.qos0_flood)]
    await publish_lines(rig.broker, SAY, [json.dumps({"id": i, "text": text}) for i in ids], qos=0)

    n_handled = await until_logged(h, "event=queued", len(ids), 120)
    with contextlib.suppress(trio.TooSlowError):  # the events still on their way
        await rig.watch.wait_for(lambda: answered(rig, ids) == len(ids), 10)
    heard = answered(rig, ids)
    full = h.logs().count("reason=queue_full")
    unpublished = h.logs().count("outgoing queue full")
    await publish(rig.broker, STOP, "")
    held = n_handled == len(ids) and mb(rig.peak_rss) < RSS_CAP_MB
    return Outcome(
        "",
        held,
        f"{len(ids)} QoS 0 says of 5,000 characters: {n_handled} handled ({full} of them "
        f"dropped queue_full); events of {heard} published, {unpublished} events past "
        "the outgoing queue's bound not published (logged; README, Limits)",
        flood=True,
    )


@case("runaway_audio")
async def runaway_audio(rig: Rig, sizes: Sizes) -> Outcome:
    rig.emulator.faults.flood_audio_bytes = sizes.audio_flood_bytes
    await rig.start()
    t0 = trio.current_time()
    events = await rig.say("r1", "A runaway generation.", timeout=180)
    took = trio.current_time() - t0
    held = events[-1] in ("failed", "finished") and rig.alive() and mb(rig.peak_rss) < RSS_CAP_MB
    return Outcome(
        "",
        held,
        f"{sizes.audio_flood_bytes / 1e6:.0f} MB of audio for one context, sent at once: "
        f"{events[-1]} after {took:.1f} s",
        flood=True,
    )


@case("cache_header_claims_1_gib")
async def cache_header_claims_1_gib(rig: Rig, sizes: Sizes) -> Outcome:
    from herald.cache import ClipCache, ClipMeta, clip_key
    from herald.voice import VoiceParams

    params = VoiceParams(model="sonic-3", voice="v", language="en", sample_rate=24000)
    peaks, refused = [], 0
    # 1 GiB: past the 64 MiB a clip may hold; 60 MiB: allowed, but not what the file has.
    for n, claim in enumerate((1 << 30, 60 << 20)):
        text = f"Big claims, number {n}."
        cache = ClipCache(rig.tmp / "cache", 10 << 20)
        key = clip_key(text, params, "cartesia")
        with cache.begin(key, ClipMeta.from_params(text, params, "cartesia")) as w:
            w.append(b"\1\0" * 4000)
            assert w.commit()
        path = rig.tmp / "cache" / f"{key}.clip"
        blob = bytearray(path.read_bytes())
        (meta_len,) = struct.unpack_from("<I", blob, 32)
        struct.pack_into("<Q", blob, 36, claim)  # the payload length
        crc = zlib.crc32(bytes(blob[80 : 80 + meta_len]), zlib.crc32(bytes(blob[:76])))
        struct.pack_into("<I", blob, 76, crc)  # a header that checks out
        path.write_bytes(bytes(blob))
        cache = ClipCache(rig.tmp / "cache", 10 << 20)  # nothing in memory
        tracemalloc.start()
        try:
            clip = cache.get(key)
            peaks.append(tracemalloc.get_traced_memory()[1])
        finally:
            tracemalloc.stop()
        refused += clip is None and not path.exists()
    held = refused == 2 and max(peaks) < 1 << 20
    return Outcome(
        "",
        held,
        f"8 KB clips whose checked headers claim 1 GiB / 60 MiB: {refused} of 2 refused and "
        f"removed, at most {max(peaks) / 1024:.0f} KiB allocated reading them",
    )


@case("cache_symlink")
async def cache_symlink(rig: Rig, sizes: Sizes) -> Outcome:
    from herald.cache import ClipCache, ClipMeta, clip_key
    from herald.voice import VoiceParams

    params = VoiceParams(model="sonic-3", voice="v", language="en", sample_rate=24000)
    key = clip_key("Linked.", params, "cartesia")
    elsewhere = ClipCache(rig.tmp / "elsewhere", 10 << 20)
    with elsewhere.begin(key, ClipMeta.from_params("Linked.", params, "cartesia")) as w:
        w.append(b"\1\0" * 4000)
        assert w.commit()
    target = rig.tmp / "elsewhere" / f"{key}.clip"
    before = target.read_bytes()
    (rig.tmp / "cache").mkdir()
    (rig.tmp / "cache" / f"{key}.clip").symlink_to(target)
    clip = ClipCache(rig.tmp / "cache", 10 << 20).get(key)
    held = clip is None and target.read_bytes() == before
    return Outcome(
        "",
        held,
        f"a valid clip reached through a symlink: {'served' if clip else 'not served'}, "
        "its target intact",
    )


@case("reused_id")
async def reused_id(rig: Rig, sizes: Sizes) -> Outcome:
    await rig.start()
    door = {"id": "door-1", "text": "Someone is at the front door."}
    await publish(rig.broker, SAY, door)
    await rig.watch.wait_for(lambda: rig.events("door-1").count("finished") == 1, 30)
    await publish(rig.broker, SAY, door)
    with contextlib.suppress(trio.TooSlowError):
        await rig.watch.wait_for(lambda: rig.events("door-1").count("finished") == 2, 30)
    spoken = rig.events("door-1").count("started")
    return Outcome("", spoken == 2, f"the README's door-1 twice: spoken {spoken} times")


@case("key_in_server_error")
async def key_in_server_error(rig: Rig, sizes: Sizes) -> Outcome:
    rig.emulator.faults.echo_api_key = True
    rig.emulator.faults.error_after_chunks = (1, 500, "internal failure")
    h = await rig.start()
    events = await rig.say("k1", "This one fails with the key in the text.")
    everything = json.dumps(rig.payloads()) + json.dumps(rig.watch.last)
    echoed = any("request made with API key" in str(p.get("error")) for p in rig.payloads())
    leaks = everything.count(KEY) + h.logs().count(KEY)
    held = echoed and leaks == 0
    return Outcome(
        "",
        held,
        f"a server error quoting the API key: {events[-1]}, key seen {leaks} times in "
        "events, state and log",
    )


@case(
    "denied_subscription",
    users={"observer": "observer-pw", "herald": MQTT_PASSWORD},
    acl=[
        "user observer",
        "topic readwrite #",
        "user herald",
        "topic readwrite herald/kitchen/#",
        "topic write herald/all/#",
    ],
)
async def denied_subscription(rig: Rig, sizes: Sizes) -> Outcome:
    env = {"HERALD_MQTT_PASSWORD": MQTT_PASSWORD}
    h = rig.herald(env=env)
    h.config.write_text(
        config_text(rig.tmp, rig.broker, rig.emulator, mqtt_extra='username = "herald"') + QUIET
    )
    await rig.start(h)
    t0 = trio.current_time()
    with contextlib.suppress(trio.TooSlowError):
        with trio.fail_after(20):
            while "herald hears nothing on herald/all/stop" not in h.logs():
                await trio.sleep(0.05)
    took = trio.current_time() - t0
    logged = sum("herald hears nothing on" in line for line in h.logs().splitlines())
    with contextlib.suppress(trio.TooSlowError):
        await rig.watch.wait_for(lambda: bool(rig.watch.state(DEVICE).get("denied_topics")), 10)
    denied = rig.watch.state(DEVICE).get("denied_topics", [])
    doctor = await herald_cli("doctor", "--config", str(h.config), env=env)
    topics = [ln for ln in doctor.stdout.decode().splitlines() if " topics " in ln]
    says_fix = (
        bool(topics) and topics[0].startswith("FAIL") and "topic readwrite herald/#" in topics[0]
    )
    held = logged == 2 and denied == ["herald/all/say", "herald/all/stop"] and says_fix
    return Outcome(
        "",
        held,
        f"ACL denies herald/all/#: {logged} ERROR lines within {took:.1f} s, state "
        f"denied_topics {denied}, doctor {'names the ACL fix' if says_fix else 'silent'}",
    )


@case("qos1_flood", broker_settings=INSTALLED_QUEUE)
async def qos1_flood(rig: Rig, sizes: Sizes) -> Outcome:
    rig.emulator.faults.chunk_delay = 0.05  # the first say plays on while the rest arrive
    await rig.start()
    ids = [f"u{i}" for i in range(sizes.qos1_flood)]
    text = "One of very many."
    await publish_lines(rig.broker, SAY, [json.dumps({"id": i, "text": text}) for i in ids])
    with contextlib.suppress(trio.TooSlowError):
        await rig.watch.wait_for(lambda: ended_all(rig, ids) >= len(ids) - 101, 120)
    await publish(rig.broker, STOP, "")
    with contextlib.suppress(trio.TooSlowError):
        await rig.watch.wait_for(lambda: ended_all(rig, ids) == len(ids), 30)
    n = ended_all(rig, ids)
    events = sum(len(rig.events(i)) for i in ids)
    return Outcome(
        "",
        n == len(ids),
        f"{len(ids)} QoS 1 says at once (a stop after them): {n} answered to the end, "
        f"{events} events published",
        flood=True,
    )


@case("qos0_burst")
async def qos0_burst(rig: Rig, sizes: Sizes) -> Outcome:
    h = await rig.start()
    await rig.mute()
    ids = [f"b{i}" for i in range(sizes.qos0_burst)]
    await publish_lines(
        rig.broker, SAY, [json.dumps({"id": i, "text": "Shh."}) for i in ids], qos=0
    )

    n = await until_logged(h, "reason=muted", len(ids), 60)
    with contextlib.suppress(trio.TooSlowError):  # the events still on their way
        await rig.watch.wait_for(lambda: answered(rig, ids) == len(ids), 10)
    heard = answered(rig, ids)
    return Outcome(
        "",
        n == len(ids),
        f"a burst of {len(ids)} muted QoS 0 says: {n} handled (none dropped on the way in); "
        f"the events of {heard} published"
        + (f", {n - heard} past the outgoing queue (logged)" if heard < n else ""),
        flood=True,
    )


@case("key_file_echo")
async def key_file_echo(rig: Rig, sizes: Sizes) -> Outcome:
    secret = "sk_car_pasted_into_the_key_file"
    key_file = rig.tmp / "key"
    key_file.write_text(secret + "\n")
    config = rig.tmp / "bad.toml"
    config.write_text(f'[cartesia]\napi_key_file = "{key_file}"\nmodel = 3\n')
    result = await herald_cli("config", "check", "--config", str(config))
    out = (result.stdout + result.stderr).decode()
    held = result.returncode != 0 and secret not in out
    return Outcome(
        "",
        held,
        f"config check of a bad config with a key file: exit {result.returncode}, key "
        f"printed {out.count(secret)} times",
    )


@case("fifo_state_file")
async def fifo_state_file(rig: Rig, sizes: Sizes) -> Outcome:
    os.mkfifo(rig.tmp / f"state-{DEVICE}.json")
    t0 = trio.current_time()
    h = await rig.start()
    took = trio.current_time() - t0
    refused = "not a regular file" in h.logs()
    return Outcome(
        "", refused and rig.alive(), f"a FIFO as the state file: refused, online in {took:.2f} s"
    )


@case("done_before_audio")
async def done_before_audio(rig: Rig, sizes: Sizes) -> Outcome:
    rig.emulator.faults.done_before_audio = True
    await rig.start()
    events = await rig.say("n1", "Done before a single sample.")
    held = not (events[-1] == "finished" and "started" not in events)
    return Outcome("", held, f"done before any audio: {'/'.join(events)}")


@case("nothing_to_speak")
async def nothing_to_speak(rig: Rig, sizes: Sizes) -> Outcome:
    await rig.start()
    texts = ["...", "\u200b\u200b", "\ufeff\u200b", " \u2060 "]
    for text in texts:
        await publish(rig.broker, SAY, text)
    rejected = lambda: [p for p in rig.payloads() if p["event"] == "rejected"]  # noqa: E731
    with contextlib.suppress(trio.TooSlowError):
        await rig.watch.wait_for(lambda: len(rejected()) == len(texts), 20)
    chimed = sum(1 for p in rig.payloads() if p["event"] in ("queued", "failed"))
    n = sum("nothing to speak" in str(p.get("error")) for p in rejected())
    return Outcome(
        "",
        n == len(texts) and chimed == 0,
        f"{len(texts)} texts with nothing to speak: {n} rejected, {chimed} queued",
    )


@case("local_paths")
async def local_paths(rig: Rig, sizes: Sizes) -> Outcome:
    clips = rig.tmp / "clips"
    clips.mkdir()
    (clips / "broken.wav").write_bytes(b"RIFF\x10\x00\x00\x00WAVEjunk" + os.urandom(64))
    h = rig.herald(extra=QUIET + f'\n[clips]\ndir = "{clips}"\n')
    await rig.start(h)
    for id, clip in (("lp1", "broken"), ("lp2", "missing")):
        await publish(rig.broker, SAY, {"id": id, "clip": clip})
    with contextlib.suppress(trio.TooSlowError):
        await rig.watch.wait_for(lambda: all(rig.ended(i) for i in ("lp1", "lp2")), 20)
    errors = [str(p.get("error")) for p in rig.payloads() if p.get("error")]
    with_path = [e for e in errors if str(clips) in e]
    in_log = str(clips) in h.logs()  # the log keeps the whole path, for the owner
    held = len(errors) == 2 and not with_path and in_log
    return Outcome(
        "",
        held,
        f"a clip that is not a WAV, one that does not exist: {len(errors)} errors, "
        f"{len(with_path)} with a local path (e.g. {errors[-1] if errors else None!r}); "
        f"the log has it",
    )


@case("broker_queue_for_a_week")
async def broker_queue_for_a_week(rig: Rig, sizes: Sizes) -> Outcome:
    install = (Path(__file__).resolve().parent.parent / "install.sh").read_text()
    limit = next(
        int(ln.split()[1]) for ln in install.splitlines() if ln.startswith("max_queued_messages ")
    )
    per_hour = limit / (7 * 24)
    return Outcome(
        "",
        per_hour >= 60,
        f"install.sh's mosquitto queue: {limit:,} messages, a week at {per_hour:.1f} "
        "commands an hour (mosquitto's default 1,000)",
    )


# --- running -------------------------------------------------------------------------


async def run_all(names: list[str], sizes: Sizes, keep: Path | None) -> list[Outcome]:
    outcomes = []
    with contextlib.ExitStack() as stack:
        if keep is None:
            tmp = stack.enter_context(tempfile.TemporaryDirectory(prefix="hostile-"))
        else:
            keep.mkdir(parents=True, exist_ok=True)
            tmp = str(keep)
        for name, fn, options in CASES:
            if name not in names:
                continue
            t0 = time.monotonic()
            try:
                async with open_rig(Path(tmp) / name, **options) as rig:
                    outcome = await fn(rig, sizes)
                    outcome.case = name
                    outcome.stall_ms = rig.stall_ms()
                    outcome.rss_mb = mb(rig.peak_rss) if rig.peak_rss else None
                    crashed = [
                        h.process.returncode
                        for h in rig.heralds
                        if h.process is not None and h.process.returncode not in (None, 0, -9)
                    ]
                    if crashed:
                        outcome.held = False
                        outcome.figure += f"; herald exited {crashed}"
                    if outcome.flood and (outcome.rss_mb or 0) >= RSS_CAP_MB:
                        outcome.held = False
            except Exception as exc:  # a case that could not run did not hold
                outcome = Outcome(
                    name, False, f"the case failed to run: {type(exc).__name__}: {exc}"[:300]
                )
            outcomes.append(outcome)
            print(line(outcome, time.monotonic() - t0), flush=True)
    return outcomes


def measured(o: Outcome) -> str:
    """The figures every case has: herald's peak RSS and its longest loop block."""
    extra = []
    if o.rss_mb is not None:
        extra.append(f"RSS peak {o.rss_mb:.1f} MB" + (f" (cap {RSS_CAP_MB:g})" if o.flood else ""))
    if o.stall_ms is not None:
        extra.append(f"loop blocked <= {o.stall_ms:.0f} ms")
    return "; ".join(extra)


def line(o: Outcome, seconds: float) -> str:
    extra = measured(o)
    tail = f" [{extra}; {seconds:.0f} s]" if extra else f" [{seconds:.0f} s]"
    return f"{'held' if o.held else 'NOT HELD':>8}  {o.case}: {o.figure}{tail}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller floods")
    parser.add_argument("--only", help="comma-separated case names")
    parser.add_argument("--save", type=Path, help="write the figures here (JSON)")
    parser.add_argument("--keep", type=Path, help="work (and leave logs) in this directory")
    args = parser.parse_args()
    known = [name for name, _, _ in CASES]
    names = args.only.split(",") if args.only else known
    unknown = sorted(set(names) - set(known))
    if unknown:
        parser.error(f"unknown cases {unknown}; known: {', '.join(known)}")
    sizes = QUICK if args.quick else Sizes()
    results = Results("hostile", quick=args.quick)
    results.figures["machine"] = machine()
    results.figures["sizes"] = asdict(sizes)
    outcomes = trio.run(run_all, names, sizes, args.keep)
    results.figures["cases"] = [asdict(o) for o in outcomes]
    for o in outcomes:
        extra = measured(o)
        results.goal(o.case, o.figure + (f" [{extra}]" if extra else ""), "held", o.held)
    held = sum(o.held for o in outcomes)
    floods = [o.rss_mb for o in outcomes if o.flood and o.rss_mb is not None]
    stalls = [o.stall_ms for o in outcomes if o.stall_ms is not None]
    print(
        f"\n{held} of {len(outcomes)} held; RSS peak under the floods "
        f"{max(floods, default=0):.1f} MB "
        f"(cap {RSS_CAP_MB:g}); longest loop block in any case {max(stalls, default=0):.0f} ms"
    )
    results.save(args.save)
    sys.exit(0 if held == len(outcomes) else 1)


if __name__ == "__main__":
    main()
