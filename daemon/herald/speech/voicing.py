"""How a say is voiced: the configured defaults and the text transforms. One object
per config, used by the speaker for every say and by `herald say` and `herald cache
warm`, so all three send Cartesia the same request for the same text (and so find each
other's clips in the cache).

The transformed text carries Cartesia's tags; `PlainTextVoice` hands the local voice,
which reads text literally, the same text without them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from herald.speech import transforms as text_transforms
from herald.voice import VoiceParams

if TYPE_CHECKING:
    from herald.config import Config
    from herald.local_voice import LocalVoice

__all__ = ["PlainTextVoice", "Voicing", "voice_defaults"]


def voice_defaults(cfg: Config) -> VoiceParams:
    """The voice of a say that sets nothing itself: everything from [cartesia]."""
    c = cfg.cartesia
    voice = c.voice_id(c.voice)
    return VoiceParams(
        model=c.model,
        voice=voice,
        language=c.language,
        sample_rate=cfg.audio.sample_rate,
        speed=c.speed,
        emotion=c.emotion,
        volume=c.loudness,
        pronunciation_dict_id=c.pronunciation_dict_id or None,
    )


@dataclass(frozen=True, slots=True)
class Voicing:
    """The text transforms of the config."""

    transforms: tuple[text_transforms.Transform, ...] = ()

    @classmethod
    def from_config(cls, cfg: Config) -> Voicing:
        return cls(cfg.transforms)

    def text(self, text: str) -> str:
        """``text`` as it is sent to Cartesia: the transforms applied, in order."""
        return text_transforms.apply(text, self.transforms)


class PlainTextVoice:
    """A local voice given the words without Cartesia's tags (Piper would read a
    ``<spell>`` tag out loud); otherwise the voice it wraps."""

    def __init__(self, voice: LocalVoice) -> None:
        self._voice = voice

    @property
    def loaded(self) -> bool:
        return self._voice.loaded

    @property
    def native_rate(self) -> int | None:
        return self._voice.native_rate

    async def load(self) -> None:
        await self._voice.load()

    def synthesize(self, text: str) -> AsyncIterator[bytes]:
        return self._voice.synthesize(text_transforms.strip_markup(text))
