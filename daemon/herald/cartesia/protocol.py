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

from herald.cartesia.errors import CartesiaError, error_for_status

# Every generation request on one context must repeat the same model, voice,
# language and format, so they are bundled and fixed per utterance.


@dataclass(frozen=True, slots=True)
class VoiceParams:
    model: str
    voice: str
    language: str | None
    sample_rate: int
    encoding: str = "pcm_s16le"
    speed: float | None = None
    emotion: str | None = None
    volume: float | None = None  # generation_config.volume (herald's "loudness")
    pronunciation_dict_id: str | None = None
    # A voice given by embedding (API versions up to 2025-11-04); ``voice`` then only
    # names it (the cache and the logs show it).
    embedding: tuple[float, ...] | None = None


def voice_specifier(params: VoiceParams) -> dict[str, Any]:
    """The ``voice`` of a request: by id, or by embedding when the params carry one."""
    if params.embedding is not None:
        return {"mode": "embedding", "embedding": list(params.embedding)}
    return {"mode": "id", "id": params.voice}


def generation_fields(params: VoiceParams) -> dict[str, Any]:
    """``generation_config`` and ``pronunciation_dict_id``, each only when set."""
    fields: dict[str, Any] = {}
    generation: dict[str, Any] = {}
    if params.speed is not None:
        generation["speed"] = params.speed
    if params.emotion is not None:
        generation["emotion"] = params.emotion
    if params.volume is not None:
        generation["volume"] = params.volume
    if generation:
        fields["generation_config"] = generation
    if params.pronunciation_dict_id is not None:
        fields["pronunciation_dict_id"] = params.pronunciation_dict_id
    return fields


def _generation_body(params: VoiceParams) -> dict[str, Any]:
    body: dict[str, Any] = {
        "model_id": params.model,
        "voice": voice_specifier(params),
        "output_format": {
            "container": "raw",
            "encoding": params.encoding,
            "sample_rate": params.sample_rate,
        },
        # Word timestamps tell where to resume if the socket drops mid-utterance.
        "add_timestamps": True,
        # herald aggregates text itself (first push >= 4 words, then sentences);
        # the server's own buffering on top of that only adds delay.
        "max_buffer_delay_ms": 0,
    }
    if params.language is not None:
        body["language"] = params.language
    body.update(generation_fields(params))
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
        raise MalformedFrame(f"unreadable frame from Cartesia: {exc}") from None
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
        return Failed(error_for_status(frame.status_code, _error_text(frame), frame.error_code))
    return Ignored(kind)


def _error_text(frame: _Frame) -> str:
    if frame.title or frame.message:
        # Structured errors (2026-03-01 and later); the SDK joins them the same way.
        return ": ".join(part for part in (frame.title, frame.message) if part)
    return frame.error or "unspecified error"
