"""The offline voice: Piper, loaded lazily (see `herald.local_voice.piper`)."""

from herald.local_voice.piper import (
    LocalVoice as LocalVoice,
)
from herald.local_voice.piper import (
    LocalVoiceError as LocalVoiceError,
)
from herald.local_voice.piper import (
    PiperVoice as PiperVoice,
)
from herald.local_voice.piper import (
    bundled_model_path as bundled_model_path,
)
from herald.local_voice.piper import (
    unavailable_reason as unavailable_reason,
)
