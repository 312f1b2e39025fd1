"""The first and last steps of parsing an MQTT command: bytes to text, and text to words.

`Rejected` is the one exception a command parser raises. This module checks the byte
cap and strict UTF-8 (every payload), the rules for spoken text and ids, and formats the
values quoted in a reason: one line, at most ~40 characters, so that a reason never
echoes a huge payload. The public API is in `herald.commands.parse`.
"""

import json
import re

__all__ = [
    "MAX_ID_CHARS",
    "MAX_PAYLOAD_BYTES",
    "MAX_TEXT_CHARS",
    "Rejected",
    "body_start",
    "check_chunk_text",
    "check_id",
    "check_say_text",
    "decode_payload",
    "quote",
    "show_raw",
    "show_text_value",
]

MAX_PAYLOAD_BYTES = 65536  # checked before decoding anything
MAX_TEXT_CHARS = 5000  # of a say's text after stripping, and of one stream chunk
MAX_ID_CHARS = 128
MAX_SHOWN_CHARS = 40  # of a value quoted in a reason

_BOM = b"\xef\xbb\xbf"  # UTF-8 byte order mark, ignored before a payload
_JSON_SPACE = b" \t\r\n"
# C0 and C1 controls and DEL, except tab, line feed and carriage return.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
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


def decode_payload(payload: bytes) -> str:
    """The byte cap, then strict UTF-8: the text of any payload."""
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise Rejected(f"payload is {len(payload)} bytes; the limit is {MAX_PAYLOAD_BYTES}")
    try:
        return payload.decode("utf-8", errors="strict")
    except UnicodeDecodeError as exc:
        raise Rejected(f"not valid UTF-8 at byte {exc.start}") from None


def body_start(payload: bytes) -> int:
    """The byte offset where the payload proper starts: after a UTF-8 BOM and JSON whitespace."""
    start = len(_BOM) if payload.startswith(_BOM) else 0
    return len(payload) - len(payload[start:].lstrip(_JSON_SPACE))


def check_say_text(text: str) -> str:
    """A say's text, stripped: 1 to 5000 characters, no control characters but \\n \\t \\r."""
    _check_characters(text)
    stripped = text.strip()
    if not stripped:
        raise Rejected("text is empty" if not text else "text is empty (only whitespace)")
    if len(stripped) > MAX_TEXT_CHARS:
        raise Rejected(f"text is {len(stripped)} characters; the limit is {MAX_TEXT_CHARS}")
    return stripped


def check_chunk_text(text: str, *, final: bool) -> str:
    """A stream chunk's text, kept verbatim (" " between two tokens matters).

    Whitespace-only is fine; empty only in the final chunk.
    """
    _check_characters(text)
    if not text and not final:
        raise Rejected("text is empty (only the final chunk may be empty)")
    if len(text) > MAX_TEXT_CHARS:
        raise Rejected(f"text is {len(text)} characters; the limit is {MAX_TEXT_CHARS}")
    return text


def _check_characters(text: str) -> None:
    if match := _CONTROL.search(text):
        raise Rejected(
            f"text contains control character U+{ord(match.group()):04X} at position "
            f"{match.start()}; only newline, tab and carriage return are allowed"
        )
    if match := _SURROGATE.search(text):  # not reachable from UTF-8 or msgspec; kept as a guard
        raise Rejected(f"text contains lone surrogate \\u{ord(match.group()):04x}")


def check_id(field: str, value: str) -> str:
    """An id: 1 to 128 printable characters (spaces allowed, no line breaks or controls)."""
    if not 1 <= len(value) <= MAX_ID_CHARS or not value.isprintable():
        raise Rejected(
            f"{quote(field)}: must be a string of 1 to {MAX_ID_CHARS} printable characters, "
            f"got {quote(value)}"
        )
    return value


def quote(value: str) -> str:
    """A string in double quotes, JSON-escaped (never a line break), cut to ~40 characters."""
    cut = len(value) > MAX_SHOWN_CHARS
    value = _SURROGATE.sub("\ufffd", value[:MAX_SHOWN_CHARS])
    quoted = json.dumps(value, ensure_ascii=False)
    return quoted[:-1] + '…"' if cut else quoted


def show_raw(raw: bytes) -> str:
    """A JSON value as it was written, on one line, cut to ~40 characters.

    A long number reads "a 5000-digit number" instead of 40 of its digits.
    """
    text = " ".join(raw.decode("utf-8", errors="replace").split())
    if len(text) <= MAX_SHOWN_CHARS:
        return text
    if _JSON_NUMBER.fullmatch(text):
        return f"a {sum(c.isdigit() for c in text)}-digit number"
    if text.startswith('"'):
        return text[: MAX_SHOWN_CHARS - 2] + '…"'
    return text[: MAX_SHOWN_CHARS - 1] + "…"


def show_text_value(text: str) -> str:
    """A plain-text payload in a reason: as is when it reads as a JSON scalar, else quoted."""
    if _JSON_WORD.fullmatch(text):
        return show_raw(text.encode())
    return quote(text)
