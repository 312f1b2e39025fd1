"""Validation of generation requests, shared by the WebSocket and /tts/bytes."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Set
from dataclasses import dataclass
from typing import Protocol

from .codecs import ENCODINGS
from .errors import ApiError, invalid_request
from .models import SUPPORTED_LANGUAGES, check_model
from .versions import NOT_FOUND_IS_404, VOICE_SHORTHAND, since
from .voices import Catalogue

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


class Account(Protocol):
    """What validation needs to know of the caller's account and of the day."""

    @property
    def catalogue(self) -> Catalogue: ...

    @property
    def pronunciation_dicts(self) -> Set[str]: ...

    @property
    def today(self) -> dt.date: ...


@dataclass(frozen=True)
class OutputFormat:
    container: str
    encoding: str
    sample_rate: int


@dataclass(frozen=True)
class Synthesis:
    """The fields that must stay the same for the whole of a context."""

    model_id: str
    voice: str  # a catalogue id
    language: str | None
    output_format: OutputFormat


def embeddings_gone() -> ApiError:
    # Embedding voices are refused on every version since 2026-06-01 [C-changes]
    # ("stopped accepting voice embeddings"); the docs show no error text for it.
    return invalid_request(
        "Voice embeddings are no longer supported (discontinued 2026-06-01). "
        'Use a voice id: {"mode": "id", "id": "<voice id>"}.',
        "invalid_voice",
    )


def parse_voice(raw: object, version: str, catalogue: Catalogue) -> str:
    """A voice id from the specifier shapes ``version`` allows.

    Up to 2026-03-01 only ``{"mode": "id", "id": ...}``: ``mode`` is a required
    literal in FERN's TTSRequestVoiceSpecifier (2025-04-16) and the OAS. From
    2026-08-14 also a bare id string or ``{"id": ...}`` (PY4
    ``voice_specifier_param.py``: ``Union[str, TTSRequestVoiceObject]``, extra keys
    allowed, so the ``mode`` form still passes). Embeddings never (see above).
    """
    shorthand = since(version, VOICE_SHORTHAND)
    if isinstance(raw, str) and shorthand:
        voice_id: object = raw
    elif isinstance(raw, Mapping):
        mode = raw.get("mode")
        if mode == "embedding" or ("embedding" in raw and "id" not in raw):
            raise embeddings_gone()
        if mode is None and not shorthand:
            raise invalid_request('voice.mode is required ("id").', "invalid_voice")
        if mode is not None and mode != "id":
            raise invalid_request(f"Unknown voice mode {mode!r}.", "invalid_voice")
        voice_id = raw.get("id")
    elif isinstance(raw, str):
        raise invalid_request(
            'voice must be an object {"mode": "id", "id": ...} in this API version.',
            "invalid_voice",
        )
    else:
        raise invalid_request("A voice is required.", "invalid_voice")
    if not isinstance(voice_id, str) or not voice_id:
        raise invalid_request("voice.id must be a voice id.", "invalid_voice")
    if voice_id not in catalogue:
        # 404 from 2026-03-01 "instead of ambiguous errors" (changelog March 2026);
        # before, the emulator keeps the 400 it always answered.
        status = 404 if since(version, NOT_FOUND_IS_404) else 400
        raise ApiError(
            status, "Voice not found", f"No voice with id {voice_id!r}.", "voice_not_found"
        )
    return voice_id


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
    if language not in SUPPORTED_LANGUAGES:
        raise ApiError(
            400,
            "Language not supported",
            f"Unsupported language {language!r}.",
            "language_not_supported",
        )
    return language


def parse_generation(msg: Mapping[str, object], version: str, account: Account) -> None:
    """Check ``generation_config`` and ``pronunciation_dict_id``, or raise ApiError."""
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
    if dict_id is None:
        return
    if not isinstance(dict_id, str) or not dict_id:
        raise invalid_request("pronunciation_dict_id must be a non-empty string.")
    if dict_id not in account.pronunciation_dicts:
        if since(version, NOT_FOUND_IS_404):
            raise ApiError(
                404,
                "Pronunciation dictionary not found",
                f"No pronunciation dictionary with id {dict_id!r}.",
                "pronunciation_dict_not_found",
            )
        # "Ambiguous errors" before 2026-03-01 (changelog March 2026): a 400 that
        # does not say what is wrong with it.
        raise invalid_request("Invalid pronunciation_dict_id.")


def parse_synthesis(
    msg: Mapping[str, object],
    version: str,
    account: Account,
    containers: tuple[str, ...] = ("raw",),
) -> Synthesis:
    """Validate model, voice, language, output format and the generation settings, or
    raise the ApiError the service answers."""
    language = parse_language(msg)
    model_id = check_model(msg.get("model_id"), language, account.today)
    voice = parse_voice(msg.get("voice"), version, account.catalogue)
    output_format = parse_output_format(msg.get("output_format"), containers)
    parse_generation(msg, version, account)
    return Synthesis(model_id, voice, language, output_format)


def flag(msg: Mapping[str, object], name: str) -> bool:
    """A boolean field, absent meaning false; anything but a bool is a 400."""
    value = msg.get(name, False)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise invalid_request(f"{name} must be a boolean.")
    return value
