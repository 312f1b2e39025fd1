"""What Cartesia accepts for a voice and its generation settings, and mixing voices.

Pure data and functions, shared by the config (defaults under [cartesia]), the MQTT
payload parsers (per-say fields) and the CLI, so each checks the same ranges.

Sources: the official SDK's `types/generation_config_param.py` (speed 0.6-1.5, volume
0.5-2.0, "inclusive") and `types/emotion.py` (the emotions); the protocol notes
(section 1 and 3.1) for embeddings: `{"mode": "embedding", "embedding": [192 floats]}`
is accepted up to Cartesia-Version 2025-11-04 (PY3 rolled back to that version "to
support voice embedding"; 2026-08-14 no longer takes them).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Final

__all__ = [
    "EMBEDDINGS_UNTIL",
    "EMBEDDING_SIZE",
    "EMOTIONS",
    "MAX_LOUDNESS",
    "MAX_SPEED",
    "MIN_LOUDNESS",
    "MIN_SPEED",
    "embeddings_accepted",
    "mix_embeddings",
]

MIN_SPEED, MAX_SPEED = 0.6, 1.5  # generation_config.speed
# generation_config.volume: herald calls it "loudness", as a say's `volume` is already
# the playback volume 0-100.
MIN_LOUDNESS, MAX_LOUDNESS = 0.5, 2.0

EMOTIONS: Final = (
    *("neutral", "happy", "excited", "enthusiastic", "elated", "euphoric", "triumphant"),
    *("amazed", "surprised", "flirtatious", "curious", "content", "peaceful", "serene"),
    *("calm", "grateful", "affectionate", "trust", "sympathetic", "anticipation"),
    *("mysterious", "angry", "mad", "outraged", "frustrated", "agitated", "threatened"),
    *("disgusted", "contempt", "envious", "sarcastic", "ironic", "sad", "dejected"),
    *("melancholic", "disappointed", "hurt", "guilty", "bored", "tired", "rejected"),
    *("nostalgic", "wistful", "apologetic", "hesitant", "insecure", "confused", "resigned"),
    *("anxious", "panicked", "alarmed", "scared", "proud", "confident", "distant"),
    *("skeptical", "contemplative", "determined"),
)

EMBEDDINGS_UNTIL: Final = "2025-11-04"  # the last Cartesia-Version that takes embeddings
EMBEDDING_SIZE: Final = 192


def embeddings_accepted(version: str) -> bool:
    """Whether Cartesia-Version ``version`` (YYYY-MM-DD) accepts a voice by embedding."""
    # ISO dates compare correctly as strings.
    return version <= EMBEDDINGS_UNTIL


def mix_embeddings(parts: Sequence[tuple[Sequence[float], float]]) -> tuple[float, ...]:
    """The weighted average of embeddings: ``[(embedding, weight), ...]``.

    Weights are relative (3 and 1 is 75 % and 25 %); each must be above 0 and the
    embeddings of equal length. This is the mixing Cartesia's docs show ("blend two
    voices": the element-wise average), done locally: the result is a pure function
    of the config, so it needs no request at start and keys the clip cache stably.
    """
    if not parts:
        raise ValueError("nothing to mix")
    size = len(parts[0][0])
    if any(len(embedding) != size for embedding, _ in parts):
        raise ValueError("embeddings of different lengths")
    if any(not (weight > 0 and math.isfinite(weight)) for _, weight in parts):
        raise ValueError("weights must be finite and above 0")
    total = math.fsum(weight for _, weight in parts)
    return tuple(
        math.fsum(embedding[i] * weight for embedding, weight in parts) / total for i in range(size)
    )
