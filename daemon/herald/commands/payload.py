"""MQTT payload bytes to text, or to one JSON object: the layers every payload passes.

1. At most `MAX_PAYLOAD_BYTES` (checked before decoding anything), strict UTF-8.
2. A payload is JSON when its first character, after an optional UTF-8 byte order mark
   and JSON whitespace, is ``{``; anything else is text (`body_start`).
3. JSON is parsed by the standard `json` module, with hooks: a duplicate key at any
   level is rejected (the last one would win silently), NaN and Infinity are rejected
   (they are not JSON), numbers keep the literal they were written as (for a reason
   that quotes them), nesting deeper than `MAX_DEPTH` is rejected. A lone UTF-16
   surrogate escape ("\\ud800") is rejected, naming the member it is in.
4. A syntax error's reason is worded by msgspec, whose diagnostics name what is wrong
   and the byte ("trailing comma in object at byte 15").

Then `herald.validate` converts each member to its field's type, as for the config.
"""

from __future__ import annotations

import json
import re
import sys
from typing import Any

import msgspec

from herald.commands.reasons import RawNumber, Rejected, quote

__all__ = ["MAX_DEPTH", "MAX_PAYLOAD_BYTES", "body_start", "decode_payload", "parse_object"]

MAX_PAYLOAD_BYTES = 65536
MAX_DEPTH = 32  # of nested objects and arrays; herald's own payloads have 1
# Python refuses to turn more digits than this into an int (and a field never takes one).
_MAX_INT_DIGITS = min(sys.get_int_max_str_digits() or 4300, 4300) - 1

_BOM = b"\xef\xbb\xbf"
_JSON_SPACE = b" \t\r\n"
_SURROGATE = re.compile(r"[\ud800-\udfff]")
_SYNTAX = re.compile(r"JSON is malformed: (.+) \(byte ([0-9]+)\)")


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


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise Rejected(f"duplicate key {quote(key)}")
            seen.add(key)
    return obj


def _constant(name: str) -> Any:
    raise Rejected("NaN is not allowed" if name == "NaN" else "Infinity is not allowed")


def _int(text: str) -> RawNumber:
    digits = len(text) - text.startswith("-")
    return RawNumber(text, int(text) if digits <= _MAX_INT_DIGITS else None)


def _float(text: str) -> RawNumber:
    return RawNumber(text, float(text))


# Only to word a syntax error: msgspec names what is wrong, and at which byte.
_DIAGNOSE = msgspec.json.Decoder(dict[str, msgspec.Raw])

_DECODER = json.JSONDecoder(
    object_pairs_hook=_pairs, parse_constant=_constant, parse_int=_int, parse_float=_float
)


def parse_object(payload: bytes, start: int) -> dict[str, Any]:
    """The members of the JSON object at ``payload[start:]`` (already under the cap and
    valid UTF-8), numbers as `RawNumber`. Raises Rejected."""
    data = payload[start:]
    try:
        obj = _DECODER.decode(data.decode("utf-8"))
    except RecursionError:
        raise Rejected(f"nesting too deep (more than {MAX_DEPTH} levels)") from None
    except json.JSONDecodeError as exc:
        raise Rejected(_syntax_reason(data, start, exc)) from None
    if not isinstance(obj, dict):  # pragma: no cover - the payload starts with "{"
        raise Rejected("the payload must be a JSON object")
    _check_structure(obj)
    return obj


def _check_structure(obj: dict[str, Any]) -> None:
    """Depth, and lone surrogates in keys and strings (naming the top-level member)."""
    stack: list[tuple[Any, int, str | None]] = [(obj, 1, None)]
    while stack:
        value, depth, member = stack.pop()
        if isinstance(value, dict):
            if depth > MAX_DEPTH:
                raise Rejected(f"nesting too deep (more than {MAX_DEPTH} levels)")
            items = list(value.items())
            for key, _ in items:
                if _SURROGATE.search(key):
                    _lone_surrogate(key, None)
            # In reverse, so that the first member is checked first.
            for key, item in reversed(items):
                stack.append((item, depth + 1, member if member is not None else key))
        elif isinstance(value, list):
            if depth > MAX_DEPTH:
                raise Rejected(f"nesting too deep (more than {MAX_DEPTH} levels)")
            stack.extend((item, depth + 1, member) for item in reversed(value))
        elif isinstance(value, str) and _SURROGATE.search(value):
            _lone_surrogate(value, member)


def _lone_surrogate(text: str, member: str | None) -> None:
    match = _SURROGATE.search(text)
    assert match is not None
    what = f"lone surrogate \\u{ord(match.group()):04x}"
    if member is None:
        raise Rejected(f"{what} in a key is not allowed (not valid Unicode)")
    raise Rejected(f"{quote(member)}: {what} is not allowed (not valid Unicode)")


def _syntax_reason(data: bytes, start: int, exc: json.JSONDecodeError) -> str:
    try:
        _DIAGNOSE.decode(data)
    except msgspec.DecodeError as error:
        message = str(error)
    except RecursionError:
        return f"nesting too deep (more than {MAX_DEPTH} levels)"
    else:  # the two parsers disagree: say what the standard one found
        return f"not valid JSON: {exc.msg.lower()} at byte {start + exc.pos}"
    if match := _SYNTAX.fullmatch(message):
        what, offset = match.group(1), int(match.group(2))
        if data.startswith(b"NaN", offset):
            return "NaN is not allowed"
        if data.startswith(b"Infinity", offset):
            return "Infinity is not allowed"
        return f"not valid JSON: {what} at byte {start + offset}"
    if message == "Input data was truncated":
        return "not valid JSON: it ends too early"
    return f"not valid JSON: {message[:80]}"
