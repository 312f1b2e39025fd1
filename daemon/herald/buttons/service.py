"""The `Buttons` service: GPIO edges in, `on_press(button, press, action)` out."""

import logging
import math
from collections.abc import Callable, Sequence
from typing import Any

import trio

from herald.buttons.gpio import open_buttons
from herald.buttons.presses import PressClassifier
from herald.config.button_actions import Action, ButtonConfig, Press, describe

__all__ = ["Buttons", "OnPress"]

logger = logging.getLogger(__name__)

# (button name, "short" | "long" | "double", its configured action or None); called in the
# trio thread, must not block. The daemon runs the action and publishes P/D/button.
OnPress = Callable[[str, Press, Action | None], None]


class Buttons:
    """Runs one `PressClassifier` per configured button and reports every gesture."""

    def __init__(
        self, configs: Sequence[ButtonConfig], on_press: OnPress, *, pin_factory: Any = None
    ) -> None:
        names = [config.name for config in configs]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"button names must be unique: {', '.join(duplicates)}")
        self.configs = {config.name: config for config in configs}
        self._on_press = on_press
        self._pin_factory = pin_factory
        self._classifiers = {
            config.name: PressClassifier(
                hold_s=config.hold_s, double_s=config.double_s, bounce_s=config.bounce_ms / 1000
            )
            for config in configs
        }
        self._changed = trio.Event()
        self.active = False  # True while the pins are open

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Open the pins and report gestures until cancelled. Without buttons or without GPIO
        this returns at once (after `started`)."""
        if not self.configs:
            task_status.started()
            return
        opened = open_buttons(list(self.configs.values()), self.edge, self._pin_factory)
        if opened is None:
            task_status.started()
            return
        try:
            self.active = True
            logger.info("buttons: %s", ", ".join(self._summary(name) for name in opened.devices))
            task_status.started()
            while True:
                deadlines = [
                    deadline
                    for classifier in self._classifiers.values()
                    if (deadline := classifier.next_deadline()) is not None
                ]
                with trio.move_on_at(min(deadlines, default=math.inf)):
                    await self._changed.wait()
                self._changed = trio.Event()
                now = trio.current_time()
                for name, classifier in self._classifiers.items():
                    self._report(name, classifier.poll(now))
        finally:
            self.active = False
            opened.close()

    def edge(self, name: str, pressed: bool, t: float) -> None:
        """An edge of button `name` at time `t` (trio's clock); called in the trio thread."""
        classifier = self._classifiers.get(name)
        if classifier is None:
            return
        self._report(name, classifier.pressed(t) if pressed else classifier.released(t))
        self._changed.set()  # the next deadline may have moved

    def _report(self, name: str, press: Press | None) -> None:
        if press is None:
            return
        action = self.configs[name].action(press)
        logger.info("button %s: %s press: %s", name, press, describe(action))
        try:
            self._on_press(name, press, action)
        except Exception:
            logger.exception("button %s: handling the %s press failed", name, press)

    def _summary(self, name: str) -> str:
        config = self.configs[name]
        return f"{name} on pin {config.pin}"
