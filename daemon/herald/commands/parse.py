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
| `hermes/tts/say` | `parse_hermes_say` | `HermesSay` |

Every payload, in this order: at most 65536 bytes (checked before decoding), strict
UTF-8, then JSON or plain text. A payload is JSON when its first character, after an
optional UTF-8 byte order mark and JSON whitespace (space, tab, CR, LF), is `{`; anything
else is plain text. So `  {"text": "hi"}` is JSON, and `[1]` or `hello {name}` is text.
A JSON payload must be one object with no duplicate keys, nested at most 32 levels, no
NaN or Infinity, no lone surrogate escapes, and only the fields listed (Hermes: other
fields are ignored, as Rhasspy sends more); see
`herald.commands.json_object`. Spoken text: 1 to 5000 characters after stripping, no control
characters other than newline, tab and carriage return; see `herald.commands.text`.
"""

import re
import uuid
from collections.abc import Mapping
from typing import Annotated, Any, Final, Literal

import msgspec
from msgspec import Meta

from herald.commands.json_object import MAX_DEPTH, Field, convert, decode_object, field
from herald.commands.text import (
    MAX_ID_CHARS,
    MAX_PAYLOAD_BYTES,
    MAX_TEXT_CHARS,
    Rejected,
    body_start,
    check_chunk_text,
    check_id,
    check_say_text,
    decode_payload,
    quote,
    show_text_value,
)
from herald.limits import EMOTIONS, MAX_LOUDNESS, MAX_SPEED, MIN_LOUDNESS, MIN_SPEED

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
    "parse_volume",
]

Priority = Literal["normal", "high"]

_EMOTION_SET = frozenset(EMOTIONS)

MAX_AT_MS: Final = 253_402_300_799_999  # 9999-12-31T23:59:59.999Z
MAX_TTL_S: Final = 86_400.0


def new_id() -> str:
    """The id of a command that came without one: a random UUID."""
    return str(uuid.uuid4())


# --- the commands ---


class SayCommand(msgspec.Struct, frozen=True, kw_only=True):
    """Queue an utterance: `text` (None only with a `clip`), played after the clip if any."""

    text: str | None  # stripped; 1 to 5000 characters
    id: str  # given, or a new UUID
    voice: str | None = None  # a Cartesia voice id; None: the configured voice
    language: str | None = None  # "en", "pt-BR"; None: the configured language
    speed: float | None = None  # Cartesia generation_config.speed, 0.6 to 1.5
    emotion: str | None = None  # one of EMOTIONS (Cartesia generation_config.emotion)
    # Cartesia generation_config.volume, 0.5 to 2.0: how loudly the voice speaks. Not
    # `volume`, which is herald's playback volume (product.md).
    loudness: float | None = None
    pronunciation_dict_id: str | None = None  # a Cartesia pronunciation dictionary
    volume: int | None = None  # playback volume 0-100 for this utterance; None: the current
    priority: Priority = "normal"  # "high" goes before queued "normal" ones
    interrupt: bool = False  # stop what is playing and speak now
    clip: str | None = None  # a file name in the clips folder, played before the text
    cache: bool = True  # use and fill the clip cache
    ttl: float = 60.0  # seconds; not started within it: dropped
    at: int | None = None  # epoch milliseconds: start playback at that wall-clock time


class StreamChunk(msgspec.Struct, frozen=True, kw_only=True):
    """A piece of an utterance still being written; chunks with the same `id` are one."""

    id: str
    text: str  # verbatim (not stripped); empty only when final
    final: bool = False


class StopCommand(msgspec.Struct, frozen=True, kw_only=True):
    """Stop now and drop the queue: everything (`id` None), or the utterance `id`."""

    id: str | None = None


class VolumeCommand(msgspec.Struct, frozen=True, kw_only=True):
    """Set the playback volume, 0-100."""

    volume: int


class HermesSay(msgspec.Struct, frozen=True, kw_only=True):
    """Rhasspy/Hermes `hermes/tts/say`; answer with `hermes/tts/sayFinished` {id, siteId}."""

    text: str  # stripped; 1 to 5000 characters
    site_id: str  # "siteId"; "default" when absent or null
    id: str  # given, or a new UUID
    lang: str | None = None  # as Rhasspy sent it ("en", "en_US"); None when absent or ""
    session_id: str | None = None  # "sessionId" (when a valid id), to echo in sayFinished


# --- the fields of each JSON command ---

_Id = Annotated[str, Meta(min_length=1, max_length=MAX_ID_CHARS)]
_Voice = Annotated[str, Meta(pattern=r"^[A-Za-z0-9_.:-]{1,128}\Z")]
_Language = Annotated[str, Meta(pattern=r"^[a-z]{2,3}(?:-[A-Za-z0-9]{2,8})*\Z")]
_Speed = Annotated[float, Meta(ge=MIN_SPEED, le=MAX_SPEED)]
_Loudness = Annotated[float, Meta(ge=MIN_LOUDNESS, le=MAX_LOUDNESS)]
_DictId = Annotated[str, Meta(pattern=r"^[A-Za-z0-9_.:-]{1,128}\Z")]
_Volume = Annotated[int, Meta(ge=0, le=100)]
_Clip = Annotated[str, Meta(pattern=r"^[A-Za-z0-9_-][A-Za-z0-9_.-]{0,127}\Z")]
_Ttl = Annotated[float, Meta(gt=0, le=MAX_TTL_S)]
_At = Annotated[int, Meta(ge=0, le=MAX_AT_MS)]

_HermesLang = Annotated[str, Meta(pattern=r"^[A-Za-z0-9_-]{0,64}\Z")]  # "" means none

_ID_WORDS = f"a string of 1 to {MAX_ID_CHARS} printable characters"
_VOLUME_WORDS = "an integer from 0 to 100"


def _say_text(name: str, value: str) -> str:
    return check_say_text(value)


def _emotion(name: str, value: str) -> str:
    if value not in _EMOTION_SET:
        raise Rejected(
            f"{quote(name)}: must be one of Cartesia's emotions ({', '.join(EMOTIONS)}), "
            f"got {quote(value)}"
        )
    return value


_SAY_FIELDS: Mapping[str, Field] = {
    "text": field(str | None, "a string", _say_text),
    "id": field(str | None, _ID_WORDS, check_id),
    "voice": field(_Voice | None, "a voice id (letters, digits, '_', '.', ':', '-')"),
    "language": field(_Language | None, 'a language code such as "en" or "pt-BR"'),
    "speed": field(_Speed | None, f"a number from {MIN_SPEED} to {MAX_SPEED}"),
    "emotion": field(str | None, "a string", _emotion),
    "loudness": field(_Loudness | None, f"a number from {MIN_LOUDNESS} to {MAX_LOUDNESS}"),
    "pronunciation_dict_id": field(
        _DictId | None,
        "a pronunciation dictionary id (1 to 128 letters, digits, '_', '.', ':', '-')",
    ),
    "volume": field(_Volume | None, _VOLUME_WORDS),
    "priority": field(Priority, '"normal" or "high"'),
    "interrupt": field(bool, "true or false"),
    "clip": field(
        _Clip | None,
        "a file name of 1 to 128 letters, digits, '_', '.' or '-', not starting with '.'",
    ),
    "cache": field(bool, "true or false"),
    "ttl": field(_Ttl, f"a number of seconds, more than 0 and at most {MAX_TTL_S:.0f}"),
    "at": field(_At | None, f"epoch milliseconds, an integer from 0 to {MAX_AT_MS}"),
}

_STREAM_FIELDS: Mapping[str, Field] = {
    "id": field(_Id, _ID_WORDS, check_id),
    "text": field(str, "a string"),
    "final": field(bool, "true or false"),
}

_STOP_FIELDS: Mapping[str, Field] = {"id": field(_Id | None, _ID_WORDS, check_id)}

_HERMES_FIELDS: Mapping[str, Field] = {
    "text": field(str, "a string", _say_text),
    "siteId": field(_Id | None, _ID_WORDS, check_id),
    "id": field(str | None, _ID_WORDS, check_id),
    "lang": field(_HermesLang | None, 'a language code such as "en" or "en_US"'),
}
_SESSION_ID = msgspec.json.Decoder(str | None)
_INTEGER = re.compile(r"-?[0-9]+")


# --- the parsers ---


def parse_say(payload: bytes) -> SayCommand:
    """`P/D/say`: plain text, or a JSON object with the fields of `SayCommand`."""
    text = decode_payload(payload)
    start = body_start(payload)
    if not payload.startswith(b"{", start):
        return SayCommand(text=check_say_text(text.removeprefix("\ufeff")), id=new_id())
    values = convert(decode_object(payload, start), _SAY_FIELDS)
    if values.get("text") is None and values.get("clip") is None:
        raise Rejected('"text" is required (it may be left out only when "clip" is given)')
    values["id"] = values.get("id") or new_id()
    values.setdefault("text", None)
    return SayCommand(**values)


def parse_stream_chunk(payload: bytes) -> StreamChunk:
    """`P/D/say/stream`: JSON `{"id", "text", "final"}`."""
    values = _json_only(payload, _STREAM_FIELDS, '{"id": ..., "text": ..., "final": ...}')
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
    values = _json_only(payload, _STOP_FIELDS, '{"id": "..."}', empty_ok=True)
    return StopCommand(id=values.get("id"))


def parse_volume(payload: bytes) -> VolumeCommand:
    """`P/D/volume/set`: an integer 0-100, as plain text or a JSON number ("35", " 35\\n")."""
    text = decode_payload(payload)
    value = text.removeprefix("\ufeff").strip(" \t\r\n")
    if not value:
        raise Rejected(f'"volume": must be {_VOLUME_WORDS}, got nothing (the payload is empty)')
    # ASCII digits only ("٣٥" is not a number here), and short, so int() is quick and safe.
    if len(value) <= 8 and _INTEGER.fullmatch(value) and 0 <= (number := int(value)) <= 100:
        return VolumeCommand(volume=number)
    raise Rejected(f'"volume": must be {_VOLUME_WORDS}, got {show_text_value(value)}')


def parse_hermes_say(payload: bytes) -> HermesSay:
    """`hermes/tts/say`: JSON `{text, siteId, id, lang}`; other Hermes fields are ignored."""
    decode_payload(payload)
    start = body_start(payload)
    if not payload.startswith(b"{", start):
        raise _not_object(payload, '{"text": ..., "siteId": ..., "id": ..., "lang": ...}')
    members = decode_object(payload, start)
    values = convert(members, _HERMES_FIELDS, ignore_unknown=True)
    if "text" not in values:
        raise Rejected('"text" is required')
    return HermesSay(
        text=values["text"],
        site_id=values.get("siteId") or "default",
        id=values.get("id") or new_id(),
        lang=values.get("lang") or None,
        session_id=_tolerated_session_id(members.get("sessionId")),
    )


def _tolerated_session_id(raw: msgspec.Raw | None) -> str | None:
    """Hermes's sessionId, to echo: tolerated, so one that is not an id is dropped, not rejected."""
    try:
        value = _SESSION_ID.decode(raw) if raw is not None else None
    except msgspec.DecodeError:
        return None
    return value if value and len(value) <= MAX_ID_CHARS and value.isprintable() else None


def _json_only(
    payload: bytes, fields: Mapping[str, Field], example: str, *, empty_ok: bool = False
) -> dict[str, Any]:
    decode_payload(payload)
    start = body_start(payload)
    if not payload.startswith(b"{", start):
        raise _not_object(payload, example, empty_ok=empty_ok)
    return convert(decode_object(payload, start), fields)


def _not_object(payload: bytes, example: str, *, empty_ok: bool = False) -> Rejected:
    text = payload.decode("utf-8").removeprefix("\ufeff").strip(" \t\r\n")
    must = "must be empty or a JSON object" if empty_ok else "must be a JSON object"
    got = quote(text) if text else "nothing (the payload is empty)"
    return Rejected(f"the payload {must} like {example}, got {got}")
