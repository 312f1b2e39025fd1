"""The rules for what a command may ask herald to speak, and for ids.

Spoken text: 1 to 5000 characters after stripping, with a letter or a digit in it (a
stream chunk: verbatim, at most 5000), no control characters other than newline, tab
and carriage return. Ids: 1 to
128 printable characters.
"""

from __future__ import annotations

import re

from herald.commands.reasons import Rejected, quote
from herald.text import is_speakable

__all__ = ["MAX_ID_CHARS", "MAX_TEXT_CHARS", "check_chunk_text", "check_id", "check_say_text"]

MAX_TEXT_CHARS = 5000  # of a say's text after stripping, and of one stream chunk
MAX_ID_CHARS = 128

# C0 and C1 controls and DEL, except tab, line feed and carriage return.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_SURROGATE = re.compile(r"[\ud800-\udfff]")


def check_say_text(text: str) -> str:
    """A say's text, stripped: 1 to 5000 characters, no control characters but \\n \\t \\r."""
    _check_characters(text)
    stripped = text.strip()
    if not stripped:
        raise Rejected("text is empty" if not text else "text is empty (only whitespace)")
    if len(stripped) > MAX_TEXT_CHARS:
        raise Rejected(f"text is {len(stripped)} characters; the limit is {MAX_TEXT_CHARS}")
    if not is_speakable(stripped):
        # Zero-width characters, a BOM, "...": nothing a voice would say.
        raise Rejected(f"text has nothing to speak (no letter or digit): {quote(stripped)}")
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
    if match := _SURROGATE.search(text):  # caught earlier for JSON; kept as a guard
        raise Rejected(f"text contains lone surrogate \\u{ord(match.group()):04x}")


def check_id(field: str, value: str) -> str:
    """An id: 1 to 128 printable characters (spaces allowed, no line breaks or controls)."""
    if not 1 <= len(value) <= MAX_ID_CHARS or not value.isprintable():
        raise Rejected(
            f"{quote(field)}: must be a string of 1 to {MAX_ID_CHARS} printable characters, "
            f"got {quote(value)}"
        )
    return value
