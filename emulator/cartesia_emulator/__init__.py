"""A local emulator of Cartesia's TTS API (WebSocket + REST) for tests and benchmarks,
faithful to the service as of ``SERVICE_DATE`` (December 2026).

Never imported by the daemon. See ``Emulator`` for the server, ``Faults`` for
the fault switches and ``synth_pcm`` for the audio any transcript produces
(``words_of`` gives the timestamp words of the same text).
"""

from .audio import synth_pcm, tone_samples, word_pcm, words_of
from .codecs import decode_pcm, encode_pcm, wav_header
from .errors import ApiError
from .faults import DEEP_FRAME_DEPTH, Faults
from .models import MODELS, SERVICE_DATE, current_models
from .records import Handshake, Received
from .server import Emulator
from .versions import LATEST, VERSIONS
from .voices import PRONUNCIATION_DICTS, VOICES, Catalogue, Voice

__all__ = [
    "DEEP_FRAME_DEPTH",
    "LATEST",
    "MODELS",
    "PRONUNCIATION_DICTS",
    "SERVICE_DATE",
    "VERSIONS",
    "VOICES",
    "ApiError",
    "Catalogue",
    "Emulator",
    "Faults",
    "Handshake",
    "Received",
    "Voice",
    "current_models",
    "decode_pcm",
    "encode_pcm",
    "synth_pcm",
    "tone_samples",
    "wav_header",
    "word_pcm",
    "words_of",
]
