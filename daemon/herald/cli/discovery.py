"""`herald discovery remove`: take herald out of Home Assistant.

Publishes an empty retained payload on every discovery config topic herald may have
used (HA then deletes the entities and the device), and clears herald's retained
availability and state. Run by `install.sh --uninstall` too. Stop the daemon first,
or it announces itself again at its next connect.
"""

from __future__ import annotations

import trio

from herald.config import Config
from herald.homeassistant.discovery import removal_messages
from herald.mqtt import MqttClient, MqttSettings
from herald.mqtt.client import SHUTDOWN_GRACE

TIMEOUT = 10.0


class RemovalFailed(Exception):
    """The broker could not be reached, or did not confirm every message."""


async def remove_discovery(cfg: Config) -> int:
    """Publish the removals; returns how many retained topics were cleared."""
    prefix, device = cfg.mqtt.topic_prefix, cfg.device.id
    messages: list[tuple[str, bytes | str, bool]] = [
        (topic, "", True)
        for topic, _ in removal_messages(
            prefix,
            cfg.mqtt.discovery_prefix,
            device,
            buttons=[button.name for button in cfg.buttons],
        )
    ]
    messages += [(f"{prefix}/{device}/{leaf}", "", True) for leaf in ("state", "availability")]
    client = MqttClient(MqttSettings.for_tool(cfg, "remove", TIMEOUT), [])
    where = f"{cfg.mqtt.host}:{cfg.mqtt.port}"
    async with trio.open_nursery() as nursery:
        await nursery.start(client.run)
        with trio.move_on_after(TIMEOUT):
            await client.wait_settled()
        if not client.connected.value:
            nursery.cancel_scope.cancel()
            detail = client.last_error or f"no answer in {TIMEOUT:g} s"
            raise RemovalFailed(f"cannot connect to the broker at {where}: {detail}")
        # shutdown() publishes these with QoS 1 and waits for their PUBACKs.
        with trio.move_on_after(SHUTDOWN_GRACE * 3):
            await client.shutdown(messages)
        nursery.cancel_scope.cancel()
    return len(messages)
