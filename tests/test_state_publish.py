"""P/D/state follows every change, also one that lands while the previous state is on
its way to the broker (the daemon on MockClock, a broker whose publish takes time)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import trio
import trio.testing

from herald.app import Daemon
from herald.audio.sim_sink import SimDevice
from herald.config import parse_config
from herald.sdnotify import Notifier
from test_buttons_daemon import MemoryBroker


class SlowBroker(MemoryBroker):
    async def publish(
        self, topic: str, payload: bytes | str, *, qos: int = 1, retain: bool = False
    ) -> None:
        await trio.sleep(0.05)  # a slow link: the publisher task is away meanwhile
        await super().publish(topic, payload, qos=qos, retain=retain)

    async def shutdown(self, final: Sequence[tuple[str, bytes | str, bool]] = ()) -> None:
        pass


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
    broker = SlowBroker()
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
