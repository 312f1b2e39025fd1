"""Sans-I/O pieces of the Cartesia client: messages, frames, backoff, text splitting."""

from __future__ import annotations

import base64
import contextlib
import json
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from herald.backoff import Backoff
from herald.cartesia.errors import KeyRejected, RateLimited, RequestRejected, ServerError
from herald.cartesia.protocol import (
    Audio,
    Done,
    Failed,
    Ignored,
    MalformedFrame,
    Words,
    cancel_request,
    generation_request,
    parse_frame,
)
from herald.text import ready_for_first_push, split_sentences
from herald.voice import VoiceParams

PARAMS = VoiceParams(model="sonic-3", voice="v1", language="en", sample_rate=24000)


def test_generation_request_has_the_documented_shape() -> None:
    msg = json.loads(generation_request("ctx", PARAMS, "Hello there. ", more=True))
    assert msg == {
        "context_id": "ctx",
        "model_id": "sonic-3",
        "transcript": "Hello there. ",
        "voice": {"mode": "id", "id": "v1"},
        "language": "en",
        "output_format": {"container": "raw", "encoding": "pcm_s16le", "sample_rate": 24000},
        "add_timestamps": True,
        "max_buffer_delay_ms": 0,
        "continue": True,
    }


def test_generation_config_only_when_set() -> None:
    params = VoiceParams(
        model="sonic-3", voice="v", language=None, sample_rate=16000, speed=1.2, emotion="calm"
    )
    msg = json.loads(generation_request("c", params, "x", more=False))
    assert msg["generation_config"] == {"speed": 1.2, "emotion": "calm"}
    assert "language" not in msg
    assert msg["continue"] is False


def test_cancel_request() -> None:
    assert json.loads(cancel_request("c1")) == {"context_id": "c1", "cancel": True}


def test_parse_chunk_timestamps_done() -> None:
    data = base64.b64encode(b"\x01\x02\x03\x04").decode()
    chunk = parse_frame(
        json.dumps(
            {
                "type": "chunk",
                "data": data,
                "context_id": "a",
                "done": False,
                "status_code": 206,
                "step_time": 12.5,
            }
        )
    )
    assert chunk.context_id == "a"
    assert chunk.event == Audio(b"\x01\x02\x03\x04")
    ts = parse_frame(
        json.dumps(
            {
                "type": "timestamps",
                "context_id": "a",
                "word_timestamps": {"words": ["Hi"], "start": [0.0], "end": [0.2]},
            }
        )
    )
    assert ts.event == Words(("Hi",), (0.0,), (0.2,))
    assert parse_frame('{"type":"done","done":true,"context_id":"a"}').event == Done()


@pytest.mark.parametrize(
    ("frame", "kind", "text"),
    [
        (
            {"type": "error", "error": "Invalid model: bad", "status_code": 400},
            RequestRejected,
            "Invalid model: bad",
        ),
        (
            {
                "type": "error",
                "title": "Too many",
                "message": "slow down",
                "status_code": 429,
                "error_code": "concurrency_limited",
                "request_id": "r",
            },
            RateLimited,
            "Too many: slow down",
        ),
        ({"type": "error", "error": "oops", "status_code": 503}, ServerError, "oops"),
        ({"type": "error", "error": "key", "status_code": 401}, KeyRejected, "key"),
    ],
)
def test_errors_in_both_shapes_become_typed(
    frame: dict[str, object], kind: type, text: str
) -> None:
    event = parse_frame(json.dumps(frame)).event
    assert isinstance(event, Failed)
    assert isinstance(event.error, kind)
    assert event.error.message == text


def test_unknown_and_control_frames_are_tolerated() -> None:
    assert parse_frame('{"type":"flush_done","flush_id":1,"context_id":"a"}').event == Ignored(
        "flush_done"
    )
    assert parse_frame('{"type":"something_new","extra":[1,2]}').event == Ignored("something_new")
    assert parse_frame('{"type":"phoneme_timestamps","context_id":"a"}').event == Ignored(
        "phoneme_timestamps"
    )


def test_bad_base64_fails_the_context_not_the_socket() -> None:
    event = parse_frame('{"type":"chunk","data":"@@@","context_id":"a"}').event
    assert isinstance(event, Failed)


@given(st.one_of(st.binary(), st.text()))
def test_garbage_frames_raise_only_malformed(raw: bytes | str) -> None:
    with contextlib.suppress(MalformedFrame):
        parse_frame(raw)


def test_backoff_doubles_up_to_the_cap_with_bounded_jitter() -> None:
    b = Backoff(initial=0.5, cap=30.0, rng=random.Random(3))
    delays = [b.next_delay() for _ in range(10)]
    steps = [0.5, 1, 2, 4, 8, 16, 30, 30, 30, 30]
    for d, s in zip(delays, steps, strict=True):
        assert 0.75 * s <= d <= s
    b.reset()
    assert b.next_delay() <= 0.5


@pytest.mark.parametrize(
    ("text", "parts"),
    [
        ("Hello there. How are you? Fine!", ["Hello there. ", "How are you? ", "Fine!"]),
        ("No end", ["No end"]),
        ("Wait... what?  OK.", ["Wait... ", "what?  ", "OK."]),
        ('He said "go." Then left.', ['He said "go." ', "Then left."]),
        ("3.14 is pi.", ["3.14 is pi."]),
        ("", []),
    ],
)
def test_split_sentences(text: str, parts: list[str]) -> None:
    assert split_sentences(text) == parts


@given(st.text())
def test_split_sentences_is_lossless(text: str) -> None:
    assert "".join(split_sentences(text)) == text


@pytest.mark.parametrize(
    ("text", "ready"),
    [
        ("Hi", False),
        ("Hi there you", False),
        ("one two three four", True),
        ("Hi!", True),
        ("Stop. ", True),
    ],
)
def test_first_push_rule(text: str, ready: bool) -> None:
    assert ready_for_first_push(text, 4) is ready
