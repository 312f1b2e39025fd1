"""Smart-home integration end to end: Home Assistant discovery and its birth message,
mute, voices, replay, groups, quiet hours and settings that survive a restart.

A real `herald run` process, a real mosquitto, the Cartesia emulator and ALSA's file
plugin (see test_daemon_e2e.py). Real clock: waits are bounded, durations never asserted.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import trio

from cartesia_emulator import Emulator
from daemon_harness import (
    Herald,
    Observer,
    expected,
    nonzero,
    publish,
    start_online,
    stop_cleanly,
)
from mosquitto import Mosquitto

SAY = "herald/kitchen/say"
STATE = "herald/kitchen/state"
VOICE_A = "a0000000-0000-4000-8000-00000000000a"
VOICE_B = "b0000000-0000-4000-8000-00000000000b"


def configure(
    herald: Herald, *, device: str = "", mqtt: str = "", cartesia: str = "", extra: str = ""
) -> Herald:
    """Add keys to the tables the harness wrote ([device], [mqtt], [cartesia]), and tables."""
    text = herald.config.read_text()
    text = text.replace("[device]\n", f"[device]\n{device}\n", 1)
    text = text.replace("[cartesia]\n", f"[cartesia]\n{cartesia}\n", 1)
    text = text.replace("discovery = false\n", f"{mqtt or 'discovery = false'}\n", 1)
    herald.config.write_text(text + "\n" + extra)
    return herald


async def new_herald(
    tmp_path: Path,
    mosquitto: Mosquitto,
    emulator: Emulator,
    observer: Observer,
    **keys: str,
) -> Herald:
    return await start_online(configure(Herald(tmp_path, mosquitto, emulator), **keys), observer)


def state(observer: Observer) -> dict[str, object]:
    last = observer.last(STATE)
    assert last is not None
    result: dict[str, object] = json.loads(last)
    return result


async def retained(mosquitto: Mosquitto, topic: str) -> dict[str, str]:
    """The retained messages under ``topic`` now (a fresh mosquitto_sub)."""
    result = await trio.run_process(
        ["mosquitto_sub", *mosquitto.cli_args(), "-t", topic, "-v", "--retained-only", "-W", "1"],
        capture_stdout=True,
        check=False,
    )
    lines = result.stdout.decode().splitlines()
    return dict(line.split(" ", 1) for line in lines if " " in line)


async def retained_count(mosquitto: Mosquitto, topic: str, n: int) -> dict[str, str]:
    """The retained messages under ``topic`` once there are ``n`` (herald publishes its
    discovery configs right after ``online``, so the first look may be early)."""
    with trio.fail_after(20):
        while len(found := await retained(mosquitto, topic)) < n:
            await trio.sleep(0.1)
    return found


class Subscriber:
    """Every message on a topic filter, with a count, read by a real mosquitto_sub."""

    def __init__(self, mosquitto: Mosquitto, topic: str) -> None:
        self.args = ["mosquitto_sub", *mosquitto.cli_args(), "-t", topic, "-v"]
        self.lines: list[str] = []

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        proc = await trio.lowlevel.open_process(self.args, stdout=subprocess.PIPE)
        task_status.started()
        try:
            assert proc.stdout is not None
            buf = b""
            async for data in proc.stdout:
                buf += data
                *lines, rest = buf.split(b"\n")
                buf = rest
                self.lines += [line.decode() for line in lines]
        finally:
            proc.kill()
            with trio.CancelScope(shield=True):
                await proc.wait()

    async def wait_count(self, n: int) -> None:
        with trio.fail_after(20):
            while len(self.lines) < n:
                await trio.sleep(0.05)


# --- Home Assistant discovery ------------------------------------------------------


async def test_discovery_on_connect_again_on_birth_and_removed_by_the_cli(
    tmp_path: Path,
    mosquitto: Mosquitto,
    emulator: Emulator,
    observer: Observer,
    nursery: trio.Nursery,
) -> None:
    herald = await new_herald(
        tmp_path,
        mosquitto,
        emulator,
        observer,
        mqtt="discovery = true",
        extra='[[buttons]]\nname = "door"\npin = 17\n',
    )
    configs = await retained_count(mosquitto, "homeassistant/#", 10)
    assert len(configs) == 10  # 9 entities (no voice select: one voice) + 1 button event
    notify = json.loads(configs["homeassistant/notify/herald_kitchen/say/config"])
    assert notify["command_topic"] == SAY
    assert notify["availability_topic"] == "herald/kitchen/availability"
    assert "homeassistant/event/herald_kitchen/button_door/config" in configs
    # Home Assistant restarts: its birth message (not retained) asks for everything again.
    watcher = Subscriber(mosquitto, "homeassistant/+/herald_kitchen/+/config")
    await nursery.start(watcher.run)
    await watcher.wait_count(10)  # the retained ones, on subscribing
    states_before = len([t for t, _ in observer.messages if t == STATE])
    await publish(mosquitto, "homeassistant/status", "online", qos=0)
    await watcher.wait_count(20)
    await observer.wait_for(
        lambda: len([t for t, _ in observer.messages if t == STATE]) > states_before
    )
    # HA's will (offline) asks for nothing.
    await publish(mosquitto, "homeassistant/status", "offline", qos=0)
    assert await stop_cleanly(herald) == 0
    assert len(watcher.lines) == 20
    # `herald discovery remove`: every config (and herald's retained topics) cleared.
    result = await trio.run_process(
        [sys.executable, "-m", "herald", "discovery", "remove", "--config", str(herald.config)],
        capture_stdout=True,
        capture_stderr=True,
        env=herald.env,
        check=False,
    )
    assert result.returncode == 0, result.stderr.decode()
    assert await retained(mosquitto, "homeassistant/#") == {}
    assert await retained(mosquitto, "herald/kitchen/#") == {}


async def test_discovery_remove_names_an_unreachable_broker(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text('[mqtt]\nhost = "127.0.0.1"\nport = 9\n')
    result = await trio.run_process(
        [sys.executable, "-m", "herald", "discovery", "remove", "--config", str(config)],
        capture_stdout=True,
        capture_stderr=True,
        check=False,
    )
    assert result.returncode == 1
    assert "cannot connect to the broker at 127.0.0.1:9" in result.stderr.decode()


# --- mute, voice, replay, volume across restarts -----------------------------------


async def test_mute_drops_normal_says_but_not_high_ones(
    herald: Herald, observer: Observer, mosquitto: Mosquitto
) -> None:
    await publish(mosquitto, "herald/kitchen/mute/set", "ON")
    await observer.wait_for(lambda: state(observer)["mute"] is True)
    await publish(mosquitto, SAY, {"id": "n", "text": "Normal news."})
    await publish(
        mosquitto, SAY, {"id": "h", "text": "Someone is at the door.", "priority": "high"}
    )
    await observer.wait_event("h", "finished")
    await observer.wait_event("n", "dropped")
    dropped = next(e for e in observer.events() if e["id"] == "n" and e["event"] == "dropped")
    assert dropped["reason"] == "muted"
    await publish(mosquitto, "herald/kitchen/mute/set", "maybe")
    await observer.wait_for(lambda: any(e["event"] == "rejected" for e in observer.events()))
    rejected = next(e for e in observer.events() if e["event"] == "rejected")
    assert "ON or OFF" in rejected["error"]
    await publish(mosquitto, "herald/kitchen/mute/set", "OFF")
    await publish(mosquitto, SAY, {"id": "n2", "text": "Normal news."})
    await observer.wait_event("n2", "finished")
    assert await stop_cleanly(herald) == 0
    assert herald.captured() == expected("Someone is at the door.", "Normal news.")


async def test_voice_select_changes_the_voice_sent_to_cartesia(
    tmp_path: Path, mosquitto: Mosquitto, emulator: Emulator, observer: Observer
) -> None:
    herald = await new_herald(
        tmp_path,
        mosquitto,
        emulator,
        observer,
        cartesia=(
            'voice = "alice"\n'
            f'voices = [{{name = "alice", id = "{VOICE_A}"}}, {{name = "bob", id = "{VOICE_B}"}}]'
        ),
    )
    assert state(observer)["voice"] == "alice"
    await publish(mosquitto, SAY, {"id": "v1", "text": "First voice."})
    await observer.wait_event("v1", "finished")
    await publish(mosquitto, "herald/kitchen/voice/set", "bob")
    await observer.wait_for(lambda: state(observer)["voice"] == "bob")
    await publish(mosquitto, SAY, {"id": "v2", "text": "Second voice."})
    await observer.wait_event("v2", "finished")
    await publish(mosquitto, "herald/kitchen/voice/set", "carol")
    await observer.wait_for(lambda: any(e["event"] == "rejected" for e in observer.events()))
    voices = [
        (r.msg["transcript"], r.msg["voice"]["id"])
        for r in emulator.received
        if r.msg.get("transcript", "").strip()
    ]
    assert voices == [("First voice.", VOICE_A), ("Second voice.", VOICE_B)]
    assert await stop_cleanly(herald) == 0


async def test_replay_speaks_the_last_utterance_again(
    herald: Herald, observer: Observer, mosquitto: Mosquitto
) -> None:
    await publish(mosquitto, "herald/kitchen/replay", "")
    await observer.wait_for(lambda: any(e["event"] == "rejected" for e in observer.events()))
    await publish(mosquitto, SAY, {"id": "r", "text": "The bins go out tonight."})
    await observer.wait_event("r", "finished")
    await publish(mosquitto, "herald/kitchen/replay", "")
    await observer.wait_for(lambda: [e["event"] for e in observer.events()].count("finished") == 2)
    again = [e for e in observer.events() if e["event"] == "started"][-1]
    assert again["id"] != "r"
    assert again["source"] == "cache"
    assert await stop_cleanly(herald) == 0
    assert herald.captured() == expected("The bins go out tonight.", "The bins go out tonight.")


async def test_volume_and_mute_survive_a_restart(
    herald: Herald, observer: Observer, mosquitto: Mosquitto
) -> None:
    await publish(mosquitto, "herald/kitchen/volume/set", "35")
    await publish(mosquitto, "herald/kitchen/mute/set", "ON")
    await observer.wait_for(
        lambda: state(observer)["mute"] is True and state(observer)["volume"] == 35
    )
    assert await stop_cleanly(herald) == 0
    observer.clear()
    await start_online(herald, observer)
    await observer.wait_for(lambda: observer.last(STATE) is not None)
    assert (state(observer)["volume"], state(observer)["mute"]) == (35, True)
    assert await stop_cleanly(herald) == 0


# --- rooms and quiet hours ---------------------------------------------------------


async def test_group_says_reach_the_devices_in_the_group(
    tmp_path: Path, mosquitto: Mosquitto, emulator: Emulator, observer: Observer
) -> None:
    herald = await new_herald(
        tmp_path, mosquitto, emulator, observer, device='groups = ["downstairs"]'
    )
    await publish(mosquitto, "herald/group/upstairs/say", {"id": "u", "text": "Not here."})
    await publish(mosquitto, "herald/group/downstairs/say", {"id": "d", "text": "Dinner."})
    await observer.wait_event("d", "finished")
    assert observer.of("u") == []
    assert await stop_cleanly(herald) == 0
    assert herald.captured() == expected("Dinner.")


async def test_quiet_hours_drop_normal_says_and_play_high_ones(
    tmp_path: Path, mosquitto: Mosquitto, emulator: Emulator, observer: Observer
) -> None:
    herald = await new_herald(
        tmp_path,
        mosquitto,
        emulator,
        observer,
        extra='[quiet_hours]\nwindows = ["00:00-24:00"]\nmode = "drop"\n',
    )
    await publish(mosquitto, SAY, {"id": "n", "text": "Normal news."})
    await publish(mosquitto, SAY, {"id": "h", "text": "Smoke alarm.", "priority": "high"})
    await observer.wait_event("h", "finished")
    await observer.wait_event("n", "dropped")
    dropped = next(e for e in observer.events() if e["id"] == "n" and e["event"] == "dropped")
    assert dropped["reason"] == "quiet_hours"
    assert await stop_cleanly(herald) == 0
    assert herald.captured() == expected("Smoke alarm.")


async def test_quiet_hours_lower_normal_says(
    tmp_path: Path, mosquitto: Mosquitto, emulator: Emulator, observer: Observer
) -> None:
    herald = await new_herald(
        tmp_path,
        mosquitto,
        emulator,
        observer,
        extra='[quiet_hours]\nwindows = ["00:00-24:00"]\nvolume = 30\n',
    )
    await publish(mosquitto, SAY, {"id": "h", "text": "Loud and clear.", "priority": "high"})
    await observer.wait_event("h", "finished")
    assert await stop_cleanly(herald) == 0
    loud = herald.captured()
    assert loud == expected("Loud and clear.")  # high priority: unchanged
    herald.raw.unlink()
    await start_online(herald, observer)
    await publish(mosquitto, SAY, {"id": "n", "text": "Loud and clear."})
    await observer.wait_event("n", "finished")
    assert await stop_cleanly(herald) == 0
    quiet = nonzero(herald.raw.read_bytes())
    assert 0 < max(abs(s) for s in quiet) < 0.5 * max(abs(s) for s in loud)
