"""Validation of generation requests, shared by the WebSocket and /tts/bytes."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from .codecs import ENCODINGS
from .errors import ApiError, invalid_request
from .voices import EMBEDDING_SIZE, EMBEDDINGS_UNTIL, Catalogue

MODELS = frozenset(
    {
        "sonic-3.5",
        "sonic-3",
        "sonic-latest",
        "sonic-2",
        "sonic-turbo",
        "sonic",
        "sonic-english",
        "sonic-multilingual",
    }
)
# Dated snapshots: sonic-3.5-2026-05-04, sonic-3-2025-10-27, sonic-2-2025-03-07, ...
_DATED_MODEL = re.compile(r"^sonic(?:-3\.5|-3|-2|-turbo)?-\d{4}-\d{2}-\d{2}$")
MIN_RATE, MAX_RATE = 8000, 48000
# generation_config (PY4 generation_config_param.py: "between [0.6, 1.5] inclusive",
# "[0.5, 2.0] inclusive"; the emotions of types/emotion.py).
SPEED_RANGE, VOLUME_RANGE = (0.6, 1.5), (0.5, 2.0)
_EMOTIONS_WORDS = (
    "neutral happy excited enthusiastic elated euphoric triumphant amazed surprised "
    "flirtatious curious content peaceful serene calm grateful affectionate trust "
    "sympathetic anticipation mysterious angry mad outraged frustrated agitated "
    "threatened disgusted contempt envious sarcastic ironic sad dejected melancholic "
    "disappointed hurt guilty bored tired rejected nostalgic wistful apologetic "
    "hesitant insecure confused resigned anxious panicked alarmed scared proud "
    "confident distant skeptical contemplative determined"
)
EMOTIONS = frozenset(_EMOTIONS_WORDS.split())


@dataclass(frozen=True)
class OutputFormat:
    container: str
    encoding: str
    sample_rate: int


@dataclass(frozen=True)
class Synthesis:
    """The fields that must stay the same for the whole of a context."""

    model_id: str
    voice: str  # a catalogue id, or "embedding:<hash>" for an embedding voice
    language: str | None
    output_format: OutputFormat


def parse_model(raw: object) -> str:
    if isinstance(raw, str) and (raw in MODELS or _DATED_MODEL.match(raw)):
        return raw
    # The OAS example: 400, error_code model_not_found, title "Invalid model".
    raise ApiError(
        400,
        "Invalid model",
        "The model is not valid, make sure it is a valid model ID.",
        "model_not_found",
    )


def parse_voice(raw: object, version: str, catalogue: Catalogue) -> str:
    """A voice id from any of the specifier shapes the versions allow.

    ``{"mode": "id", "id": ...}`` works everywhere; a bare id string or
    ``{"id": ...}`` (PY4, 2026-08-14) is accepted on all versions too, since
    older servers never saw them; embeddings only up to 2025-11-04.
    """
    if isinstance(raw, str):
        voice_id: object = raw
    elif isinstance(raw, Mapping):
        mode = raw.get("mode", "id")
        if mode == "embedding":
            return _embedding_voice(raw.get("embedding"), version)
        if mode != "id":
            raise invalid_request(f"Unknown voice mode {mode!r}.", "invalid_voice")
        voice_id = raw.get("id")
    else:
        raise invalid_request("A voice is required.", "invalid_voice")
    if not isinstance(voice_id, str) or voice_id not in catalogue:
        raise ApiError(400, "Voice not found", f"No voice with id {voice_id!r}.", "voice_not_found")
    return voice_id


def _embedding_voice(embedding: object, version: str) -> str:
    if version > EMBEDDINGS_UNTIL:
        raise invalid_request(
            "Voice embeddings are not accepted in this API version.", "invalid_voice"
        )
    if (
        not isinstance(embedding, list)
        or len(embedding) != EMBEDDING_SIZE
        or not all(isinstance(x, int | float) and not isinstance(x, bool) for x in embedding)
    ):
        raise invalid_request(
            f"A voice embedding must be {EMBEDDING_SIZE} numbers.", "invalid_voice"
        )
    return f"embedding:{hash(tuple(embedding)) & 0xFFFFFFFF:08x}"


def parse_output_format(raw: object, containers: tuple[str, ...]) -> OutputFormat:
    if not isinstance(raw, Mapping):
        raise invalid_request("output_format is required.", "invalid_output_format")
    container = raw.get("container")
    if container not in containers:
        raise invalid_request(
            f"output_format.container must be one of {', '.join(containers)}.",
            "invalid_output_format",
        )
    if container == "mp3":
        raise invalid_request("The emulator does not produce mp3.", "invalid_output_format")
    encoding = raw.get("encoding")
    if encoding not in ENCODINGS:
        raise invalid_request(
            f"output_format.encoding must be one of {', '.join(ENCODINGS)}.",
            "invalid_output_format",
        )
    rate = raw.get("sample_rate")
    if isinstance(rate, bool) or not isinstance(rate, int) or not MIN_RATE <= rate <= MAX_RATE:
        raise invalid_request(
            f"output_format.sample_rate must be an integer in [{MIN_RATE}, {MAX_RATE}].",
            "invalid_output_format",
        )
    return OutputFormat(str(container), str(encoding), rate)


def parse_language(msg: Mapping[str, object]) -> str | None:
    language = msg.get("language")
    if language is None:  # absent or null: auto-detect (Pipecat omits, LiveKit sends null)
        return None
    if not isinstance(language, str) or not language:
        raise invalid_request("language must be a language code.", "invalid_language")
    return language


def parse_generation(msg: Mapping[str, object]) -> None:
    """Check ``generation_config`` and ``pronunciation_dict_id``, or raise ApiError(400)."""
    config = msg.get("generation_config")
    if config is not None:
        if not isinstance(config, Mapping):
            raise invalid_request("generation_config must be an object.")
        for key, value in config.items():
            if key in ("speed", "volume"):
                low, high = SPEED_RANGE if key == "speed" else VOLUME_RANGE
                if (
                    isinstance(value, bool)
                    or not isinstance(value, int | float)
                    or not low <= value <= high
                ):
                    raise invalid_request(
                        f"generation_config.{key} must be a number in [{low}, {high}]."
                    )
            elif key == "emotion":
                if value not in EMOTIONS:
                    raise invalid_request(f"generation_config.emotion {value!r} is not supported.")
            else:
                raise invalid_request(f"generation_config has no field {key!r}.")
    dict_id = msg.get("pronunciation_dict_id")
    if dict_id is not None and (not isinstance(dict_id, str) or not dict_id):
        raise invalid_request("pronunciation_dict_id must be a non-empty string.")


def parse_synthesis(
    msg: Mapping[str, object],
    version: str,
    catalogue: Catalogue,
    containers: tuple[str, ...] = ("raw",),
) -> Synthesis:
    """Validate model, voice, language, output format and the generation settings, or
    raise ApiError(400)."""
    parse_generation(msg)
    return Synthesis(
        model_id=parse_model(msg.get("model_id")),
        voice=parse_voice(msg.get("voice"), version, catalogue),
        language=parse_language(msg),
        output_format=parse_output_format(msg.get("output_format"), containers),
    )


def flag(msg: Mapping[str, object], name: str) -> bool:
    """A boolean field, absent meaning false; anything but a bool is a 400."""
    value = msg.get(name, False)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise invalid_request(f"{name} must be a boolean.")
    return value
