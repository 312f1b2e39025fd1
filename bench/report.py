"""Write docs/benchmarks.md and its plots from one run of every bench.

Reads the JSON each bench saved (``--save``) and the output it printed
(scripts/bench.sh puts both in build/bench/), and writes the report: every figure
beside its goal, how it was measured and how to reproduce it, the machine and the
date, and PNG plots made with matplotlib. Everything in it comes from that one run.

    python bench/report.py [--results build/bench] [--docs docs]
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import re
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only: no display on a Pi or in CI
import matplotlib.pyplot as plt

# In the order of the report; the text says what each measures and how.
BENCHES: list[tuple[str, str, str]] = [
    (
        "ttfa",
        "Time to first audio: handed to ALSA and heard at the DAC",
        "The same texts, alternated in one run, said by the real `herald run` daemon (its "
        'one WebSocket opened at start; says over MQTT with `"cache": false`, so every one '
        "goes to the cloud) and by the pattern of Cartesia's quickstart (the official "
        "`cartesia` SDK opening a WebSocket per request, chunks written to pyalsaaudio: "
        "`bench/quickstart_client.py`). Both talk TLS to the Cartesia emulator through a "
        "local TCP proxy (`tests/support/faultproxy.py`) that adds 40 ms of round-trip time, "
        "and one round trip more before a new connection's first bytes (the TCP handshake "
        "the kernel here completes at once). Time zero is the bench writing the text to the "
        "process that carries it (a `mosquitto_pub -l` line for herald, a stdin line for the "
        "quickstart). **Handed to ALSA** is read from the `file:` sink's output the same way "
        "for both: alsa-lib's file plugin writes a frame to its file once one more ring has "
        "been written after it, so the `write()` that first takes the file past frame "
        "`k - ring` is the one that handed frame `k` over (timed with inotify). That plugin "
        "has no clock, so it cannot say when a listener hears it. **At the DAC** is that: "
        "the same daemon and config on a simulated card whose hardware pointer moves with the "
        "clock, in real time, recording when every sample reaches its DAC, and rewinding as a "
        "kernel driver does (`bench/sim_daemon.py`): warm (open on silence between says), cold "
        "with the default lead-in and without, on a card that cannot rewind (as ALSA plugins "
        "without `snd_pcm_rewind`), and with the fill herald had before issue 17 on such a "
        "card; for the quickstart its hand-off (its PCM "
        "is drained after each say, so its first write starts a DAC at once). Also herald's "
        "first sound at the DAC after its first audio was ready (what the device adds), and "
        "MQTT stops of long says on the warm card: when the fade reached the DAC after the "
        "player acted on the stop. With `--dac-capture` on a machine with snd-aloop (the "
        "system test's VM) the first non-zero sample is read from the loopback's capture side "
        "instead.",
    ),
    (
        "latency",
        "Latency of every path inside herald",
        "Says through the real daemon, mosquitto, the emulator (50 ms time to first byte) "
        "and the `file:` plugin; `latency_ms` (arrival of the say to its first sample handed "
        "to ALSA) minus herald's own `ttfb_ms` is what herald adds. Then the same texts again "
        "(cache hits), then the cloud taken down (the offline fallback's chime starts at once "
        "while Piper synthesizes).",
    ),
    (
        "footprint",
        "Memory, CPU and start time of the daemon",
        "The real daemon with the default config (Piper not loaded: checked in "
        "/proc/PID/maps) against mosquitto, the emulator and the `file:` plugin. Start: from "
        "just before the process is spawned to the `READY=1` datagram on a NOTIFY_SOCKET the "
        "bench listens on (after one unreported start that writes the bytecode, as an "
        "installed herald has it). Idle: no says; the device is kept open on silence for 30 s "
        "after a start or a say, then closed, which is where an appliance spends its days (the "
        "goal is judged there). Streaming: long cloud says back to back. CPU share = user + "
        "system CPU seconds of all threads (schedstat) per wall second, of one core; RSS is "
        "VmRSS, PSS beside it.",
    ),
    (
        "faults",
        "Fault injection: cuts, a killed broker, dead sockets",
        'Real daemons (`offline.local_voice = "none"`, so an utterance either resumes on the '
        "reopened socket or fails, and Piper's load does not blur the timings), a real "
        "mosquitto, the emulator over TLS, and `tests/support/faultproxy.py` between herald and "
        "the emulator (or the broker). Cuts are RSTs at points spread over utterances of a 0.7 s "
        "text: while idle, as the request goes up, and at 0-95 % of the reply's bytes; each "
        "point waits until the socket lived 10.5 s so herald's backoff starts again from 0.5 s "
        "(the points are spread over 10 daemons at once). The broker is killed with SIGKILL "
        "while herald holds unacknowledged QoS 1 says and restarted (persistence saved on every "
        "change); every say that got a PUBACK must be in the captured audio, sample for sample. "
        "A stall holds every byte both ways (no RST, no FIN); a half-close sends herald a FIN. "
        "The three campaigns run at once, each with its own broker and emulator.",
    ),
    (
        "hostile",
        "Hostile input and heavy load (issue 14)",
        "Every way issue 14 found to crash, hang, deafen or bloat herald, repeated against the "
        'real daemon (`offline.local_voice = "none"`), a real mosquitto per case and the '
        "emulator's hostile-server switches: deep frames, poison says, floods of QoS 1 and QoS 0 "
        "commands, streams of many chunks, a stop behind 500 queued says, a server that stalls, "
        "`at` far ahead, SIGTERM in every state, runaway audio, hostile cache and state files, "
        "secrets echoed by the server, a denied subscription. herald runs with a 40 ms "
        "watchdog, so it pings every 20 ms from a trio task: the longest gap between two pings "
        "(kernel timestamps) less 20 ms is the longest its loop was blocked. RSS is sampled "
        "every 20 ms; the floods must stay under 60 MB.",
    ),
    (
        "soak",
        "Soak: thousands of utterances",
        "One daemon, the default config: after a warm-up that caches a pool of short texts, "
        'half the says are cache hits and half go to the cloud (`"cache": false`); one in '
        'ten plays to its end, the others are cut off by the next say (`"interrupt": true`) '
        "once their first sample reached ALSA, which also cancels their cloud context. "
        "RSS, open fds and threads are read from /proc every 100 utterances; growth is counted "
        "from the end of the first 10 %.",
    ),
    (
        "jitter",
        "Jitter buffer against seeded lateness traces",
        "Herald's real Player on a simulated card, on trio's MockClock, against traces of "
        "chunk arrivals (calm LAN, Wi-Fi power save, TCP retransmits, a slow server start, "
        "stalls beyond the 800 ms clamp, and a calm one where herald's own loop stalls 100 ms "
        "in every say), beside a clairvoyant player, a fixed 80 ms prebuffer and no buffer; "
        "herald on a card that rewinds, on one that cannot, and with the fill before issue 17.",
    ),
    (
        "sink_cpu",
        "CPU of the audio path",
        "Herald's Player on pyalsaaudio into the `file:` plugin (to /dev/null), in real time; "
        "CPU seconds per second of audio.",
    ),
    (
        "cache_crash",
        "Clip cache under SIGKILL",
        "A clip writer killed with SIGKILL at random moments, the cache verified after each "
        "kill as the daemon would open it after a crash.",
    ),
    (
        "piper_rtf",
        "The local voice (Piper)",
        "Load time, time to first audio and real-time factor of the offline voice "
        "(en_US-joe-medium) through herald.",
    ),
]


PROGRESS = re.compile(r"^\s+\d+/\d+: |^  cut +\d+/|^  broker killed")
SOAK_LINE = re.compile(r"^\s+(\d+) utterances,")


def load(results: Path) -> dict[str, dict[str, Any]]:
    out = {}
    for name, _, _ in BENCHES:
        path = results / f"{name}.json"
        if path.exists():
            out[name] = json.loads(path.read_text())
    return out


def printed(results: Path, name: str) -> str:
    path = results / f"{name}.txt"
    if not path.exists():
        return ""
    # Progress lines (one per trial) make the logs long; tables and verdicts stay, and
    # of the soak's RSS readings every 1000th (the plot has them all).
    kept = []
    for line in path.read_text(errors="replace").splitlines():
        if PROGRESS.match(line):
            continue
        soak = SOAK_LINE.match(line)
        if soak and int(soak.group(1)) % 1000:
            continue
        kept.append(line)
    return "\n".join(kept).strip()


def reproduce(name: str, data: dict[str, Any]) -> str:
    args = list(data.get("argv", []))
    if "--save" in args:
        i = args.index("--save")
        del args[i : i + 2]
    return " ".join([".venv/bin/python", f"bench/{name}.py", *args])


def plot_latency(data: dict[str, dict[str, Any]], docs: Path) -> str | None:
    ttfa, latency = data.get("ttfa"), data.get("latency")
    if not ttfa and not latency:
        return None
    panels = [p for p in (ttfa, latency) if p]
    fig, axes = plt.subplots(1, len(panels), figsize=(6 * len(panels), 4), squeeze=False)
    col = 0
    if ttfa:
        ax = axes[0][col]
        col += 1
        h, q = ttfa["series"]["herald_ms"], ttfa["series"]["quickstart_ms"]
        top = max(max(h), max(q))
        bins = [i * top / 40 for i in range(41)]
        ax.hist(h, bins=bins, label="herald (persistent socket)", color="tab:green", alpha=0.8)
        ax.hist(q, bins=bins, label="quickstart (socket per say)", color="tab:gray", alpha=0.8)
        ax.set_xlabel("time to first sample handed to ALSA (ms)")
        ax.set_ylabel("says")
        rtt = ttfa["figures"]["rtt_ms"]
        ax.set_title(f"Time to first audio, TLS, {rtt:g} ms RTT")
        ax.legend()
    if latency:
        ax = axes[0][col]
        s = latency["series"]
        top = max(max(s["cloud_added"]), max(s["cache"]))
        bins = [i * top / 40 for i in range(41)]
        ax.hist(s["cloud_added"], bins=bins, alpha=0.8, label="cloud: added by herald")
        ax.hist(s["cache"], bins=bins, alpha=0.8, label="cache hit: whole latency")
        ax.set_xlabel("ms (say arrival to first sample handed to ALSA)")
        ax.set_ylabel("says")
        ax.set_title("herald's own latency (bench/latency.py)")
        ax.legend()
    fig.tight_layout()
    name = "benchmarks-latency.png"
    fig.savefig(docs / name, dpi=110)
    plt.close(fig)
    return name


def plot_jitter(data: dict[str, dict[str, Any]], docs: Path) -> str | None:
    jitter = data.get("jitter")
    lines = jitter["series"].get("timelines") if jitter else None
    if not lines:
        return None
    fig, axes = plt.subplots(1, len(lines), figsize=(7 * len(lines), 4.5), squeeze=False)
    for ax, t in zip(axes[0], lines, strict=True):
        rx, ry = zip(*t["received"], strict=True)
        px, py = zip(*t["played"], strict=True)
        ax.plot(rx, ry, drawstyle="steps-post", label="audio received (chunks)", color="tab:blue")
        ax.plot(px, py, label="audio reaching the DAC", color="tab:green")

        def received_at(x: float, t: dict[str, Any] = t) -> float:
            return max((y for rx_, y in t["received"] if rx_ <= x), default=0.0)

        ax.fill_between(px, py, [received_at(x) for x in px], color="tab:green", alpha=0.15)
        if t["start_delay_s"] is not None:
            ax.axvline(t["start_delay_s"], color="tab:green", linestyle=":", label="start")
        ax.set_xlabel("seconds since the first chunk")
        ax.set_ylabel("seconds of audio")
        ax.set_title(
            f"{t['network']}: the utterance closest to running dry\n"
            f"start after {t['start_delay_s'] * 1000:.0f} ms"
            f" (clairvoyant {t['clairvoyant_s'] * 1000:.0f} ms);"
            f" least buffered {t['margin_s'] * 1000:.0f} ms"
        )
        ax.legend(loc="lower right")
    fig.suptitle("Jitter buffer (bench/jitter.py): shaded, the audio buffered")
    fig.tight_layout()
    name = "benchmarks-jitter.png"
    fig.savefig(docs / name, dpi=110)
    plt.close(fig)
    return name


def plot_soak(data: dict[str, dict[str, Any]], docs: Path) -> str | None:
    soak = data.get("soak")
    if not soak:
        return None
    samples = soak["series"]["samples"]
    fig, ax = plt.subplots(figsize=(9, 3.5))
    ax.plot([s["utterances"] for s in samples], [s["rss_mb"] for s in samples], marker=".")
    ax.set_xlabel("utterances")
    ax.set_ylabel("RSS (MB)")
    ax.set_title("herald's RSS over the soak")
    ax2 = ax.twinx()
    ax2.plot(
        [s["utterances"] for s in samples],
        [s["fds"] for s in samples],
        color="tab:gray",
        linestyle="--",
        label="open fds",
    )
    ax2.set_ylabel("open fds")
    ax2.legend(loc="lower right")
    fig.tight_layout()
    name = "benchmarks-soak.png"
    fig.savefig(docs / name, dpi=110)
    plt.close(fig)
    return name


def verdict(ok: bool | None) -> str:
    return "—" if ok is None else ("✅ meets" if ok else "❌ misses")


def write(results: Path, docs: Path) -> Path:
    data = load(results)
    docs.mkdir(parents=True, exist_ok=True)
    plots = {
        "latency": plot_latency(data, docs),
        "jitter": plot_jitter(data, docs),
        "soak": plot_soak(data, docs),
    }
    meta = json.loads((results / "run.json").read_text()) if (results / "run.json").exists() else {}
    machine = next(d["figures"]["machine"] for d in data.values() if "machine" in d["figures"])
    quick = any(d.get("quick") for d in data.values())
    out: list[str] = [
        "# herald benchmarks",
        "",
        "Generated by `bash scripts/bench.sh`"
        + (" `--quick` (reduced counts: development figures, not release ones)" if quick else "")
        + f" on {meta.get('date', datetime.date.today().isoformat())}; every figure below is"
        " from that one run. Regenerate it with the same command; each bench also runs"
        " alone (its command is under its section).",
        "",
        "| machine | |",
        "| --- | --- |",
        f"| CPU | {machine['cpu']} ({machine['arch']}), {machine['cores']} cores |",
        f"| OS | {machine['os']}, Linux {machine['kernel']} |",
        f"| Python | {machine['python']} |",
        f"| load average at the start | {meta.get('load', machine.get('load', '?'))} |",
        f"| whole run | {meta.get('seconds', '?')} s |",
    ]
    if meta.get("note"):
        out.append(f"| note | {meta['note']} |")
    out += ["", "## Every goal", "", "| bench | what | figure | goal | |"]
    out += ["| --- | --- | --- | --- | --- |"]
    for name, _, _ in BENCHES:
        d = data.get(name)
        if d is None:
            out.append(f"| {name} | did not run or failed (see build/bench/{name}.txt) | | | ❌ |")
            continue
        for g in d["goals"]:
            if g["ok"] is None and not g["goal"]:
                continue
            row = [name, g["what"], g["figure"], g["goal"], verdict(g["ok"])]
            out.append("| " + " | ".join(row) + " |")
    for name, title, how in BENCHES:
        d = data.get(name)
        out += ["", f"## {title}", "", how, ""]
        if d is None:
            out += ["*Not in this run.*"]
            continue
        out += [f"Reproduce: `{reproduce(name, d)}` ({d['seconds']:.0f} s here).", ""]
        out += ["| what | figure | goal | |", "| --- | --- | --- | --- |"]
        for g in d["goals"]:
            out.append(f"| {g['what']} | {g['figure']} | {g['goal'] or ''} | {verdict(g['ok'])} |")
        for note in d.get("notes", []):
            out += ["", note]
        if name == "ttfa" and plots["latency"]:
            out += ["", f"![time to first audio and herald's latency]({plots['latency']})"]
        if name == "jitter" and plots["jitter"]:
            out += ["", f"![jitter-buffer timeline of one utterance]({plots['jitter']})"]
        if name == "soak" and plots["soak"]:
            out += ["", f"![RSS and open fds over the soak]({plots['soak']})"]
        text = printed(results, name)
        if text:
            out += ["", "<details><summary>its output</summary>", "", "```", text, "```"]
            out += ["</details>"]
    path = docs / "benchmarks.md"
    path.write_text("\n".join(out) + "\n")
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, default=Path("build/bench"))
    parser.add_argument("--docs", type=Path, default=Path("docs"))
    args = parser.parse_args()
    path = write(args.results, args.docs)
    print(f"wrote {path} ({os.path.getsize(path)} bytes) and its plots in {args.docs}/")


if __name__ == "__main__":
    main()
