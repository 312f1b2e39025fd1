"""Cache keys: which utterances are "the same" and may share one clip.

Two requests share a clip only if every input that changes the audio is equal: the
normalized text (after the text transforms: the text Cartesia was sent), each field of
`VoiceParams` (model, voice, language, sample rate, encoding, speed, emotion, loudness,
pronunciation dictionary) and the source that made the audio. A clip the
local voice made is keyed apart, so it can never be served as Cartesia audio.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import unicodedata
from typing import Literal

from herald.voice import VoiceParams

__all__ = ["KEY_VERSION", "SOURCES", "Source", "clip_key", "is_key", "normalize_text"]

Source = Literal["cartesia", "local"]
SOURCES: tuple[Source, ...] = ("cartesia", "local")

# Bumped when the canonical encoding changes, so old clips are simply never hit again
# (and age out through LRU eviction) instead of being served under a new meaning.
KEY_VERSION = 1

# Fields added to VoiceParams after KEY_VERSION 1 go here: left out of the key while
# unset, so the clips made before they existed (which did not use them) keep their keys.
_ADDED_LATER: frozenset[str] = frozenset()

_WHITESPACE = re.compile(r"\s+")
_KEY = re.compile(r"[0-9a-f]{64}\Z")


def normalize_text(text: str) -> str:
    """Unicode NFC, runs of whitespace collapsed to one space, stripped.

    Case and punctuation are kept: they change how the text is spoken.
    """
    return _WHITESPACE.sub(" ", unicodedata.normalize("NFC", text)).strip()


def _canonical(value: object) -> object:
    # 1 and 1.0 are the same setting; bool is an int subclass but a different value.
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def clip_key(text: str, params: VoiceParams, source: Source) -> str:
    """The sha256 hex digest of a canonical encoding of the text and all its settings.

    Every field of `VoiceParams` takes part, including fields added later, so a new
    setting can never make two different sounds share a clip.
    """
    if source not in SOURCES:
        raise ValueError(f"source {source!r}: must be one of {', '.join(SOURCES)}")
    parts: dict[str, object] = {
        f.name: _canonical(getattr(params, f.name))
        for f in dataclasses.fields(params)
        if not (f.name in _ADDED_LATER and getattr(params, f.name) is None)
    }
    parts["text"] = normalize_text(text)
    parts["source"] = source
    parts["key_version"] = KEY_VERSION
    canonical = json.dumps(parts, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def is_key(name: str) -> bool:
    """Whether ``name`` looks like a key (64 lower-case hex digits)."""
    return _KEY.match(name) is not None
