"""herald's MQTT commands: every payload validated once, at the edge, into frozen objects.

One parser per kind of command, each taking the raw MQTT payload (bytes) and returning
a typed, frozen object, or raising `Rejected` with a reason in plain words that names
the problem and the field. Nothing else escapes a parser, whatever the bytes; inside
herald the objects are trusted.

| topic | parser | result |
| --- | --- | --- |
| `P/D/say`, `P/all/say`, `P/group/G/say` | `parse_say` | `SayCommand` |
| `P/D/say/stream` | `parse_stream_chunk` | `StreamChunk` |
| `P/D/stop`, `P/all/stop` | `parse_stop` | `StopCommand` |
| `P/D/volume/set` | `parse_volume` | `VolumeCommand` |
| `P/D/mute/set` | `parse_switch` | `bool` |
| `P/D/voice/set` | `parse_voice_name` | `str` (a name; the action checks it is configured) |
| `hermes/tts/say` | `parse_hermes_say` | `HermesSay` |

Every payload, in this order: at most 65536 bytes (checked before decoding), strict
UTF-8, then JSON or plain text. A payload is JSON when its first character, after an
optional UTF-8 byte order mark and JSON whitespace (space, tab, CR, LF), is `{`; anything
else is plain text. So `  {"text": "hi"}` is JSON, and `[1]` or `hello {name}` is text.
A JSON payload must be one object with no duplicate keys, nested at most 32 levels, no
NaN or Infinity, no lone surrogate escapes, and only the fields listed (Hermes: other
fields are ignored, as Rhasspy sends more); see `herald.commands.payload`. Each field
is converted by its type in `herald.commands.model`, with the engine the config uses
(`herald.validate`). Spoken text: 1 to 5000 characters after stripping, no control
characters other than newline, tab and carriage return; see `herald.commands.text`.
"""

import re
from collections.abc import Callable, Mapping
from typing import Any

import msgspec

from herald.commands.model import (
    MAX_AT_MS,
    MAX_TTL_S,
    VOLUME_WORDS,
    HermesInput,
    HermesSay,
    Priority,
    SayCommand,
    StopCommand,
    StreamChunk,
    VolumeCommand,
    new_id,
)
from herald.commands.payload import (
    MAX_DEPTH,
    MAX_PAYLOAD_BYTES,
    body_start,
    decode_payload,
    parse_object,
)
from herald.commands.reasons import RawNumber, Rejected, quote, show_text_value, show_value
from herald.commands.text import (
    MAX_ID_CHARS,
    MAX_TEXT_CHARS,
    check_chunk_text,
    check_id,
    check_say_text,
)
from herald.limits import EMOTIONS
from herald.validate import allowed_keys, convert_members, describe, struct_fields

__all__ = [
    "EMOTIONS",
    "MAX_AT_MS",
    "MAX_DEPTH",
    "MAX_ID_CHARS",
    "MAX_PAYLOAD_BYTES",
    "MAX_TEXT_CHARS",
    "MAX_TTL_S",
    "HermesSay",
    "Priority",
    "Rejected",
    "SayCommand",
    "StopCommand",
    "StreamChunk",
    "VolumeCommand",
    "new_id",
    "parse_hermes_say",
    "parse_say",
    "parse_stop",
    "parse_stream_chunk",
    "parse_switch",
    "parse_voice_name",
    "parse_volume",
]

_INTEGER = re.compile(r"-?[0-9]+")

# Checks a field's value gets once its type fits: (name, value) -> value; raise Rejected.
_Check = Callable[[str, Any], Any]
_SAY_CHECKS: Mapping[str, _Check] = {
    "text": lambda name, value: check_say_text(value),
    "id": check_id,
}
_ID_CHECKS: Mapping[str, _Check] = {"id": check_id}
_HERMES_CHECKS: Mapping[str, _Check] = {
    "text": lambda name, value: check_say_text(value),
    "siteId": check_id,
    "id": check_id,
}


def _unwrap(value: object) -> object:
    # A number is converted by its value; one too large for any field stays as it is
    # written, so that its type check fails.
    if isinstance(value, RawNumber):
        return value.value if value.value is not None else value
    return value


def _convert(
    struct_type: type[msgspec.Struct],
    members: Mapping[str, Any],
    checks: Mapping[str, _Check],
    *,
    ignore_unknown: bool = False,
) -> dict[str, Any]:
    """Each member converted by its field's type, then its check; the first problem,
    in the order written, raises."""
    values, problems = convert_members(
        struct_type, members, ignore_unknown=ignore_unknown, unwrap=_unwrap
    )
    if problems:
        p = problems[0]
        if p.expected is None:
            allowed = ", ".join(allowed_keys(struct_type))
            raise Rejected(f"unknown field {quote(p.key)}; allowed: {allowed}")
        raise Rejected(f"{quote(p.key)}: must be {describe(p.expected)}, got {show_value(p.value)}")
    fields = struct_fields(struct_type)
    for key, check in checks.items():
        name = fields[key].name
        if values.get(name) is not None:
            values[name] = check(key, values[name])
    return values


# --- the parsers ---


def parse_say(payload: bytes) -> SayCommand:
    """`P/D/say`: plain text, or a JSON object with the fields of `SayCommand`."""
    text = decode_payload(payload)
    start = body_start(payload)
    if not payload.startswith(b"{", start):
        return SayCommand(text=check_say_text(text.removeprefix("\ufeff")), id=new_id())
    members = parse_object(payload, start)
    if "id" in members and members["id"] is None:
        del members["id"]  # null: made here, like an absent one
    values = _convert(SayCommand, members, _SAY_CHECKS)
    if values.get("text") is None and values.get("clip") is None:
        raise Rejected('"text" is required (it may be left out only when "clip" is given)')
    values["id"] = values.get("id") or new_id()
    values.setdefault("text", None)
    return SayCommand(**values)


def parse_stream_chunk(payload: bytes) -> StreamChunk:
    """`P/D/say/stream`: JSON `{"id", "text", "final"}`."""
    members = _object_only(payload, '{"id": ..., "text": ..., "final": ...}')
    values = _convert(StreamChunk, members, _ID_CHECKS)
    if "id" not in values:
        raise Rejected('"id" is required')
    final = values.get("final", False)
    if "text" not in values and not final:
        raise Rejected('"text" is required (it may be left out only when "final" is true)')
    text = check_chunk_text(values.get("text", ""), final=final)
    return StreamChunk(id=values["id"], text=text, final=final)


def parse_stop(payload: bytes) -> StopCommand:
    """`P/D/stop`: empty (or whitespace) stops everything; `{"id": "..."}` stops that one."""
    decode_payload(payload)
    if body_start(payload) == len(payload):
        return StopCommand()
    members = _object_only(payload, '{"id": "..."}', empty_ok=True)
    return StopCommand(id=_convert(StopCommand, members, _ID_CHECKS).get("id"))


def parse_volume(payload: bytes) -> VolumeCommand:
    """`P/D/volume/set`: an integer 0-100, as plain text or a JSON number ("35", " 35\\n")."""
    text = decode_payload(payload)
    value = text.removeprefix("\ufeff").strip(" \t\r\n")
    if not value:
        raise Rejected(f'"volume": must be {VOLUME_WORDS}, got nothing (the payload is empty)')
    # ASCII digits only ("٣٥" is not a number here), and short, so int() is quick and safe.
    if len(value) <= 8 and _INTEGER.fullmatch(value) and 0 <= (number := int(value)) <= 100:
        return VolumeCommand(volume=number)
    raise Rejected(f'"volume": must be {VOLUME_WORDS}, got {show_text_value(value)}')


_ON = frozenset({"on", "true", "1"})
_OFF = frozenset({"off", "false", "0"})


def parse_switch(payload: bytes, name: str) -> bool:
    """`P/D/mute/set`: ON / OFF (Home Assistant's switch), also true/false and 1/0."""
    text = decode_payload(payload).removeprefix("\ufeff").strip()
    if text.lower() in _ON:
        return True
    if text.lower() in _OFF:
        return False
    shown = quote(text) if text else "nothing (the payload is empty)"
    raise Rejected(f"{quote(name)}: must be ON or OFF (or true/false, 1/0), got {shown}")


def parse_voice_name(payload: bytes) -> str:
    """`P/D/voice/set`: the name of one of cartesia.voices, as plain text."""
    return decode_payload(payload).removeprefix("\ufeff").strip()


def parse_hermes_say(payload: bytes) -> HermesSay:
    """`hermes/tts/say`: JSON `{text, siteId, id, lang}`; other Hermes fields are ignored."""
    members = _object_only(payload, '{"text": ..., "siteId": ..., "id": ..., "lang": ...}')
    values = _convert(HermesInput, members, _HERMES_CHECKS, ignore_unknown=True)
    if "text" not in values:
        raise Rejected('"text" is required')
    return HermesSay(
        text=values["text"],
        site_id=values.get("site_id") or "default",
        id=values.get("id") or new_id(),
        lang=values.get("lang") or None,
        session_id=_tolerated_session_id(members.get("sessionId")),
    )


def _tolerated_session_id(value: object) -> str | None:
    """Hermes's sessionId, to echo: tolerated, so one that is not an id is dropped, not rejected."""
    if not isinstance(value, str):
        return None
    return value if value and len(value) <= MAX_ID_CHARS and value.isprintable() else None


def _object_only(payload: bytes, example: str, *, empty_ok: bool = False) -> dict[str, Any]:
    decode_payload(payload)
    start = body_start(payload)
    if not payload.startswith(b"{", start):
        raise _not_object(payload, example, empty_ok=empty_ok)
    return parse_object(payload, start)


def _not_object(payload: bytes, example: str, *, empty_ok: bool = False) -> Rejected:
    text = payload.decode("utf-8").removeprefix("\ufeff").strip(" \t\r\n")
    must = "must be empty or a JSON object" if empty_ok else "must be a JSON object"
    got = quote(text) if text else "nothing (the payload is empty)"
    return Rejected(f"the payload {must} like {example}, got {got}")
