"""herald.commands: every MQTT command payload, accepted and typed, or rejected with a reason."""

import json
import math
import re
import typing
import uuid
from collections.abc import Callable
from typing import Any

import msgspec
import pytest
from cartesia.types import Emotion
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from herald.commands import (
    EMOTIONS,
    MAX_AT_MS,
    MAX_PAYLOAD_BYTES,
    HermesSay,
    Rejected,
    SayCommand,
    StopCommand,
    StreamChunk,
    VolumeCommand,
    parse_hermes_say,
    parse_say,
    parse_stop,
    parse_stream_chunk,
    parse_volume,
)
from herald.text import is_speakable

Parser = Callable[[bytes], object]

PARSERS: dict[Parser, type] = {
    parse_say: SayCommand,
    parse_stream_chunk: StreamChunk,
    parse_stop: StopCommand,
    parse_volume: VolumeCommand,
    parse_hermes_say: HermesSay,
}


def js(value: object) -> bytes:
    return json.dumps(value).encode()


def is_uuid4(value: str) -> bool:
    return uuid.UUID(value).version == 4 and str(uuid.UUID(value)) == value


def reason(parser: Parser, payload: bytes) -> str:
    with pytest.raises(Rejected) as info:
        parser(payload)
    assert info.value.reason == str(info.value)
    return info.value.reason


# --- say: accepted ---


def test_plain_text_is_a_say_with_a_new_id() -> None:
    cmd = parse_say("  Dinner is ready.\nCome down! 🍝 ".encode())
    assert cmd == SayCommand(text="Dinner is ready.\nCome down! 🍝", id=cmd.id)
    assert is_uuid4(cmd.id)
    assert parse_say(b"again").id != parse_say(b"again").id
    assert (cmd.priority, cmd.interrupt, cmd.cache, cmd.ttl) == ("normal", False, True, 60.0)
    unset = (cmd.voice, cmd.language, cmd.speed, cmd.emotion, cmd.volume, cmd.clip, cmd.at)
    assert unset == (None,) * 7
    assert (cmd.loudness, cmd.pronunciation_dict_id) == (None, None)


@pytest.mark.parametrize(
    "payload",
    [b'["a", "b"]', b"hello {name}", b"42", b'"quoted"', b"null", b"\tTab\tand\r\nCRLF"],
)
def test_anything_not_starting_with_a_brace_is_text(payload: bytes) -> None:
    assert parse_say(payload).text == payload.decode().strip()


def test_json_say_with_every_field_is_typed() -> None:
    payload = {
        "text": "  The washing machine has finished.  ",
        "id": "wash-1",
        "voice": "f786b574-daa5-4673-aa0c-cbe3e8534c02",
        "language": "pt-BR",
        "speed": 1,
        "emotion": "happy",
        "loudness": 2,
        "pronunciation_dict_id": "pdict_kids-names.v2",
        "volume": 35,
        "priority": "high",
        "interrupt": True,
        "clip": "ding-dong_2.wav",
        "cache": False,
        "ttl": 30,
        "at": 1_767_225_600_000,
    }
    cmd = parse_say(js(payload))
    assert cmd == SayCommand(
        text="The washing machine has finished.",
        id="wash-1",
        voice="f786b574-daa5-4673-aa0c-cbe3e8534c02",
        language="pt-BR",
        speed=1.0,
        emotion="happy",
        loudness=2.0,
        pronunciation_dict_id="pdict_kids-names.v2",
        volume=35,
        priority="high",
        interrupt=True,
        clip="ding-dong_2.wav",
        cache=False,
        ttl=30.0,
        at=1_767_225_600_000,
    )
    assert type(cmd.speed) is float and type(cmd.ttl) is float
    assert type(cmd.loudness) is float
    assert type(cmd.volume) is int and type(cmd.at) is int
    with pytest.raises(AttributeError):
        cmd.text = "changed"  # type: ignore[misc]


def test_json_may_follow_whitespace_and_a_bom() -> None:
    assert parse_say(b' \r\n\t{"text": "hi"}').text == "hi"
    assert parse_say(b'\xef\xbb\xbf{"text": "hi"}').text == "hi"
    assert parse_say("\ufeffhi".encode()).text == "hi"


def test_defaults_and_nulls() -> None:
    cmd = parse_say(b'{"text": "hi", "id": null, "voice": null, "speed": null, "at": null}')
    assert is_uuid4(cmd.id)
    assert (cmd.voice, cmd.speed, cmd.at) == (None, None, None)
    assert parse_say(b'{"clip": "doorbell.wav"}').text is None
    assert parse_say(b'{"clip": "doorbell.wav", "text": null}').text is None


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("speed", 0.6),
        ("speed", 1.5),
        ("loudness", 0.5),
        ("loudness", 2.0),
        ("pronunciation_dict_id", "p" * 128),
        ("pronunciation_dict_id", "pdict:x_1.2-3"),
        ("volume", 0),
        ("volume", 100),
        ("ttl", 86400),
        ("ttl", 0.001),
        ("at", 0),
        ("at", MAX_AT_MS),
        ("id", "x" * 128),
        ("id", "a b:c/ü"),
        ("clip", "a" * 128),
        ("language", "en"),
        ("language", "zh-Hans-CN"),
        ("text", "x" * 5000),
    ],
)
def test_boundaries_accepted(field: str, value: object) -> None:
    cmd = parse_say(js({"text": "hi", field: value}))
    assert getattr(cmd, field) == value


def test_every_cartesia_emotion_is_accepted() -> None:
    assert set(EMOTIONS) == set(typing.get_args(Emotion))
    for emotion in EMOTIONS:
        assert parse_say(js({"text": "hi", "emotion": emotion})).emotion == emotion


def test_surrogate_pairs_and_escapes_are_fine() -> None:
    assert parse_say(b'{"text": "\\ud83d\\ude00 \\u00e9\\\\ud800"}').text == "😀 é\\ud800"


# --- the other commands: accepted ---


@pytest.mark.parametrize("payload", [b"", b"  \n", b"{}", b'{"id": null}', b" { } "])
def test_stop_all(payload: bytes) -> None:
    assert parse_stop(payload) == StopCommand(id=None)


def test_stop_one() -> None:
    assert parse_stop(b'{"id": "wash-1"}') == StopCommand(id="wash-1")


@pytest.mark.parametrize(
    ("payload", "volume"), [(b"35", 35), (b" 35\n", 35), (b"0", 0), (b"100", 100), (b"\t7\r\n", 7)]
)
def test_volume(payload: bytes, volume: int) -> None:
    assert parse_volume(payload) == VolumeCommand(volume=volume)


def test_stream_chunks() -> None:
    assert parse_stream_chunk(b'{"id": "s1", "text": "Hello"}') == StreamChunk(
        id="s1", text="Hello", final=False
    )
    # Verbatim: the space between two tokens is part of the utterance.
    assert parse_stream_chunk(b'{"id": "s1", "text": " "}').text == " "
    assert parse_stream_chunk(b'{"id": "s1", "text": " world.\\n"}').text == " world.\n"
    assert parse_stream_chunk(b'{"id": "s1", "text": "", "final": true}') == StreamChunk(
        id="s1", text="", final=True
    )
    assert parse_stream_chunk(b'{"id": "s1", "final": true}').text == ""


def test_hermes_say_from_rhasspy() -> None:
    payload = {
        "text": "It is 7 o'clock",
        "lang": "en_US",
        "id": "9c5f2a0e",
        "volume": 1.0,
        "siteId": "kitchen",
        "sessionId": "sess-1",
        "customData": {"nested": [1, 2, {"x": None}]},
    }
    assert parse_hermes_say(js(payload)) == HermesSay(
        text="It is 7 o'clock", site_id="kitchen", id="9c5f2a0e", lang="en_US", session_id="sess-1"
    )


def test_hermes_say_defaults() -> None:
    cmd = parse_hermes_say(b'{"text": "hi", "lang": null, "id": null, "sessionId": null}')
    assert (cmd.site_id, cmd.lang, cmd.session_id) == ("default", None, None)
    assert is_uuid4(cmd.id)
    assert parse_hermes_say(b'{"text": "hi", "lang": ""}').lang is None
    # Tolerated fields are not checked: a bad sessionId is dropped, not rejected.
    assert parse_hermes_say(b'{"text": "hi", "sessionId": 5}').session_id is None
    assert parse_hermes_say(b'{"text": "hi", "sessionId": "a\\nb"}').session_id is None
    assert parse_hermes_say(b'{"text": "hi", "siteId": null}').site_id == "default"


# --- rejected, each class with its reason ---

LONG = "x" * 60000
NASTIES: list[tuple[Parser, bytes, str]] = [
    # the byte cap comes first, before decoding (the payload is not UTF-8 either)
    (parse_say, b"\xff" * 65537, "payload is 65537 bytes; the limit is 65536"),
    (parse_say, b"[" * 100000, "payload is 100000 bytes; the limit is 65536"),
    (parse_volume, b"1" * 70000, "payload is 70000 bytes; the limit is 65536"),
    # UTF-8
    (parse_say, b"abc\xff", "not valid UTF-8 at byte 3"),
    (parse_say, b'{"text": "\xc3("}', "not valid UTF-8 at byte 10"),
    (parse_say, b"\xed\xa0\x80", "not valid UTF-8 at byte 0"),  # an encoded surrogate
    (parse_stop, b"\xc0\x80", "not valid UTF-8 at byte 0"),  # overlong NUL
    (parse_hermes_say, b'{"text": "\x80"}', "not valid UTF-8 at byte 10"),
    # text
    (parse_say, b"", "text is empty"),
    (parse_say, b" \n\t ", "text is empty (only whitespace)"),
    (parse_say, b'{"text": ""}', "text is empty"),
    (parse_say, b'{"text": "   "}', "text is empty (only whitespace)"),
    (parse_say, b"x" * 7000, "text is 7000 characters; the limit is 5000"),
    (parse_say, js({"text": " " + "é" * 5001}), "text is 5001 characters; the limit is 5000"),
    (parse_say, b"[" * 60000, "text is 60000 characters; the limit is 5000"),
    (
        parse_say,
        b"bell\x07",
        "text contains control character U+0007 at position 4; "
        "only newline, tab and carriage return are allowed",
    ),
    (
        parse_say,
        b'{"text": "a\\u0000b"}',
        "text contains control character U+0000 at position 1; "
        "only newline, tab and carriage return are allowed",
    ),
    (
        parse_say,
        '{"text": "a\u0085"}'.encode(),
        "text contains control character U+0085 at position 1; "
        "only newline, tab and carriage return are allowed",
    ),
    (
        parse_say,
        b'{"voice": "x"}',
        '"text" is required (it may be left out only when "clip" is given)',
    ),
    (
        parse_say,
        b'{"text": null}',
        '"text" is required (it may be left out only when "clip" is given)',
    ),
    (parse_say, b'{"text": 5}', '"text": must be a string, got 5'),
    (parse_say, b'{"text": ["a"]}', '"text": must be a string, got ["a"]'),
    # lone surrogates (JSON escapes; the UTF-8 forms fail UTF-8 above)
    (
        parse_say,
        b'{"text": "\\ud800"}',
        '"text": lone surrogate \\ud800 is not allowed (not valid Unicode)',
    ),
    (
        parse_say,
        b'{"text": "a\\udc00b"}',
        '"text": lone surrogate \\udc00 is not allowed (not valid Unicode)',
    ),
    (
        parse_say,
        b'{"text": "\\ud800\\u0041"}',
        '"text": lone surrogate \\ud800 is not allowed (not valid Unicode)',
    ),
    (
        parse_say,
        b'{"text": "\\ud800 \\udc00"}',
        '"text": lone surrogate \\ud800 is not allowed (not valid Unicode)',
    ),
    (
        parse_say,
        b'{"\\udbff": 1}',
        "lone surrogate \\udbff in a key is not allowed (not valid Unicode)",
    ),
    (
        parse_hermes_say,
        b'{"text": "hi", "extra": ["\\uDFFF"]}',
        '"extra": lone surrogate \\udfff is not allowed (not valid Unicode)',
    ),
    # nesting
    (parse_say, b'{"a":' * 10000 + b"1" + b"}" * 10000, "nesting too deep (more than 32 levels)"),
    (parse_say, b'{"text": "a", "x": ' + b"[" * 30000, "nesting too deep (more than 32 levels)"),
    (
        parse_hermes_say,
        b'{"text": "a", "x": ' + b"[" * 33 + b"]" * 33 + b"}",
        "nesting too deep (more than 32 levels)",
    ),
    (
        parse_stream_chunk,
        b"[" * 60000,
        'the payload must be a JSON object like {"id": ..., '
        '"text": ..., "final": ...}, got "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[…"',
    ),
    # big numbers
    (
        parse_say,
        b'{"text": "a", "volume": ' + b"9" * 5000 + b"}",
        '"volume": must be an integer from 0 to 100, got a 5000-digit number',
    ),
    (
        parse_say,
        b'{"text": "a", "speed": -' + b"9" * 5000 + b"}",
        '"speed": must be a number from 0.6 to 1.5, got a 5000-digit number',
    ),
    (
        parse_say,
        b'{"text": "a", "at": ' + b"9" * 5000 + b"}",
        f'"at": must be epoch milliseconds, an integer from 0 to {MAX_AT_MS}, '
        "got a 5000-digit number",
    ),
    (
        parse_say,
        b'{"text": "a", "ttl": 1e400}',
        '"ttl": must be a number of seconds, more than 0 and at most 86400, got 1e400',
    ),
    (
        parse_volume,
        b"9" * 5000,
        '"volume": must be an integer from 0 to 100, got a 5000-digit number',
    ),
    # NaN and Infinity
    (parse_say, b'{"text": "a", "speed": NaN}', "NaN is not allowed"),
    (parse_say, b'{"text": "a", "speed": Infinity}', "Infinity is not allowed"),
    (parse_say, b'{"text": "a", "speed": -Infinity}', "Infinity is not allowed"),
    (parse_hermes_say, b'{"text": "a", "volume": NaN}', "NaN is not allowed"),
    (parse_volume, b"NaN", '"volume": must be an integer from 0 to 100, got "NaN"'),
    # duplicate keys, however written, at any level
    (parse_say, b'{"text": "a", "text": "b"}', 'duplicate key "text"'),
    (parse_say, b'{"text": "a", "t\\u0065xt": "b"}', 'duplicate key "text"'),
    (parse_stop, b'{"id": "a", "id": "a"}', 'duplicate key "id"'),
    (parse_hermes_say, b'{"text": "a", "x": {"k": 1, "k": 2}}', 'duplicate key "k"'),
    (
        parse_stream_chunk,
        b'{"id": "s", "text": "a", "final": false, "final": true}',
        'duplicate key "final"',
    ),
    # bad JSON
    (parse_say, b'{"text": "a"', "not valid JSON: it ends too early"),
    (parse_say, b'{"text": "a"} {}', "not valid JSON: trailing characters at byte 15"),
    (parse_say, b"{'text': 'a'}", "not valid JSON: object keys must be strings at byte 1"),
    (parse_say, b'  {"text": "a",}', "not valid JSON: trailing comma in object at byte 15"),
    (parse_say, b'{"text": "a\\x"}', "not valid JSON: invalid escaped character at byte 12"),
    (parse_say, b'{"text": "a", "volume": 01}', "not valid JSON: invalid number at byte 25"),
    (parse_say, b'{"text": "a\tb"}', "not valid JSON: invalid character at byte 11"),
    (parse_say, b"{hello}", "not valid JSON: object keys must be strings at byte 1"),
    # unknown fields
    (
        parse_say,
        b'{"text": "a", "colour": "red"}',
        'unknown field "colour"; allowed: text, id, voice, language, speed, emotion, loudness, '
        "pronunciation_dict_id, volume, priority, interrupt, clip, cache, ttl, at",
    ),
    (parse_stop, b'{"all": true}', 'unknown field "all"; allowed: id'),
    (
        parse_stream_chunk,
        b'{"id": "s", "txt": "a"}',
        'unknown field "txt"; allowed: id, text, final',
    ),
    # priority and the other enumerations
    (
        parse_say,
        b'{"text": "a", "priority": "urgent"}',
        '"priority": must be "normal" or "high", got "urgent"',
    ),
    (
        parse_say,
        b'{"text": "a", "priority": null}',
        '"priority": must be "normal" or "high", got null',
    ),
    (parse_say, b'{"text": "a", "priority": 1}', '"priority": must be "normal" or "high", got 1'),
    # volume
    (
        parse_say,
        b'{"text": "a", "volume": 150}',
        '"volume": must be an integer from 0 to 100, got 150',
    ),
    (
        parse_say,
        b'{"text": "a", "volume": -1}',
        '"volume": must be an integer from 0 to 100, got -1',
    ),
    (parse_volume, b"150", '"volume": must be an integer from 0 to 100, got 150'),
    (parse_volume, b"-5", '"volume": must be an integer from 0 to 100, got -5'),
    (parse_volume, b"loud", '"volume": must be an integer from 0 to 100, got "loud"'),
    (parse_volume, b'"35"', '"volume": must be an integer from 0 to 100, got "\\"35\\""'),
    (
        parse_volume,
        b'{"volume": 35}',
        '"volume": must be an integer from 0 to 100, got "{\\"volume\\": 35}"',
    ),
    (parse_volume, "٣٥".encode(), '"volume": must be an integer from 0 to 100, got "٣٥"'),
    (
        parse_volume,
        b"",
        '"volume": must be an integer from 0 to 100, got nothing (the payload is empty)',
    ),
    (parse_volume, b"3 5", '"volume": must be an integer from 0 to 100, got "3 5"'),
    # booleans are not numbers, numbers are not booleans, floats are not integers
    (
        parse_say,
        b'{"text": "a", "volume": true}',
        '"volume": must be an integer from 0 to 100, got true',
    ),
    (
        parse_say,
        b'{"text": "a", "speed": true}',
        '"speed": must be a number from 0.6 to 1.5, got true',
    ),
    (parse_say, b'{"text": "a", "interrupt": 1}', '"interrupt": must be true or false, got 1'),
    (parse_say, b'{"text": "a", "cache": "yes"}', '"cache": must be true or false, got "yes"'),
    (parse_volume, b"true", '"volume": must be an integer from 0 to 100, got true'),
    (
        parse_say,
        b'{"text": "a", "volume": 50.0}',
        '"volume": must be an integer from 0 to 100, got 50.0',
    ),
    (
        parse_say,
        b'{"text": "a", "volume": 1e1}',
        '"volume": must be an integer from 0 to 100, got 1e1',
    ),
    (parse_volume, b"35.0", '"volume": must be an integer from 0 to 100, got 35.0'),
    (
        parse_say,
        b'{"text": "a", "at": 1.7e12}',
        f'"at": must be epoch milliseconds, an integer from 0 to {MAX_AT_MS}, got 1.7e12',
    ),
    # other ranges and shapes
    (parse_say, b'{"text": "a", "speed": 2}', '"speed": must be a number from 0.6 to 1.5, got 2'),
    (
        parse_say,
        b'{"text": "a", "speed": 0.5}',
        '"speed": must be a number from 0.6 to 1.5, got 0.5',
    ),
    (
        parse_say,
        b'{"text": "a", "loudness": 2.01}',
        '"loudness": must be a number from 0.5 to 2.0, got 2.01',
    ),
    (
        parse_say,
        b'{"text": "a", "loudness": 0.4}',
        '"loudness": must be a number from 0.5 to 2.0, got 0.4',
    ),
    (
        parse_say,
        b'{"text": "a", "loudness": 50}',  # a playback volume sent as loudness
        '"loudness": must be a number from 0.5 to 2.0, got 50',
    ),
    (
        parse_say,
        b'{"text": "a", "loudness": "loud"}',
        '"loudness": must be a number from 0.5 to 2.0, got "loud"',
    ),
    (
        parse_say,
        b'{"text": "a", "volume": 1.5}',  # a loudness sent as volume
        '"volume": must be an integer from 0 to 100, got 1.5',
    ),
    (
        parse_say,
        b'{"text": "a", "pronunciation_dict_id": ""}',
        '"pronunciation_dict_id": must be a pronunciation dictionary id (1 to 128 letters, '
        "digits, '_', '.', ':', '-'), got \"\"",
    ),
    (
        parse_say,
        b'{"text": "a", "pronunciation_dict_id": "kids names"}',
        '"pronunciation_dict_id": must be a pronunciation dictionary id (1 to 128 letters, '
        "digits, '_', '.', ':', '-'), got \"kids names\"",
    ),
    (
        parse_say,
        b'{"text": "a", "ttl": 0}',
        '"ttl": must be a number of seconds, more than 0 and at most 86400, got 0',
    ),
    (
        parse_say,
        b'{"text": "a", "ttl": 86401}',
        '"ttl": must be a number of seconds, more than 0 and at most 86400, got 86401',
    ),
    (
        parse_say,
        b'{"text": "a", "at": -1}',
        f'"at": must be epoch milliseconds, an integer from 0 to {MAX_AT_MS}, got -1',
    ),
    (
        parse_say,
        b'{"text": "a", "id": ""}',
        '"id": must be a string of 1 to 128 printable characters, got ""',
    ),
    (
        parse_say,
        b'{"text": "a", "id": "a\\nb"}',
        '"id": must be a string of 1 to 128 printable characters, got "a\\nb"',
    ),
    (
        parse_say,
        b'{"text": "a", "id": 7}',
        '"id": must be a string of 1 to 128 printable characters, got 7',
    ),
    (
        parse_say,
        b'{"text": "a", "language": "English"}',
        '"language": must be a language code such as "en" or "pt-BR", got "English"',
    ),
    (
        parse_say,
        b'{"text": "a", "voice": "a b"}',
        "\"voice\": must be a voice id (letters, digits, '_', '.', ':', '-'), got \"a b\"",
    ),
    *[
        (
            parse_say,
            js({"clip": clip}),
            "\"clip\": must be a file name of 1 to 128 letters, digits, '_', '.' or '-', "
            f"not starting with '.', got {json.dumps(clip)}",
        )
        for clip in ["../etc/passwd", "a/b.wav", ".hidden", "..", "", "a\\\\b", "bell .wav"]
    ],
    (
        parse_say,
        b'{"text": "a", "emotion": "joyful"}',
        f'"emotion": must be one of Cartesia\'s emotions ({", ".join(EMOTIONS)}), got "joyful"',
    ),
    # stop, stream and Hermes shapes
    (
        parse_stop,
        b"all",
        'the payload must be empty or a JSON object like {"id": "..."}, got "all"',
    ),
    (parse_stop, b'{"id": ""}', '"id": must be a string of 1 to 128 printable characters, got ""'),
    (parse_stream_chunk, b'{"text": "a"}', '"id" is required'),
    (
        parse_stream_chunk,
        b'{"id": "s"}',
        '"text" is required (it may be left out only when "final" is true)',
    ),
    (
        parse_stream_chunk,
        b'{"id": "s", "text": ""}',
        "text is empty (only the final chunk may be empty)",
    ),
    (
        parse_stream_chunk,
        b'{"id": "s", "text": "a", "final": 1}',
        '"final": must be true or false, got 1',
    ),
    (parse_stream_chunk, b'{"id": "s", "text": null}', '"text": must be a string, got null'),
    (
        parse_stream_chunk,
        b"",
        'the payload must be a JSON object like {"id": ..., "text": ..., "final": ...}, '
        "got nothing (the payload is empty)",
    ),
    (
        parse_hermes_say,
        b"hello",
        'the payload must be a JSON object like {"text": ..., "siteId": ..., "id": ..., '
        '"lang": ...}, got "hello"',
    ),
    (parse_hermes_say, b'{"siteId": "default"}', '"text" is required'),
    (parse_hermes_say, b'{"text": "  "}', "text is empty (only whitespace)"),
    (
        parse_hermes_say,
        b'{"text": "a", "siteId": 3}',
        '"siteId": must be a string of 1 to 128 printable characters, got 3',
    ),
]


@pytest.mark.parametrize(("parser", "payload", "expected"), NASTIES)
def test_rejected_with_reason(parser: Parser, payload: bytes, expected: str) -> None:
    assert reason(parser, payload) == expected


def test_the_byte_cap_is_inclusive() -> None:
    at_cap = b"{" + b" " * (MAX_PAYLOAD_BYTES - 13) + b'"text": "a"}'
    assert len(at_cap) == MAX_PAYLOAD_BYTES
    assert parse_say(at_cap).text == "a"
    assert reason(parse_say, at_cap + b" ") == "payload is 65537 bytes; the limit is 65536"


def test_reasons_never_echo_big_values() -> None:
    cases = [
        (parse_say, js({"text": "a", "priority": LONG[:60000]})),
        (parse_say, js({"text": "a", "voice": [LONG[:30000]]})),
        (parse_say, js({"text": "a", LONG[:60000]: 1})),
        (parse_say, js({"text": "a", "id": "é" * 20000})),
        (parse_volume, LONG[:60000].encode()),
        (parse_stop, LONG[:60000].encode()),
        (parse_say, js({"text": "a", "emotion": LONG[:60000]})),
    ]
    for parser, payload in cases:
        text = reason(parser, payload)
        assert "x" * 41 not in text and "é" * 41 not in text, text
        assert len(text) < 700  # the longest: the list of Cartesia's emotions
        assert "\n" not in text


# --- arbitrary input: typed, or exactly one Rejected ---


def check_any(payload: bytes) -> None:
    """Every parser returns its typed, valid object or raises Rejected, nothing else."""
    for parser, kind in PARSERS.items():
        try:
            result = parser(payload)
        except Rejected as exc:
            assert isinstance(exc.reason, str) and exc.reason.strip()
            assert len(exc.reason) < 1000
            continue
        assert type(result) is kind
        check_invariants(result)


CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")


def check_invariants(result: object) -> None:
    """What the rest of herald may trust without checking again."""
    if isinstance(result, SayCommand | HermesSay):
        assert result.text is not None or (isinstance(result, SayCommand) and result.clip)
        if result.text is not None:
            assert 1 <= len(result.text) <= 5000 and result.text == result.text.strip()
            assert not CONTROL.search(result.text)
            result.text.encode("utf-8")
        assert 1 <= len(result.id) <= 128 and result.id.isprintable()
    if isinstance(result, HermesSay):
        assert 1 <= len(result.site_id) <= 128 and result.site_id.isprintable()
        assert result.session_id is None or result.session_id.isprintable()
    if isinstance(result, SayCommand):
        assert result.speed is None or 0.6 <= result.speed <= 1.5
        assert result.loudness is None or 0.5 <= result.loudness <= 2.0
        assert result.pronunciation_dict_id is None or re.fullmatch(
            r"[A-Za-z0-9_.:-]{1,128}", result.pronunciation_dict_id
        )
        assert result.volume is None or 0 <= result.volume <= 100
        assert result.volume is None or type(result.volume) is int
        assert 0 < result.ttl <= 86400 and math.isfinite(result.ttl)
        assert result.at is None or 0 <= result.at <= MAX_AT_MS
        assert result.emotion is None or result.emotion in EMOTIONS
        assert result.clip is None or (
            "/" not in result.clip and "\\" not in result.clip and not result.clip.startswith(".")
        )
        assert result.priority in ("normal", "high")
    if isinstance(result, StreamChunk):
        assert result.text or result.final
        assert not CONTROL.search(result.text) and len(result.text) <= 5000
    if isinstance(result, VolumeCommand):
        assert type(result.volume) is int and 0 <= result.volume <= 100


SAY_FIELDS = ["text", "id", "voice", "language", "speed", "emotion", "volume", "priority"]
SAY_FIELDS += ["interrupt", "clip", "cache", "ttl", "at", "loudness", "pronunciation_dict_id"]
ALL_FIELDS = [*SAY_FIELDS, "final", "siteId", "lang", "sessionId"]

scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=-(10**60), max_value=10**60)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.sampled_from([0, 1, 35, 100, 101, 0.6, 1.5, 60, "normal", "high", "happy", "door.wav"])
    | st.text(max_size=40)
    | st.sampled_from(["\ud800", "a\udc00", "\x00", "  ", "", "\u2028", "x" * 5001])
)
keys = st.sampled_from(ALL_FIELDS) | st.text(max_size=6)
json_values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(keys, children, max_size=4),
    max_leaves=10,
)
commands = st.dictionaries(keys, scalars | st.lists(scalars, max_size=2), max_size=6)

# Per say field: plausible values, good and bad, and any scalar.
FIELD_VALUES: dict[str, st.SearchStrategy[Any]] = {
    "text": st.text(max_size=20),
    "id": st.text(max_size=10),
    "voice": st.sampled_from(["f786b574-daa5-4673-aa0c-cbe3e8534c02", "a b", ""]),
    "language": st.sampled_from(["en", "pt-BR", "EN", "", "en_US"]),
    "speed": st.floats(0.5, 1.6) | st.integers(0, 2),
    "emotion": st.sampled_from([*EMOTIONS[:5], "joyful", "Happy"]),
    "volume": st.integers(-5, 105),
    "priority": st.sampled_from(["normal", "high", "urgent"]),
    "interrupt": st.booleans(),
    "clip": st.sampled_from(["bell.wav", "../x", ".a", "a-b_c.1"]),
    "cache": st.booleans(),
    "ttl": st.floats(-1, 90000) | st.integers(-1, 90000),
    "at": st.integers(-1, MAX_AT_MS + 1),
    "loudness": st.floats(0.4, 2.1) | st.integers(0, 100),
    "pronunciation_dict_id": st.sampled_from(["pdict_1", "", "a b", "x" * 129]),
}
printable = st.characters(blacklist_categories=("Cc", "Cs"))
valid_says = st.fixed_dictionaries(
    # Valid text has something to speak: a letter or a digit (issue 14).
    {"text": st.text(printable, min_size=1, max_size=60).filter(str.strip).filter(is_speakable)},
    optional={
        "id": st.text(printable, min_size=1, max_size=128).filter(str.isprintable),
        "voice": st.from_regex(r"[A-Za-z0-9_.:-]{1,40}", fullmatch=True),
        "language": st.sampled_from(["en", "de", "pt-BR", "zh-Hans"]),
        "speed": st.floats(0.6, 1.5) | st.integers(1, 1),
        "emotion": st.sampled_from(EMOTIONS),
        "volume": st.integers(0, 100),
        "priority": st.sampled_from(["normal", "high"]),
        "interrupt": st.booleans(),
        "clip": st.from_regex(r"[A-Za-z0-9_-][A-Za-z0-9_.-]{0,30}", fullmatch=True),
        "cache": st.booleans(),
        "ttl": st.floats(0.001, 86400) | st.integers(1, 86400),
        "at": st.integers(0, MAX_AT_MS),
        "loudness": st.floats(0.5, 2.0) | st.integers(1, 2),
        "pronunciation_dict_id": st.from_regex(r"[A-Za-z0-9_.:-]{1,128}", fullmatch=True),
    },
)


@st.composite
def say_objects(draw: st.DrawFn) -> dict[str, Any]:
    """A valid say with up to two fields replaced by plausible or arbitrary values."""
    value: dict[str, Any] = draw(valid_says)
    for name in draw(st.lists(st.sampled_from(SAY_FIELDS), max_size=2, unique=True)):
        value[name] = draw(FIELD_VALUES[name] | scalars)
    return value


def encode(value: object) -> bytes:
    # json.dumps writes NaN/Infinity and escapes lone surrogates as \udxxx: nasty on purpose.
    return json.dumps(value).encode()


def fuzz(examples: int) -> settings:
    return settings(
        max_examples=examples, deadline=None, suppress_health_check=[HealthCheck.too_slow]
    )


def assert_fields_as_sent(cmd: SayCommand, sent: dict[str, Any]) -> None:
    """Accepted: every field is what was sent (text stripped, integers as floats)."""
    for name, value in sent.items():
        got = getattr(cmd, name)
        if name == "id" and value is None:
            assert is_uuid4(got)
            continue
        expected = value.strip() if name == "text" and value is not None else value
        if name in ("speed", "ttl", "loudness") and type(value) is int:
            expected = float(value)
        assert got == expected and type(got) is type(expected), (name, got, expected)


@fuzz(1500)
@given(
    st.binary(max_size=300)
    | st.binary(max_size=5000).map(lambda b: b"{" + b)
    | st.text(max_size=300).map(lambda t: t.encode("utf-8", "surrogatepass"))
)
def test_arbitrary_bytes(payload: bytes) -> None:
    check_any(payload)


@fuzz(800)
@given(json_values | st.dictionaries(keys, json_values, max_size=5))
def test_arbitrary_json_values(value: object) -> None:
    check_any(encode(value))


@fuzz(800)
@given(commands)
def test_arbitrary_command_objects(value: dict[str, Any]) -> None:
    check_any(encode(value))


@fuzz(800)
@given(say_objects())
def test_say_objects_field_by_field(value: dict[str, Any]) -> None:
    payload = encode(value)
    check_any(payload)
    try:
        cmd = parse_say(payload)
    except Rejected:
        return
    assert_fields_as_sent(cmd, value)


@fuzz(400)
@given(valid_says)
def test_valid_says_are_accepted(value: dict[str, Any]) -> None:
    assert_fields_as_sent(parse_say(encode(value)), value)


VALID = [
    b"Hello there",
    js({"text": "Dinner", "priority": "high", "volume": 40, "speed": 1.1, "id": "d1"}),
    js({"clip": "bell.wav", "ttl": 5, "at": 1_700_000_000_000, "emotion": "calm"}),
    b'{"id": "s1", "text": " tok", "final": false}',
    b'{"text": "hi", "siteId": "kitchen", "id": "h1", "lang": "en", "sessionId": "x"}',
    b'{"id": "wash-1"}',
    b"",
    b" 35 ",
]


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(st.sampled_from(VALID)))
    for _ in range(draw(st.integers(1, 4))):
        position = draw(st.integers(0, len(data)))
        op = draw(st.sampled_from(["insert", "delete", "replace", "repeat"]))
        if op == "insert":
            data[position:position] = draw(
                st.binary(min_size=1, max_size=4)
                | st.sampled_from(
                    [b"{", b"[", b'"', b"\\", b"\\ud800", b"NaN", b",", b"}", b"\xff"]
                )
            )
        elif op == "delete":
            del data[position : position + draw(st.integers(1, 4))]
        elif op == "replace" and position < len(data):
            data[position] = draw(st.integers(0, 255))
        elif op == "repeat":
            data[position:position] = data[position : position + draw(st.integers(1, 12))]
    return bytes(data)


@fuzz(1500)
@given(mutated())
def test_mutated_valid_payloads(payload: bytes) -> None:
    check_any(payload)


def test_valid_seeds_are_valid() -> None:
    assert isinstance(parse_say(VALID[0]), SayCommand)
    assert parse_say(VALID[1]).priority == "high"
    assert parse_say(VALID[2]).clip == "bell.wav"
    assert parse_stream_chunk(VALID[3]).text == " tok"
    assert parse_hermes_say(VALID[4]).site_id == "kitchen"
    assert parse_stop(VALID[5]).id == "wash-1"
    assert parse_stop(VALID[6]).id is None
    assert parse_volume(VALID[7]).volume == 35


def test_msgspec_alone_would_accept_duplicates() -> None:
    """Why the parser checks duplicate keys itself: msgspec keeps the last one silently."""
    assert msgspec.json.decode(b'{"a": 1, "a": 2}') == {"a": 2}


@pytest.mark.parametrize(
    ("payload", "shown"),
    [
        (b"...", '"..."'),
        ("\u200b\u200b".encode(), '"\u200b\u200b"'),
        ("\ufeff\ufeff".encode(), '"\ufeff"'),
        (js({"text": "?!"}), '"?!"'),
        (js({"text": "🔔"}), '"🔔"'),
    ],
)
def test_a_text_with_nothing_to_speak_is_rejected(payload: bytes, shown: str) -> None:
    assert reason(parse_say, payload) == f"text has nothing to speak (no letter or digit): {shown}"
