"""The emulator's voice catalogue and its JSON shape per API version."""

from __future__ import annotations

import datetime as dt
import random
import uuid
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field

from .versions import NEW_VOICE_SHAPE, since

# The voice's embedding, kept as catalogue data only: since 2026-06-01 the API returns
# no embeddings on any version ("removing voice embeddings from our voice API",
# [C-changes]) and accepts none.
EMBEDDING_SIZE = 192

_NAMESPACE = uuid.UUID("5f0c6d4e-6a43-4c59-9d0b-6b1f3e1a2c7d")


_KEYS = (
    "id",
    "name",
    "description",
    "gender",
    "language",
    "locale",
    "accent",
    "is_owner",
    "is_public",
    "created_at",
    "embedding",
)


@dataclass(frozen=True)
class Voice(Mapping[str, object]):
    """One catalogue voice. ``VOICES`` order is the listing (paging) order.

    Read it as attributes (``v.id``) or as a mapping (``v["id"]``, ``dict(v)``):
    tests compare it with JSON voices from the API either way.
    """

    id: str
    name: str
    description: str
    gender: str  # masculine | feminine | gender_neutral
    locale: str  # BCP-47, e.g. en-US
    accent: str | None
    is_owner: bool
    created_at: str
    embedding: tuple[float, ...] = field(repr=False)
    user_id: str = "user_cartesia"

    @property
    def language(self) -> str:
        return self.locale.split("-")[0]

    @property
    def tagline(self) -> str:
        return self.description.split(",")[0][:32]

    @property
    def is_public(self) -> bool:
        return not self.is_owner

    def __getitem__(self, key: str) -> object:
        if key not in _KEYS:
            raise KeyError(key)
        return getattr(self, key)

    def __iter__(self) -> Iterator[str]:
        return iter(_KEYS)

    def __len__(self) -> int:
        return len(_KEYS)


def _embedding(voice_id: str) -> tuple[float, ...]:
    rng = random.Random(voice_id)
    return tuple(round(rng.uniform(-1.0, 1.0), 6) for _ in range(EMBEDDING_SIZE))


def _voice(
    voice_id: str | None,
    name: str,
    description: str,
    gender: str,
    locale: str,
    accent: str | None,
    day: int,
    *,
    is_owner: bool = False,
) -> Voice:
    vid = voice_id or str(uuid.uuid5(_NAMESPACE, name))
    return Voice(
        id=vid,
        name=name,
        description=description,
        gender=gender,
        locale=locale,
        accent=accent,
        is_owner=is_owner,
        created_at=f"2024-{1 + day // 28:02d}-{1 + day % 28:02d}T12:00:00Z",
        embedding=_embedding(vid),
    )


VOICES: tuple[Voice, ...] = (
    # The three ids real clients hard-code (docs examples, PY4 no_more_inputs default).
    _voice(
        "a0e99841-438c-4a64-b679-ae501e7d6091",
        "Barbershop Man",
        "Warm, friendly male voice",
        "masculine",
        "en-US",
        "general-american",
        0,
    ),
    _voice(
        "f786b574-daa5-4673-aa0c-cbe3e8534c02",
        "Katie",
        "Clear, bright female narrator",
        "feminine",
        "en-US",
        "general-american",
        1,
    ),
    _voice(
        "6ccbfb76-1fc6-48f7-b71d-91ac6298247b",
        "Tessa",
        "Calm, even conversational voice",
        "feminine",
        "en-US",
        "midwestern-american",
        2,
    ),
    _voice(None, "Arthur", "Measured British storyteller", "masculine", "en-GB", "british", 3),
    _voice(None, "Brooke", "Upbeat support agent", "feminine", "en-US", "california", 4),
    _voice(None, "Callum", "Lilting Irish guide", "masculine", "en-IE", "irish", 5),
    _voice(None, "Dana", "Neutral announcer", "gender_neutral", "en-US", None, 6),
    _voice(None, "Elodie", "Soft Parisian voice", "feminine", "fr-FR", "parisian", 7),
    _voice(None, "Felix", "Crisp German presenter", "masculine", "de-DE", "high-german", 8),
    _voice(None, "Gabriela", "Lively Mexican host", "feminine", "es-MX", "mexican", 9),
    _voice(None, "Hiro", "Polite Japanese guide", "masculine", "ja-JP", "standard-japanese", 10),
    _voice(None, "Isla", "Bright Australian reader", "feminine", "en-AU", "australian", 11),
    _voice(None, "Jonas", "Deep Swedish narrator", "masculine", "sv-SE", "stockholm", 12),
    _voice(None, "Kavya", "Gentle Indian teacher", "feminine", "en-IN", "indian-english", 13),
    _voice(None, "Luca", "Expressive Italian voice", "masculine", "it-IT", "italian", 14),
    _voice(None, "Mei", "Clear Mandarin newsreader", "feminine", "zh-CN", "mandarin", 15),
    _voice(None, "Nolan", "Relaxed Southern drawl", "masculine", "en-US", "southern-us", 16),
    _voice(None, "Olivia", "Confident New York anchor", "feminine", "en-US", "new-york", 17),
    _voice(None, "Pedro", "Warm Brazilian voice", "masculine", "pt-BR", "brazilian-portuguese", 18),
    _voice(
        None, "Quinn", "Matter-of-fact explainer", "gender_neutral", "en-CA", "canadian-english", 19
    ),
    _voice(None, "Rosa", "Castilian audiobook voice", "feminine", "es-ES", "castilian", 20),
    _voice(None, "Sven", "Dry Norwegian humour", "masculine", "no-NO", "oslo", 21),
    _voice(None, "Tara", "Kiwi podcast host", "feminine", "en-NZ", "new-zealand", 22),
    _voice(
        None,
        "Herald Doorbell",
        "Our own cloned chime voice",
        "feminine",
        "en-US",
        None,
        23,
        is_owner=True,
    ),
    _voice(
        None,
        "Herald Butler",
        "Our own cloned butler voice",
        "masculine",
        "en-GB",
        "british",
        24,
        is_owner=True,
    ),
)

VOICE_BY_ID: dict[str, Voice] = {v.id: v for v in VOICES}

# Pronunciation dictionaries the emulator's account owns from the start. An id not
# among an emulator's ``pronunciation_dicts`` is refused (404 from 2026-03-01).
PRONUNCIATION_DICTS = frozenset({"pdict_emulator_names", "pdict_emulator_places"})

# The account the emulator's API keys belong to: it owns the voices it clones.
EMULATOR_USER = "user_emulator"


class Catalogue:
    """One emulator's voices: the built-in ``VOICES``, then the ones cloned into it,
    in listing (paging) order."""

    def __init__(self, voices: Iterable[Voice] = VOICES) -> None:
        self._voices: list[Voice] = list(voices)
        self._by_id = {v.id: v for v in self._voices}

    def __iter__(self) -> Iterator[Voice]:
        return iter(self._voices)

    def __len__(self) -> int:
        return len(self._voices)

    def __contains__(self, voice_id: object) -> bool:
        return voice_id in self._by_id

    def get(self, voice_id: str) -> Voice | None:
        return self._by_id.get(voice_id)

    def position(self, voice: Voice) -> int:
        return self._voices.index(voice)

    def add_clone(self, name: str, description: str, language: str) -> Voice:
        """A new voice owned by the caller, listed after every other."""
        vid = str(uuid.uuid4())
        now = dt.datetime.now(dt.UTC).replace(microsecond=0)
        voice = Voice(
            id=vid,
            name=name,
            description=description,
            gender="gender_neutral",
            locale=language,
            accent=None,
            is_owner=True,
            created_at=now.isoformat().replace("+00:00", "Z"),
            embedding=_embedding(vid),
            user_id=EMULATOR_USER,
        )
        self._voices.append(voice)
        self._by_id[vid] = voice
        return voice


def clone_json(voice: Voice, version: str) -> dict[str, object]:
    """The ``VoiceMetadata`` POST /voices/clone answers with, in ``version``'s shape."""
    if since(version, NEW_VOICE_SHAPE):  # PY4 types/voice_metadata.py
        return {
            "id": voice.id,
            "access": "private",
            "created_at": voice.created_at,
            "description": voice.description,
            "language": voice.language,
            "name": voice.name,
            "tagline": voice.tagline,
            "user_id": voice.user_id,
            "visibility": "owner",
        }
    return {  # FERN's example: {id, user_id, is_public, name, description, created_at, language}
        "id": voice.id,
        "user_id": voice.user_id,
        "is_public": False,
        "name": voice.name,
        "description": voice.description,
        "created_at": voice.created_at,
        "language": voice.language,
    }


def voice_json(voice: Voice, version: str) -> dict[str, object]:
    """A Voice object as ``version`` returns it (GET /voices and GET /voices/{id})."""
    if since(version, NEW_VOICE_SHAPE):
        return {
            "id": voice.id,
            "access": "private" if voice.is_owner else "public",
            "visibility": "owner" if voice.is_owner else "all",
            "created_at": voice.created_at,
            "description": voice.description,
            "is_owner": voice.is_owner,
            "language": voice.language,
            "locales": [{"locale": voice.locale, "is_native": True}],
            "name": voice.name,
            "tagline": voice.tagline,
            "accent": voice.accent,
            "country": voice.locale.partition("-")[2] or None,
            "gender": voice.gender,
        }
    return {
        "id": voice.id,
        "is_owner": voice.is_owner,
        "is_public": not voice.is_owner,
        "name": voice.name,
        "description": voice.description,
        "gender": voice.gender,
        "created_at": voice.created_at,
        "language": voice.language,
    }
