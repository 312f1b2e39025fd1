"""The MQTT topic layout, once: what herald subscribes to and where it publishes.

`P` is `mqtt.topic_prefix`, `D` is `device.id` (product.md): commands on `P/D/...`,
`P/all/...` and `P/group/G/say`; retained `P/D/availability` (also the last will) and
`P/D/state`; `P/D/event` and `P/D/button`. Hermes (`hermes/tts/...`) and Home
Assistant's birth topic (`<discovery_prefix>/status`) when they are on.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from herald.config import Config

__all__ = [
    "HERMES_ERROR",
    "HERMES_FINISHED",
    "HERMES_SAY",
    "Kind",
    "Topics",
    "birth_topic",
]

HERMES_SAY = "hermes/tts/say"
HERMES_FINISHED = "hermes/tts/sayFinished"
HERMES_ERROR = "hermes/error/tts"

Kind = Literal["say", "stream", "stop", "volume", "mute", "voice", "replay", "hermes", "birth"]


def birth_topic(discovery_prefix: str) -> str:
    """Where Home Assistant publishes its birth (`online`) and will (`offline`)."""
    return f"{discovery_prefix}/status"


@dataclass(frozen=True, slots=True)
class Topics:
    prefix: str
    device: str
    groups: Sequence[str] = ()
    hermes: bool = False
    birth: str | None = None  # Home Assistant's status topic, with discovery on

    @classmethod
    def from_config(cls, cfg: Config) -> Topics:
        """The topics of `herald run` with this config (doctor checks the same ones)."""
        return cls(
            cfg.mqtt.topic_prefix,
            cfg.device.id,
            groups=cfg.device.groups,
            hermes=cfg.mqtt.hermes,
            birth=birth_topic(cfg.mqtt.discovery_prefix) if cfg.mqtt.discovery else None,
        )

    def _t(self, *parts: str) -> str:
        return "/".join((self.prefix, *parts))

    @property
    def availability(self) -> str:
        return self._t(self.device, "availability")

    @property
    def state(self) -> str:
        return self._t(self.device, "state")

    @property
    def event(self) -> str:
        return self._t(self.device, "event")

    @property
    def button(self) -> str:
        return self._t(self.device, "button")

    def commands(self) -> dict[str, Kind]:
        """Command topic → kind."""
        kinds: dict[str, Kind] = {
            self._t(self.device, "say"): "say",
            self._t("all", "say"): "say",
            **{self._t("group", group, "say"): "say" for group in self.groups},
            self._t(self.device, "say", "stream"): "stream",
            self._t(self.device, "stop"): "stop",
            self._t("all", "stop"): "stop",
            self._t(self.device, "volume", "set"): "volume",
            self._t(self.device, "mute", "set"): "mute",
            self._t(self.device, "voice", "set"): "voice",
            self._t(self.device, "replay"): "replay",
        }
        if self.hermes:
            kinds[HERMES_SAY] = "hermes"
        if self.birth is not None:
            kinds[self.birth] = "birth"
        return kinds

    def subscriptions(self) -> list[tuple[str, int]]:
        return [(topic, 1) for topic in self.commands()]
