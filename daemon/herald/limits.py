"""What Cartesia accepts for a voice and its generation settings.

Pure data and functions, shared by the config (defaults under [cartesia]), the MQTT
payload parsers (per-say fields) and the CLI, so each checks the same ranges.

Sources: the official SDK's `types/generation_config_param.py` (speed 0.6-1.5, volume
0.5-2.0, "inclusive") and `types/emotion.py` (the emotions). Voices by embedding, and
so mixes of voices, are gone from Cartesia since 2026-06-01, on every API version
(docs.cartesia.ai tts-models/api-changes).
"""

from __future__ import annotations

from typing import Final

__all__ = [
    "EMOTIONS",
    "MAX_LOUDNESS",
    "MAX_SPEED",
    "MIN_LOUDNESS",
    "MIN_SPEED",
    "MIXING_REMOVED",
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

# What a config or command that still uses Cartesia's removed voice mixing is told.
MIXING_REMOVED: Final = (
    "Cartesia removed voice embeddings and mixing on 2026-06-01; "
    "clone the voice you want with `herald voices clone FILE --name NAME` "
    "and use its id (cartesia.voice, or a name under cartesia.voices)"
)
