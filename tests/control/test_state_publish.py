"""P/D/state follows every change, also one that lands while the previous state is on
its way to the broker (the daemon on MockClock, a broker whose publish takes time)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import trio
import trio.testing

from herald.app import Daemon
from herald.audio.sim_sink import SimDevice
from herald.config import parse_config
from herald.sdnotify import Notifier
from memory_broker import MemoryBroker


def states(broker: MemoryBroker) -> list[dict[str, Any]]:
    return [json.loads(p) for t, p, _ in broker.published if t == "herald/hall/state"]


async def test_a_change_during_a_publish_is_published_too(
    tmp_path: Path, nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    cfg = parse_config(
        f'[device]\nid = "hall"\nstate_file = "{tmp_path / "s.json"}"\n'
        f'[mqtt]\ndiscovery = false\n[cache]\ndir = "{tmp_path / "c"}"\n'
        '[offline]\nlocal_voice = "none"\n',
        {},
    )
    broker = MemoryBroker(publish_delay=0.05)  # a slow link: the publisher is away meanwhile
    daemon = Daemon(cfg, Notifier({}), device=SimDevice("sim"), broker=broker)
    await nursery.start(daemon.run)
    await trio.sleep(1)
    daemon.settings.set_volume(40)
    await trio.sleep(0.01)  # the publisher has taken 40 and is inside publish()
    daemon.settings.set_volume(41)
    daemon.settings.set_mute(True)
    await trio.sleep(1)
    assert (states(broker)[-1]["volume"], states(broker)[-1]["mute"]) == (41, True)
    nursery.cancel_scope.cancel()


async def test_the_state_is_watched_without_a_task_per_value(
    tmp_path: Path, nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    """Why: it used to wait on each of its nine values in a task of its own, all nine
    spawned and cancelled again on every change (four times a say), on the way from a
    say's arrival to its request."""
    cfg = parse_config(
        f'[device]\nid = "hall"\nstate_file = "{tmp_path / "s.json"}"\n'
        f'[mqtt]\ndiscovery = false\n[cache]\ndir = "{tmp_path / "c"}"\n'
        '[offline]\nlocal_voice = "none"\n',
        {},
    )
    broker = MemoryBroker()
    daemon = Daemon(cfg, Notifier({}), device=SimDevice("sim"), broker=broker)
    await nursery.start(daemon.run)
    await trio.sleep(1)

    class Spawns(trio.abc.Instrument):
        count = 0

        def task_spawned(self, task: trio.lowlevel.Task) -> None:
            Spawns.count += 1

    spawns = Spawns()
    trio.lowlevel.add_instrument(spawns)
    for volume in range(30, 40):
        daemon.settings.set_volume(volume)
        await trio.sleep(0.1)
    assert states(broker)[-1]["volume"] == 39
    trio.lowlevel.remove_instrument(spawns)
    assert Spawns.count == 0
    nursery.cancel_scope.cancel()
