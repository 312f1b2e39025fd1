"""Cartesia's TTS WebSocket messages, built and parsed without any I/O.

The server's frames are JSON objects told apart by ``type``. Everything here is
tolerant of what a newer server might add (unknown fields, unknown types, errors
without a context) because a frame we do not understand must never take the
connection down.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Any

import msgspec

from herald.cartesia.errors import CartesiaError, error_from
from herald.voice import VoiceParams


def request_body(params: VoiceParams) -> dict[str, Any]:
    """What every synthesis request carries, WebSocket or ``/tts/bytes``: model, voice,
    output format, language, and ``generation_config`` / ``pronunciation_dict_id`` only
    when set (absent means Cartesia's own default)."""
    body: dict[str, Any] = {
        "model_id": params.model,
        # The one shape every API version accepts (2026-08-14 also takes a bare id).
        "voice": {"mode": "id", "id": params.voice},
        "output_format": {
            "container": "raw",
            "encoding": params.encoding,
            "sample_rate": params.sample_rate,
        },
    }
    if params.language is not None:
        body["language"] = params.language
    generation = {
        name: value
        for name, value in (
            ("speed", params.speed),
            ("emotion", params.emotion),
            ("volume", params.volume),
        )
        if value is not None
    }
    if generation:
        body["generation_config"] = generation
    if params.pronunciation_dict_id is not None:
        body["pronunciation_dict_id"] = params.pronunciation_dict_id
    return body


def _generation_body(params: VoiceParams) -> dict[str, Any]:
    body = request_body(params)
    # Word timestamps tell where to resume if the socket drops mid-utterance.
    body["add_timestamps"] = True
    # herald aggregates text itself (first push >= 4 words, then sentences); the
    # server's own buffering on top of that only adds delay.
    body["max_buffer_delay_ms"] = 0
    return body


_encoder = msgspec.json.Encoder()


def generation_request(
    context_id: str, params: VoiceParams, transcript: str, *, more: bool
) -> bytes:
    """One generation request; ``more=False`` closes the context's input."""
    body = _generation_body(params)
    body["context_id"] = context_id
    body["transcript"] = transcript
    body["continue"] = more
    return _encoder.encode(body)


def cancel_request(context_id: str) -> bytes:
    return _encoder.encode({"context_id": context_id, "cancel": True})


# --- server frames ---------------------------------------------------------


class _WordTimestamps(msgspec.Struct):
    words: list[str] = []
    start: list[float] = []
    end: list[float] = []


class _Frame(msgspec.Struct):
    type: str | None = None
    context_id: str | None = None
    data: str | None = None
    done: bool | None = None
    status_code: int | None = None
    step_time: float | None = None
    flush_id: int | None = None
    word_timestamps: _WordTimestamps | None = None
    error: str | None = None
    title: str | None = None
    message: str | None = None
    error_code: str | None = None
    request_id: str | None = None


_decoder = msgspec.json.Decoder(_Frame)


@dataclass(frozen=True, slots=True)
class Audio:
    data: bytes


@dataclass(frozen=True, slots=True)
class Words:
    words: tuple[str, ...]
    start: tuple[float, ...]
    end: tuple[float, ...]


@dataclass(frozen=True, slots=True)
class Done:
    pass


@dataclass(frozen=True, slots=True)
class Failed:
    error: CartesiaError


@dataclass(frozen=True, slots=True)
class Ignored:
    """A frame that carries nothing for the utterance (flush_done, unknown type)."""

    type: str | None


Event = Audio | Words | Done | Failed | Ignored


@dataclass(frozen=True, slots=True)
class Frame:
    context_id: str | None
    event: Event


class MalformedFrame(ValueError):
    pass


def parse_frame(raw: str | bytes) -> Frame:
    """Parse one server frame; raises MalformedFrame if it is not a JSON object we can read."""
    try:
        frame = _decoder.decode(raw)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise MalformedFrame(f"unreadable frame from Cartesia: {str(exc)[:200]}") from None
    except RecursionError:  # a hostile frame nested a thousand levels deep
        raise MalformedFrame("unreadable frame from Cartesia: nested too deep") from None
    return Frame(frame.context_id, _event_of(frame))


def _event_of(frame: _Frame) -> Event:
    kind = frame.type
    if kind == "chunk":
        if frame.data is None:
            return Ignored(kind)
        try:
            return Audio(base64.b64decode(frame.data, validate=True))
        except binascii.Error:
            return Failed(CartesiaError(None, "Cartesia sent audio that is not valid base64"))
    if kind == "timestamps" and frame.word_timestamps is not None:
        ts = frame.word_timestamps
        return Words(tuple(ts.words), tuple(ts.start), tuple(ts.end))
    if kind == "done":
        return Done()
    if kind == "error":
        return Failed(
            error_from(
                frame.status_code,
                title=frame.title,
                message=frame.message,
                error_code=frame.error_code,
                request_id=frame.request_id,
                legacy=frame.error,
            )
        )
    return Ignored(kind)
