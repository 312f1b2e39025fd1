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
