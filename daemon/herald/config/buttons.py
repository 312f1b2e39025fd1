"""`[[buttons]]` in the config file: an array of tables, one per physical button.

Each table is checked key by key like a section (`buttons[0].pin = 99: must be ...`);
then the checks across buttons: names and pins must be unique.
"""

from collections.abc import Mapping
from typing import Any

import msgspec

from herald.config.button_actions import Action, ButtonConfig
from herald.validate import format_key, format_value, validate_array, validate_table

__all__ = ["validate_buttons"]

_ACTION_WORDS = (
    'one of "stop", "replay", "volume_up", "volume_down", "mute", '
    'or a table with say = "text" and/or clip = "name"'
)
_ACTION_KEYS = ("short", "long", "double")


def validate_buttons(value: object) -> tuple[tuple[ButtonConfig, ...], list[str]]:
    """The valid buttons, and one error per problem (each naming `buttons[i].key`)."""
    buttons, errors = validate_array(value, "buttons", _one, block="buttons")
    errors.extend(_duplicates(list(buttons)))
    return buttons, errors


def _one(table: Mapping[str, Any], path: str) -> tuple[ButtonConfig | None, list[str]]:
    actions = {k: table[k] for k in _ACTION_KEYS if k in table}
    rest = {k: v for k, v in table.items() if k not in actions}
    values, errors = validate_table(ButtonConfig, rest, path)
    for key, raw in actions.items():
        action, error = _action(f"{path}.{key}", raw)
        if error:
            errors.append(error)
        else:
            values[key] = action
    errors.extend(f"{path}.{key}: required" for key in ("name", "pin") if key not in table)
    if errors:
        return None, errors
    return ButtonConfig(**values), []


def _action(path: str, raw: object) -> tuple[Action | None, str | None]:
    if isinstance(raw, Mapping):
        unknown = [k for k in raw if k not in ("say", "clip")]
        if unknown:
            return None, f"{path}.{format_key(str(unknown[0]))}: unknown key (allowed: say, clip)"
    try:
        return msgspec.convert(raw, Action), None
    except msgspec.ValidationError:
        return None, f"{path} = {format_value(raw)}: must be {_ACTION_WORDS}"


def _duplicates(buttons: list[ButtonConfig]) -> list[str]:
    errors: list[str] = []
    for attr in ("name", "pin"):
        seen: dict[object, int] = {}
        for button in buttons:
            key = getattr(button, attr)
            seen[key] = seen.get(key, 0) + 1
        errors.extend(
            f"buttons: {attr} {format_value(key)} is used by {count} buttons; each needs its own"
            for key, count in seen.items()
            if count > 1
        )
    return errors
