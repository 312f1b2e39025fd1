"""Physical buttons: `[[buttons]]` in the config, gestures, actions.

- `config`: `ButtonConfig` and the `Action` a gesture triggers (validated by msgspec).
- `presses`: `PressClassifier`, pure logic turning edges into short / long / double.
- `gpio`: the only module that imports gpiozero; `open_buttons` bridges its threads to trio.
- `service`: `Buttons`, the trio service that runs the classifiers and calls `on_press`.
"""

from herald.buttons.gpio import OpenButtons, open_buttons
from herald.buttons.presses import PressClassifier
from herald.buttons.service import Buttons, OnPress
from herald.config.button_actions import Action, ButtonConfig, Command, Press, Speak, describe

__all__ = [
    "Action",
    "ButtonConfig",
    "Buttons",
    "Command",
    "OnPress",
    "OpenButtons",
    "Press",
    "PressClassifier",
    "Speak",
    "describe",
    "open_buttons",
]
