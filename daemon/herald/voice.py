"""The settings that shape a say's audio: the voice and how it speaks.

Read by the cache (they are part of a clip's key), the Cartesia adapter (they are the
generation request), the local voice (the sample rate) and the speech layer, so the
type lives here, outside all of them.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class VoiceParams:
    """Every generation request of one context repeats these, so they are fixed per
    utterance."""

    model: str
    voice: str  # a Cartesia voice id
    language: str | None
    sample_rate: int
    encoding: str = "pcm_s16le"
    speed: float | None = None
    emotion: str | None = None
    volume: float | None = None  # generation_config.volume (herald's "loudness")
    pronunciation_dict_id: str | None = None
