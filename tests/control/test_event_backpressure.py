"""Commands faster than the broker takes their events (found by bench/hostile.py: of
1,000 QoS 0 says of 5,000 characters, 123 got no event, "event queue full" in the log).
Every command has its events published: the router waits for room in the event queue,
and the MQTT input, then the broker, hold the rest. The real daemon on MockClock, an
in-memory broker whose every publish takes a round trip, a simulated card."""

from __future__ import annotations

import json
from pathlib import Path

import trio
import trio.testing

from herald.app import Daemon
from herald.audio.sim_sink import SimDevice
from herald.config import parse_config
from herald.control.publisher import EVENT_QUEUE
from herald.sdnotify import Notifier
from memory_broker import MemoryBroker

SAYS = 1500  # each gets queued then dropped (queue full): 3,000 events, past EVENT_QUEUE


async def test_a_flood_of_says_has_every_event_published(
    tmp_path: Path, nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    assert 2 * SAYS > EVENT_QUEUE
    cfg = parse_config(
        f'[device]\nid = "hall"\nstate_file = "{tmp_path / "s.json"}"\n'
        f'[mqtt]\ndiscovery = false\n[cache]\ndir = "{tmp_path / "c"}"\n'
        '[offline]\nlocal_voice = "none"\n',
        {},
    )
    broker = MemoryBroker(publish_delay=0.005)  # each publish a broker's PUBACK away
    daemon = Daemon(cfg, Notifier({}), device=SimDevice("sim"), broker=broker)
    await nursery.start(daemon.run)

    async def feed() -> None:
        for i in range(SAYS):
            # No cloud here: the first say waits for it, the queue fills, the rest drop.
            payload = json.dumps({"id": f"s{i}", "text": "Hello."}).encode()
            await broker.feed("herald/hall/say", payload)

    nursery.start_soon(feed)

    def answered() -> set[str]:
        return {e["id"] for e in broker.json_on("herald/hall/event")}

    with trio.fail_after(600):  # virtual seconds: 3,000 publishes of 5 ms
        while len(answered()) < SAYS:
            await trio.sleep(1)
    events = broker.json_on("herald/hall/event")
    dropped = [e for e in events if e["event"] == "dropped"]
    assert len(dropped) >= SAYS - 200 and all(e["reason"] == "queue_full" for e in dropped)
    assert len(broker.acked) >= len(dropped)  # answered, and acknowledged
    nursery.cancel_scope.cancel()
