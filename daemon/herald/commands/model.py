"""The commands, as frozen typed objects; each field's type carries its constraints and,
as its description, the words a reason uses for what is allowed ("an integer from 0 to
100"). The parsers convert JSON members with these types (`herald.validate`), so a
field is defined once: here."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Annotated, Final, Literal

import msgspec
from msgspec import Meta

from herald.commands.text import MAX_ID_CHARS
from herald.limits import EMOTIONS, MAX_LOUDNESS, MAX_SPEED, MIN_LOUDNESS, MIN_SPEED

__all__ = [
    "MAX_AT_MS",
    "MAX_TTL_S",
    "HermesSay",
    "Priority",
    "SayCommand",
    "StopCommand",
    "StreamChunk",
    "VolumeCommand",
    "new_id",
]

Priority = Literal["normal", "high"]

MAX_AT_MS: Final = 253_402_300_799_999  # 9999-12-31T23:59:59.999Z
MAX_TTL_S: Final = 86_400.0

ID_WORDS: Final = f"a string of 1 to {MAX_ID_CHARS} printable characters"
VOLUME_WORDS: Final = "an integer from 0 to 100"


def new_id() -> str:
    """The id of a command that came without one: a random UUID."""
    return str(uuid.uuid4())


# Each JSON field: its type (constraints included) and the words for what is allowed.
Text = Annotated[str | None, Meta(description="a string")]
AnyText = Annotated[str, Meta(description="a string")]
Id = Annotated[
    Annotated[str, Meta(min_length=1, max_length=MAX_ID_CHARS)], Meta(description=ID_WORDS)
]
OptionalId = Annotated[
    Annotated[str, Meta(min_length=1, max_length=MAX_ID_CHARS)] | None, Meta(description=ID_WORDS)
]
# Checked after (`check_id`), so that "" gets the same words; null: absent.
SayId = Annotated[str, Meta(description=ID_WORDS)]
LooseId = Annotated[str | None, Meta(description=ID_WORDS)]
Voice = Annotated[
    Annotated[str, Meta(pattern=r"^[A-Za-z0-9_.:-]{1,128}\Z")] | None,
    Meta(description="a voice id (letters, digits, '_', '.', ':', '-')"),
]
Language = Annotated[
    Annotated[str, Meta(pattern=r"^[a-z]{2,3}(?:-[A-Za-z0-9]{2,8})*\Z")] | None,
    Meta(description='a language code such as "en" or "pt-BR"'),
]
Speed = Annotated[
    Annotated[float, Meta(ge=MIN_SPEED, le=MAX_SPEED)] | None,
    Meta(description=f"a number from {MIN_SPEED} to {MAX_SPEED}"),
]
if TYPE_CHECKING:
    Emotion = str
else:
    Emotion = Literal[EMOTIONS]
EmotionField = Annotated[
    Emotion | None,
    Meta(description=f"one of Cartesia's emotions ({', '.join(EMOTIONS)})"),
]
Loudness = Annotated[
    Annotated[float, Meta(ge=MIN_LOUDNESS, le=MAX_LOUDNESS)] | None,
    Meta(description=f"a number from {MIN_LOUDNESS} to {MAX_LOUDNESS}"),
]
DictId = Annotated[
    Annotated[str, Meta(pattern=r"^[A-Za-z0-9_.:-]{1,128}\Z")] | None,
    Meta(
        description="a pronunciation dictionary id (1 to 128 letters, digits, '_', '.', ':', '-')"
    ),
]
Volume = Annotated[Annotated[int, Meta(ge=0, le=100)] | None, Meta(description=VOLUME_WORDS)]
PriorityField = Annotated[Priority, Meta(description='"normal" or "high"')]
Flag = Annotated[bool, Meta(description="true or false")]
Clip = Annotated[
    Annotated[str, Meta(pattern=r"^[A-Za-z0-9_-][A-Za-z0-9_.-]{0,127}\Z")] | None,
    Meta(
        description="a file name of 1 to 128 letters, digits, '_', '.' or '-', "
        "not starting with '.'"
    ),
]
Ttl = Annotated[
    Annotated[float, Meta(gt=0, le=MAX_TTL_S)],
    Meta(description=f"a number of seconds, more than 0 and at most {MAX_TTL_S:.0f}"),
]
At = Annotated[
    Annotated[int, Meta(ge=0, le=MAX_AT_MS)] | None,
    Meta(description=f"epoch milliseconds, an integer from 0 to {MAX_AT_MS}"),
]
HermesLang = Annotated[
    Annotated[str, Meta(pattern=r"^[A-Za-z0-9_-]{0,64}\Z")] | None,
    Meta(description='a language code such as "en" or "en_US"'),
]


class SayCommand(msgspec.Struct, frozen=True, kw_only=True):
    """Queue an utterance: `text` (None only with a `clip`), played after the clip if any."""

    text: Text  # stripped; 1 to 5000 characters
    id: SayId  # given, or a new UUID
    voice: Voice = None  # a Cartesia voice id or a configured name; None: the current voice
    language: Language = None  # "en", "pt-BR"; None: the configured language
    speed: Speed = None  # Cartesia generation_config.speed
    emotion: EmotionField = None  # Cartesia generation_config.emotion
    # Cartesia generation_config.volume, 0.5 to 2.0: how loudly the voice speaks. Not
    # `volume`, which is herald's playback volume (product.md).
    loudness: Loudness = None
    pronunciation_dict_id: DictId = None  # a Cartesia pronunciation dictionary
    volume: Volume = None  # playback volume 0-100 for this utterance; None: the current
    priority: PriorityField = "normal"  # "high" goes before queued "normal" ones
    interrupt: Flag = False  # stop what is playing and speak now
    clip: Clip = None  # a file name in the clips folder, played before the text
    cache: Flag = True  # use and fill the clip cache
    ttl: Ttl = 60.0  # seconds; not started within it: dropped
    at: At = None  # epoch milliseconds: start playback at that wall-clock time


class StreamChunk(msgspec.Struct, frozen=True, kw_only=True):
    """A piece of an utterance still being written; chunks with the same `id` are one."""

    id: Id
    text: AnyText  # verbatim (not stripped); empty only when final
    final: Flag = False


class StopCommand(msgspec.Struct, frozen=True, kw_only=True):
    """Stop now and drop the queue: everything (`id` None), or the utterance `id`."""

    id: OptionalId = None


class VolumeCommand(msgspec.Struct, frozen=True, kw_only=True):
    """Set the playback volume, 0-100."""

    volume: int


class HermesInput(msgspec.Struct, frozen=True, kw_only=True):
    """The members of `hermes/tts/say` that herald reads (Rhasspy sends more)."""

    text: AnyText
    site_id: OptionalId = msgspec.field(default=None, name="siteId")
    id: LooseId = None
    lang: HermesLang = None


class HermesSay(msgspec.Struct, frozen=True, kw_only=True):
    """Rhasspy/Hermes `hermes/tts/say`; answer with `hermes/tts/sayFinished` {id, siteId}."""

    text: str  # stripped; 1 to 5000 characters
    site_id: str  # "siteId"; "default" when absent or null
    id: str  # given, or a new UUID
    lang: str | None = None  # as Rhasspy sent it ("en", "en_US"); None when absent or ""
    session_id: str | None = None  # "sessionId" (when a valid id), to echo in sayFinished
