"""The offline voice: Piper, loaded lazily (see `herald.local_voice.piper`)."""

from herald.local_voice.piper import (
    LocalVoice,
    LocalVoiceError,
    PiperVoice,
    bundled_model_path,
    unavailable_reason,
)

__all__ = [
    "LocalVoice",
    "LocalVoiceError",
    "PiperVoice",
    "bundled_model_path",
    "unavailable_reason",
]
