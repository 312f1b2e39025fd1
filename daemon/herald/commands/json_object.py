"""JSON command payloads: one object, checked in layers, each field converted on its own.

`decode_object` takes a payload that starts with `{` (already under the byte cap and
valid UTF-8) and returns its top-level members as `msgspec.Raw` values:

1. A scan of the structure, iterative and linear (one regex over the bytes): nesting
   deeper than `MAX_DEPTH` and lone UTF-16 surrogate escapes ("\\ud800") are rejected
   here, with a reason naming them; duplicate keys are noted, at every level.
2. msgspec parses the object (syntax, trailing data; NaN and Infinity are not JSON and
   fail here, and get a reason of their own), nested values kept as raw JSON text.
3. Duplicate keys are rejected (msgspec alone would keep the last one silently).

`convert` then decodes each member against its `Field`: unknown members are rejected
(or ignored, for Hermes), and a value of the wrong type or out of range gets
`"field": must be <what is allowed>, got <the value as written>`.

What msgspec does with the classic pitfalls, measured with msgspec 0.22 and kept in
mind here: it accepts duplicate keys, last wins (hence step 3); it rejects NaN and
Infinity as malformed JSON; it raises RecursionError (cleanly) on deep nesting, even
in values it only skips (step 1 keeps it from getting there); it rejects integers beyond
64 bits and floats beyond double range as out of range (no ValueError from Python's
int-digit limit); it rejects lone surrogate escapes, with the misleading message "Input
data was truncated" (hence the reason from step 1); it raises UnicodeDecodeError, not
its own error, on invalid UTF-8 (checked before, in `commands_text`).
"""

import re
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import msgspec

from herald.commands.text import Rejected, quote, show_raw

__all__ = ["MAX_DEPTH", "Field", "convert", "decode_object"]

MAX_DEPTH = 32  # of nested objects and arrays; herald's own payloads have 1

# A string (to its closing quote, or to the end of the data when it has none, so that the
# scan stays linear on malformed input), or a structural character.
_TOKEN = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*(?:"|\\?\Z)|[][{},]', re.DOTALL)
_ESCAPE = re.compile(rb"\\(?:u([0-9a-fA-F]{4})|.)", re.DOTALL)
_MAYBE_SURROGATE = re.compile(rb"\\u[dD][89a-fA-F]")
_SYNTAX = re.compile(r"JSON is malformed: (.+) \(byte ([0-9]+)\)")
_OBJECT = msgspec.json.Decoder(dict[str, msgspec.Raw])
_KEY = msgspec.json.Decoder(str)


class Field(NamedTuple):
    """One JSON member of a command: how to decode it, and what is allowed, in words."""

    decoder: msgspec.json.Decoder[Any]
    expected: str  # completes `"name": must be ...`
    check: Callable[[str, Any], Any] | None = None  # (name, value) -> value; raises Rejected


def field(tp: Any, expected: str, check: Callable[[str, Any], Any] | None = None) -> Field:
    """A `Field` decoding `tp` (constraints included, through `Annotated[..., Meta]`)."""
    return Field(msgspec.json.Decoder(tp), expected, check)


def decode_object(payload: bytes, start: int) -> dict[str, msgspec.Raw]:
    """The members of the JSON object at `payload[start:]`; see the module docstring."""
    data = payload[start:]
    duplicate = _scan(data)
    try:
        members = _OBJECT.decode(data)
    except msgspec.DecodeError as exc:  # includes ValidationError
        raise Rejected(_syntax_reason(str(exc), data, start)) from None
    except RecursionError:  # not reachable after _scan; kept as a guard
        raise Rejected(f"nesting too deep (more than {MAX_DEPTH} levels)") from None
    if duplicate is not None:
        raise Rejected(f"duplicate key {quote(duplicate)}")
    return members


def convert(
    members: Mapping[str, msgspec.Raw],
    fields: Mapping[str, Field],
    *,
    ignore_unknown: bool = False,
) -> dict[str, Any]:
    """Each member decoded by its field, in the order written; the first problem raises."""
    values: dict[str, Any] = {}
    for name, raw in members.items():
        spec = fields.get(name)
        if spec is None:
            if ignore_unknown:
                continue
            raise Rejected(f"unknown field {quote(name)}; allowed: {', '.join(fields)}")
        try:
            value = spec.decoder.decode(raw)
        except msgspec.DecodeError:
            raise Rejected(
                f"{quote(name)}: must be {spec.expected}, got {show_raw(bytes(raw))}"
            ) from None
        if spec.check is not None and value is not None:
            value = spec.check(name, value)
        values[name] = value
    return values


def _scan(data: bytes) -> str | None:
    """Depth and surrogates (raising), and the first duplicate key (returned).

    Runs before msgspec has checked the syntax, so on malformed data the keys it sees
    may be wrong; a duplicate is only reported once msgspec has accepted the data.
    """
    stack: list[set[str] | None] = []  # per open container: its keys, or None for an array
    expect_key = False
    member: str | None = None  # the top-level member being read
    duplicate: str | None = None
    for token in _TOKEN.findall(data):
        char = token[0]
        if char == 0x22:  # '"'
            keys = stack[-1] if expect_key and stack else None  # always a set when expect_key
            if keys is not None:
                expect_key = False
                key = _decode_key(token)
                if key in keys and duplicate is None:
                    duplicate = key
                keys.add(key)
                if len(stack) == 1:
                    member = key
                if _MAYBE_SURROGATE.search(token):
                    _check_surrogates(token, None)
            elif _MAYBE_SURROGATE.search(token):
                _check_surrogates(token, member)
        elif char == 0x2C:  # ','
            expect_key = bool(stack) and stack[-1] is not None
        elif char == 0x7B or char == 0x5B:  # '{' or '['
            if len(stack) >= MAX_DEPTH:
                raise Rejected(f"nesting too deep (more than {MAX_DEPTH} levels)")
            expect_key = char == 0x7B
            stack.append(set() if expect_key else None)
        else:  # '}' or ']'
            if stack:
                stack.pop()
            expect_key = False
    return duplicate


def _decode_key(token: bytes) -> str:
    if b"\\" not in token:
        return token[1:-1].decode("utf-8", errors="replace")
    try:
        return _KEY.decode(token)
    except msgspec.DecodeError:  # malformed; msgspec's full parse will say so
        return token.decode("utf-8", errors="replace")


def _check_surrogates(token: bytes, member: str | None) -> None:
    """A high surrogate escape must be followed at once by a low one, and a low one preceded."""
    pending: tuple[int, int] | None = None  # (high surrogate, end of its escape)
    for match in _ESCAPE.finditer(token):
        code = int(match.group(1), 16) if match.group(1) else -1
        if pending is not None:
            if 0xDC00 <= code <= 0xDFFF and match.start() == pending[1]:
                pending = None
                continue
            _lone_surrogate(pending[0], member)
        if 0xD800 <= code <= 0xDBFF:
            pending = (code, match.end())
        elif 0xDC00 <= code <= 0xDFFF:
            _lone_surrogate(code, member)
    if pending is not None:
        _lone_surrogate(pending[0], member)


def _lone_surrogate(code: int, member: str | None) -> None:
    what = f"lone surrogate \\u{code:04x}"
    if member is None:
        raise Rejected(f"{what} in a key is not allowed (not valid Unicode)")
    raise Rejected(f"{quote(member)}: {what} is not allowed (not valid Unicode)")


def _syntax_reason(message: str, data: bytes, start: int) -> str:
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
