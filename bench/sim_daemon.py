"""herald's daemon on a simulated sound card with a clock, for the benches.

``herald run`` plays into ALSA; ALSA's ``file:`` plugin, all a machine without a sound
card offers, has no clock (it takes everything at once), so it shows when herald hands
samples over but not when a listener would hear them. This runs the same daemon
(`herald.app.Daemon`, the same config) in its own process, with its player on
`herald.audio.sim_sink.SimDevice`: a card whose hardware pointer moves with the
clock, in real time, that records when every sample written reaches its DAC.

On SIGTERM (or SIGINT) it stops as herald does and writes ``--out``: ``OUT.raw``,
every sample written, and ``OUT.json``: when each write was made and when its first
frame reached the DAC (on time.monotonic(), shared with the bench), and each
utterance's `StreamMetrics` (times on the same clock), with, for an interrupted one,
when the player acted on the interrupt.

The card rewinds, as a kernel driver's does (what is queued is taken back for a first
word or a stop). ``--fill norewind`` is a card that cannot (as ALSA plugins without
``snd_pcm_rewind``): herald's fill alone decides what a listener waits behind.
``--fill today`` plays with the fill of herald before issue 17 (a 120 ms ring in 20 ms
periods, always full, the 50 ms tick) on such a card, for a side-by-side comparison in
one run.

    python bench/sim_daemon.py --config herald.toml --out /tmp/sim [--fill norewind|today]
"""

from __future__ import annotations

import argparse
import bisect
import json
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import trio

from benchlib import TODAYS_FILL  # (benchlib also puts tests/support/ and emulator/ on the path)
from herald import logs
from herald.audio import PlayerTuning
from herald.audio.sim_sink import SimDevice
from herald.audio.stream import Stream


async def run(config: Path, out: Path, fill: str) -> None:
    import herald.app
    from herald.config import load_config
    from herald.sdnotify import Notifier

    if fill == "today":
        # Today's fill, from the config's idle_close: every target is the whole ring.
        def today(*, idle_close: float, lead_in_ms: int) -> PlayerTuning:
            return PlayerTuning(idle_close_s=idle_close or None, **TODAYS_FILL)  # type: ignore[arg-type]

        herald.app.PlayerTuning.configured = staticmethod(today)  # type: ignore[method-assign]
    cfg = load_config(config)
    # A card that rewinds, as a kernel driver's does; "norewind" and "today" one that
    # cannot (like plugins without snd_pcm_rewind), where only the fill decides.
    device = SimDevice("sim", rewind=fill == "new")
    daemon = herald.app.Daemon(cfg, Notifier(), device=device)
    offset = time.monotonic() - trio.current_time()
    streams: list[tuple[Stream, dict[str, Any]]] = []
    player = daemon.player
    open_stream = player.open_stream

    def recording() -> Stream:
        stream = open_stream()
        notes: dict[str, Any] = {}
        interrupt = stream.interrupt

        def noted_interrupt() -> None:
            if "interrupt_at" not in notes and not stream.done:
                notes["interrupt_at"] = trio.current_time() + offset
            interrupt()

        stream.interrupt = noted_interrupt  # type: ignore[method-assign]
        streams.append((stream, notes))
        return stream

    player.open_stream = recording  # type: ignore[method-assign]
    # Every timed wake-up's lateness, as the player sees it (what its low fills follow).
    lateness: list[float] = []
    observe = player._late.observe

    def noted_observe(now: float, late: float) -> None:
        lateness.append(late)
        observe(now, late)

    player._late.observe = noted_observe  # type: ignore[method-assign]
    with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
        async with trio.open_nursery() as nursery:
            await nursery.start(daemon.run)
            async for _ in signals:
                break
            await daemon.shutdown()
            nursery.cancel_scope.cancel()

    def mono(t: float | None) -> float | None:
        return None if t is None else t + offset

    utterances = []
    for stream, notes in streams:
        m = stream.metrics
        if m is None:
            continue
        utterances.append(
            {
                "first_arrival": mono(m.first_arrival),
                "ready": mono(m.ready_time),
                "handed": mono(m.first_sample_time),
                "first_dac": mono(m.first_dac_time),
                "frames_played": m.frames_played,
                "silence_frames": round(m.silence_inserted * cfg.audio.sample_rate),
                "underruns": m.underruns,
                "xruns": m.xruns,
                "interrupted": m.interrupted,
                **notes,
            }
        )
    out.with_suffix(".raw").write_bytes(bytes(device.written))
    rate = device.current.geometry.rate if device.current else cfg.audio.sample_rate
    out.with_suffix(".json").write_text(
        json.dumps(
            {
                "rate": rate,
                "writes": [(t + offset, at, n) for t, at, n in device.write_log],
                "dac": [(at, n, t + offset) for at, n, t in device.dac_log],
                "xruns": device.xruns,
                "handle_starts": device.handle_starts,
                "wake_lateness": sorted(lateness),
                "utterances": utterances,
            }
        )
    )


# --- the bench's side ----------------------------------------------------------------


def sim_herald(
    tmp_path: Path,
    broker: Any,
    endpoint: Any,
    *,
    device: str,
    extra: str = "",
    fill: str = "new",
    log_level: str = "INFO",
) -> Any:
    """A `daemon_harness.Herald` whose process is this launcher: same config (its
    ``audio.device`` unused), same environment, same start and stop."""
    from daemon_harness import RUNNING, Herald

    class SimHerald(Herald):
        dump = tmp_path / f"{device}-sim"

        async def start(self) -> trio.Process:
            log = self.log.open("ab")
            self.process = await trio.lowlevel.open_process(
                [
                    sys.executable,
                    str(Path(__file__)),
                    "--config",
                    str(self.config),
                    "--out",
                    str(self.dump),
                    "--fill",
                    fill,
                    "--log-level",
                    self.log_level,
                ],
                env=self.env,
                stdout=log,
                stderr=log,
            )
            log.close()
            RUNNING.append(self)
            return self.process

    return SimHerald(tmp_path, broker, endpoint, device=device, extra=extra, log_level=log_level)


@dataclass
class Dump:
    """What a `sim_daemon` run wrote (times on time.monotonic())."""

    rate: int
    pcm: bytes
    writes: list[tuple[float, int, int]]
    dac: list[tuple[int, int, float]]
    xruns: int
    handle_starts: list[int]
    utterances: list[dict[str, Any]]
    wake_lateness: list[float]

    @classmethod
    def read(cls, out: Path) -> Dump:
        data = json.loads(out.with_suffix(".json").read_text())
        return cls(
            rate=data["rate"],
            pcm=out.with_suffix(".raw").read_bytes(),
            writes=[tuple(w) for w in data["writes"]],  # type: ignore[misc]
            dac=[tuple(d) for d in data["dac"]],  # type: ignore[misc]
            xruns=data["xruns"],
            handle_starts=data["handle_starts"],
            utterances=data["utterances"],
            wake_lateness=data["wake_lateness"],
        )

    def dac_time(self, frame: int) -> float:
        i = bisect.bisect_right(self.dac, frame, key=lambda d: d[0]) - 1
        at, n, when = self.dac[i]
        if not at <= frame < at + n:
            raise ValueError(f"frame {frame} was never written")
        return when + (frame - at) / self.rate

    def write_time(self, frame: int) -> float:
        i = bisect.bisect_right(self.writes, frame, key=lambda w: w[1]) - 1
        return self.writes[i][0]

    def first_sound_after(self, t0: float) -> tuple[int, float] | None:
        """The first non-zero frame written after monotonic time ``t0``, and when it
        reached the DAC."""
        i = bisect.bisect_left(self.writes, t0, key=lambda w: w[0])
        if i == len(self.writes):
            return None
        start = 2 * self.writes[i][1]
        rest = self.pcm[start:].lstrip(b"\x00")
        if not rest:
            return None
        frame = (len(self.pcm) - len(rest)) // 2
        return frame, self.dac_time(frame)

    def frame_at(self, t: float) -> int:
        """The frame the DAC played at monotonic time ``t`` (or the first after it)."""
        for at, n, when in reversed(self.dac):
            if when <= t:
                return at + min(n, round((t - when) * self.rate))
        return 0

    def opened_after(self, t0: float) -> bool:
        """Whether the device was opened (a cold start) after monotonic time ``t0``."""
        i = bisect.bisect_left(self.writes, t0, key=lambda w: w[0])
        return i < len(self.writes) and any(s >= self.writes[i][1] for s in self.handle_starts)

    def utterance_after(self, t0: float) -> dict[str, Any] | None:
        """The first utterance whose first chunk arrived after ``t0``."""
        for u in self.utterances:
            if u["first_arrival"] is not None and u["first_arrival"] >= t0:
                return u
        return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True, help="OUT.raw and OUT.json")
    parser.add_argument("--fill", choices=("new", "norewind", "today"), default="new")
    parser.add_argument("--log-level", default="INFO")
    args = parser.parse_args()
    logs.setup(args.log_level.upper())
    trio.run(run, args.config, args.out, args.fill)


if __name__ == "__main__":
    main()
