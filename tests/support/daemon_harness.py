"""End-to-end harness: the real `herald run` process with a real broker, the emulator
and ALSA's file plugin, observed from outside with mosquitto_sub and mosquitto_pub."""

from __future__ import annotations

import array
import contextlib
import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import trio

from cartesia_emulator import Emulator, synth_pcm
from mosquitto import Mosquitto

KEY = "sk_car_test"
PREFIX = "herald"


def config_text(
    tmp_path: Path,
    broker: Mosquitto,
    emulator: Emulator,
    *,
    device: str = "kitchen",
    extra: str = "",
    mqtt_extra: str = "",
) -> str:
    """A config for ``device``; ``mqtt_extra`` goes inside its [mqtt] table (TOML has no
    second [mqtt]), ``extra`` after everything."""
    raw = tmp_path / f"{device}.raw"
    return f"""
[device]
id = "{device}"
state_file = "{tmp_path / f"state-{device}.json"}"

[mqtt]
host = "127.0.0.1"
port = {broker.port}
discovery = false
{mqtt_extra}

[cartesia]
url = "{emulator.ws_url}"
api_url = "{emulator.http_url}"

[audio]
device = "file:FILE={raw},FORMAT=raw"

[cache]
dir = "{tmp_path / f"cache-{device}"}"

{extra}
"""


def nonzero(pcm: bytes) -> array.array[int]:
    """The samples with the silence (exact zeros) herald plays between utterances removed."""
    samples = array.array("h")
    samples.frombytes(pcm[: len(pcm) - len(pcm) % 2])
    return array.array("h", (s for s in samples if s != 0))


def expected(*texts: str, rate: int = 24000) -> array.array[int]:
    return nonzero(b"".join(synth_pcm(t, rate) for t in texts))


@dataclass
class Observer:
    """Every message under ``herald/#`` as seen by a real mosquitto_sub."""

    broker: Mosquitto
    messages: list[tuple[str, str]] = field(default_factory=list)
    # Per event topic: its payloads parsed so far, and how far ``messages`` was read for
    # it. A wait re-reads events on every message; parsing each payload once keeps a
    # long run's waits cheap (in a bench, the Cartesia emulator used to share this
    # process: every say's wait re-parsed the whole run's events while it was served).
    _parsed: dict[str, tuple[int, list[dict[str, Any]]]] = field(default_factory=dict)
    _changed: trio.Event = field(default_factory=trio.Event)
    process: trio.Process | None = None

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        args = ["mosquitto_sub", *self.broker.cli_args(), "-t", f"{PREFIX}/#", "-F", "%j"]
        args += ["-t", "hermes/#"]
        proc = await trio.lowlevel.open_process(args, stdout=subprocess.PIPE)
        try:
            self.process = proc
            assert proc.stdout is not None
            buf = b""
            started = False
            # mosquitto_sub prints nothing until subscribed; a retained probe tells when.
            probe = f"{PREFIX}/_probe/{os.getpid()}"
            await trio.run_process(
                ["mosquitto_pub", *self.broker.cli_args(), "-t", probe, "-m", "x", "-r"]
            )
            async for data in proc.stdout:
                buf += data
                while b"\n" in buf:
                    line, buf = buf.split(b"\n", 1)
                    msg = json.loads(line)
                    if msg["topic"] == probe:
                        if not started:
                            started = True
                            await trio.run_process(
                                ["mosquitto_pub", *self.broker.cli_args(), "-t", probe, "-n", "-r"]
                            )
                            task_status.started()
                        continue
                    self.messages.append((msg["topic"], msg["payload"]))
                    self._changed.set()
                    self._changed = trio.Event()
        finally:
            if proc.returncode is None:
                proc.kill()
            with trio.CancelScope(shield=True):
                await proc.wait()

    def events(self, device: str = "kitchen") -> list[dict[str, Any]]:
        topic = f"{PREFIX}/{device}/event"
        read, parsed = self._parsed.get(topic, (0, []))
        for t, p in self.messages[read:]:
            if t == topic:
                parsed.append(json.loads(p))  # a bad payload raises here, each time asked
            read += 1
            self._parsed[topic] = (read, parsed)
        return list(parsed)

    def clear(self) -> None:
        """Forget every message seen so far."""
        self.messages.clear()
        self._parsed.clear()

    def of(self, id: str, device: str = "kitchen") -> list[str]:
        return [e["event"] for e in self.events(device) if e.get("id") == id]

    def last(self, topic: str) -> str | None:
        for t, p in reversed(self.messages):
            if t == topic:
                return p
        return None

    async def wait_for(self, predicate: Callable[[], bool], timeout: float = 20) -> None:
        with trio.fail_after(timeout):
            while not predicate():
                await self._changed.wait()

    async def wait_event(self, id: str, event: str, device: str = "kitchen") -> None:
        await self.wait_for(lambda: event in self.of(id, device))


async def publish(
    broker: Mosquitto,
    topic: str,
    payload: str | dict[str, Any],
    *,
    qos: int = 1,
    retain: bool = False,
) -> None:
    text = payload if isinstance(payload, str) else json.dumps(payload)
    args = ["mosquitto_pub", *broker.cli_args(), "-t", topic, "-q", str(qos), "-m", text]
    if retain:
        args.append("-r")
    await trio.run_process(args)


RUNNING: list[Herald] = []  # started and not yet known to be gone: killed after each test


class Herald:
    """One `herald run` process."""

    def __init__(
        self,
        tmp_path: Path,
        broker: Mosquitto,
        emulator: Emulator,
        *,
        device: str = "kitchen",
        extra: str = "",
        env: dict[str, str] | None = None,
        log_level: str = "DEBUG",
    ) -> None:
        self.log_level = log_level
        self.device = device
        self.config = tmp_path / f"{device}.toml"
        self.config.write_text(config_text(tmp_path, broker, emulator, device=device, extra=extra))
        self.raw = tmp_path / f"{device}.raw"
        self.log = tmp_path / f"{device}.log"
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(("HERALD_", "NOTIFY_"))}
        self.env["CARTESIA_API_KEY"] = KEY
        self.env.update(env or {})
        self.process: trio.Process | None = None

    async def start(self) -> trio.Process:
        log = self.log.open("ab")
        self.process = await trio.lowlevel.open_process(
            [
                sys.executable,
                "-m",
                "herald",
                "run",
                "--config",
                str(self.config),
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

    def signal(self, signum: int) -> None:
        assert self.process is not None
        self.process.send_signal(signum)

    async def wait(self, timeout: float = 10) -> int:
        assert self.process is not None
        with trio.fail_after(timeout):
            return await self.process.wait()

    def kill(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.send_signal(signal.SIGKILL)

    def kill_from_outside_trio(self) -> None:
        """SIGKILL by pid (after the test's trio run: trio's Process needs its loop).
        Pids are not reused this soon, so a process already gone is just not found."""
        if self.process is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.process.pid, signal.SIGKILL)

    def captured(self) -> array.array[int]:
        return nonzero(self.raw.read_bytes()) if self.raw.exists() else array.array("h")

    def logs(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


async def start_online(herald: Herald, observer: Observer) -> Herald:
    """Start ``herald`` and wait until it announces itself online."""
    await herald.start()
    topic = f"{PREFIX}/{herald.device}/availability"
    try:
        await observer.wait_for(lambda: observer.last(topic) == "online")
    except trio.TooSlowError:
        herald.kill()
        raise AssertionError("herald did not come online:\n" + herald.logs()) from None
    return herald


async def stop_cleanly(herald: Herald) -> int:
    """SIGTERM and the exit status. (The file plugin writes out what it holds only
    when the PCM closes, so read `captured` after this, not after a kill.)"""
    herald.signal(signal.SIGTERM)
    return await herald.wait()
