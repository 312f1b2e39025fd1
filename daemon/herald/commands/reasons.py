"""`Rejected`, the one exception a command parser raises, and how values are quoted in
its reason: on one line, at most ~40 characters, so that a reason never echoes a huge
payload or breaks a log line."""

from __future__ import annotations

import json
import re
from typing import Any

__all__ = ["MAX_SHOWN_CHARS", "RawNumber", "Rejected", "quote", "show_text_value", "show_value"]

MAX_SHOWN_CHARS = 40  # of a value quoted in a reason

_SURROGATE = re.compile(r"[\ud800-\udfff]")
_JSON_NUMBER = re.compile(r"-?[0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")
_JSON_WORD = re.compile(r"-?[0-9][0-9.eE+-]*|true|false|null")


class Rejected(Exception):
    """A command payload that herald does not accept; `reason` says why, in plain words."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason

    def __str__(self) -> str:
        return self.reason


class RawNumber:
    """A JSON number as it was written, for a reason ("got 1e1", "got 50.0"): the
    parsed value keeps its literal until the field's type has been checked."""

    __slots__ = ("text", "value")

    def __init__(self, text: str, value: int | float | None) -> None:
        self.text = text
        self.value = value  # None: too large to be any field's value

    def __repr__(self) -> str:
        return self.text


def quote(value: str) -> str:
    """A string in double quotes, JSON-escaped (never a line break), cut to ~40 characters."""
    cut = len(value) > MAX_SHOWN_CHARS
    value = _SURROGATE.sub("\ufffd", value[:MAX_SHOWN_CHARS])
    quoted = json.dumps(value, ensure_ascii=False)
    return quoted[:-1] + '…"' if cut else quoted


def _show_json(text: str) -> str:
    """A JSON text on one line, cut to ~40 characters; a long number reads "a
    5000-digit number" instead of 40 of its digits."""
    text = " ".join(text.split())
    if len(text) <= MAX_SHOWN_CHARS:
        return text
    if _JSON_NUMBER.fullmatch(text):
        return f"a {sum(c.isdigit() for c in text)}-digit number"
    if text.startswith('"'):
        return text[: MAX_SHOWN_CHARS - 2] + '…"'
    return text[: MAX_SHOWN_CHARS - 1] + "…"


def show_value(value: Any) -> str:
    """A parsed JSON value as it was written (numbers exactly; strings, arrays and
    objects as JSON writes them), for a reason."""
    if isinstance(value, RawNumber):
        return _show_json(value.text)
    try:
        text = json.dumps(value, ensure_ascii=False, default=repr)
    except (ValueError, RecursionError):  # pragma: no cover - parsed JSON always dumps
        text = "…"
    return _show_json(_SURROGATE.sub("\ufffd", text))


def show_text_value(text: str) -> str:
    """A plain-text payload in a reason: as is when it reads as a JSON scalar, else quoted."""
    if _JSON_WORD.fullmatch(text):
        return _show_json(text)
    return quote(text)
