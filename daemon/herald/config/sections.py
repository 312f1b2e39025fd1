"""The sections of herald's config file: one frozen msgspec Struct per TOML table.

Constraints live in the value types, and error messages are derived from them (see
`herald.validate`). Adding a key: add a field, with its type and default, to its
section; errors that involve several keys of a section go in that section's `check`.
"""

import datetime as dt
import re
import socket
from typing import TYPE_CHECKING, Annotated, ClassVar, Literal

import msgspec
from msgspec import Meta

from herald.control.quiet_hours import QuietHours, parse_window
from herald.limits import (
    EMBEDDING_SIZE,
    EMBEDDINGS_UNTIL,
    EMOTIONS,
    MAX_LOUDNESS,
    MAX_SPEED,
    MIN_LOUDNESS,
    MIN_SPEED,
    embeddings_accepted,
    mix_embeddings,
)
from herald.validate import format_path, format_value

DEFAULT_VOICE = "f786b574-daa5-4673-aa0c-cbe3e8534c02"
SAMPLE_RATES = (8000, 16000, 22050, 24000, 44100, 48000)

# Device ids that would collide with the shared topics P/all/... and P/group/G/...
RESERVED_DEVICE_IDS = frozenset({"all", "group"})

# --- value types: constraints live here, and error messages are derived from them ---

Port = Annotated[int, Meta(ge=1, le=65535)]
NonEmpty = Annotated[str, Meta(min_length=1)]
DeviceId = Annotated[
    str,
    Meta(
        pattern=r"^(?!(?:all|group)\Z)[A-Za-z0-9_-]{1,64}\Z",
        description="1 to 64 letters, digits, '_' or '-' (not \"all\" or \"group\")",
    ),
]
TopicLevel = Annotated[
    str,
    Meta(
        pattern=r"^[A-Za-z0-9_-]{1,64}\Z",
        description="1 to 64 letters, digits, '_' or '-' (one MQTT topic level)",
    ),
]
WsUrl = Annotated[
    str, Meta(pattern=r"^wss?://[^\s/?#]+(?:[/?#]\S*)?\Z", description="a ws:// or wss:// URL")
]
HttpUrl = Annotated[
    str,
    Meta(pattern=r"^https?://[^\s/?#]+(?:[/?#]\S*)?\Z", description="an http:// or https:// URL"),
]
IsoDate = Annotated[
    str, Meta(pattern=r"^[0-9]{4}-[0-9]{2}-[0-9]{2}\Z", description="a date YYYY-MM-DD")
]
Language = Annotated[
    str,
    Meta(
        pattern=r"^[a-z]{2,3}(?:-[A-Za-z0-9]{2,8})*\Z",
        description='a language code such as "en" or "pt-BR"',
    ),
]
VoiceName = Annotated[
    str,
    Meta(
        pattern=r"^[A-Za-z0-9_.-]{1,64}\Z",
        description="1 to 64 letters, digits, '_', '.' or '-'",
    ),
]
SampleRate = Literal[8000, 16000, 22050, 24000, 44100, 48000]
Volume = Annotated[int, Meta(ge=0, le=100)]
Megabytes = Annotated[int, Meta(ge=1)]
Seconds = Annotated[float, Meta(gt=0, le=30, description="a number of seconds above 0, at most 30")]
# Cartesia's generation_config; absent (TOML has no null): Cartesia's own default.
Speed = Annotated[
    Annotated[float, Meta(ge=MIN_SPEED, le=MAX_SPEED)] | None,
    Meta(description=f"a number from {MIN_SPEED} to {MAX_SPEED}"),
]
Loudness = Annotated[
    Annotated[float, Meta(ge=MIN_LOUDNESS, le=MAX_LOUDNESS)] | None,
    Meta(description=f"a number from {MIN_LOUDNESS} to {MAX_LOUDNESS}"),
]
if TYPE_CHECKING:
    Emotion = str
else:
    Emotion = Literal[EMOTIONS]
DictId = Annotated[
    str,
    Meta(
        pattern=r"^[A-Za-z0-9_.:-]{0,128}\Z",
        description="a pronunciation dictionary id (letters, digits, '_', '.', ':', '-'), "
        'or "" for none',
    ),
]
Embedding = Annotated[
    # Bounded so that mixing them can never overflow (Cartesia's are small numbers).
    tuple[Annotated[float, Meta(ge=-1e6, le=1e6)], ...],
    Meta(
        min_length=EMBEDDING_SIZE,
        max_length=EMBEDDING_SIZE,
        description=f"an array of {EMBEDDING_SIZE} numbers between -1e6 and 1e6 "
        "(`herald voices mix` prints them)",
    ),
]
Weight = Annotated[
    float, Meta(gt=0, le=1000, description="a number above 0 (weights are relative)")
]


def device_id_from_hostname(hostname: str) -> str:
    """The host name lower-cased, without characters outside [a-z0-9_-]; "herald" if empty.

    A host name that would be a reserved id ("all", "group") also gives "herald".
    """
    cleaned = re.sub(r"[^a-z0-9_-]", "", hostname.lower())[:64]
    return cleaned if cleaned and cleaned not in RESERVED_DEVICE_IDS else "herald"


def default_device_id() -> str:
    """The default `device.id`: this machine's host name, sanitised."""
    return device_id_from_hostname(socket.gethostname())


# --- sections ---


class Section(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Base of the config sections (and of tables inside them): frozen, keyword-only,
    no unknown keys."""

    # Keys holding an array of tables checked table by table, so that an error names
    # `section.key[i].subkey` (herald.config.load does it).
    ITEMIZED: ClassVar[tuple[str, ...]] = ()

    def check(self, path: str) -> list[str]:
        """Errors that involve several keys (each key alone is already valid)."""
        return []


class DeviceConfig(Section, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """[device]"""

    id: DeviceId = msgspec.field(default_factory=default_device_id)  # D in the MQTT topics
    groups: tuple[TopicLevel, ...] = ()  # P/group/<G>/say for each
    state_file: NonEmpty = "/var/lib/herald/state.json"  # volume, mute, voice across restarts

    def check(self, path: str) -> list[str]:
        duplicates = sorted({g for g in self.groups if self.groups.count(g) > 1})
        return [f"{path}.groups: {format_value(g)} is listed twice" for g in duplicates]


class MqttConfig(Section, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """[mqtt]: the broker, and how herald appears on it."""

    host: NonEmpty = "localhost"
    port: Port = 1883
    topic_prefix: TopicLevel = "herald"  # P in the MQTT topics
    username: str = ""  # "": connect without credentials
    password_file: str = ""  # "": $CREDENTIALS_DIRECTORY/mqtt_password, env HERALD_MQTT_PASSWORD
    tls: bool = False
    ca_file: str = ""  # "": the system CAs (with tls)
    certfile: str = ""  # client certificate (with tls), needs keyfile
    keyfile: str = ""  # its private key
    discovery: bool = True  # Home Assistant MQTT discovery
    discovery_prefix: TopicLevel = "homeassistant"
    hermes: bool = False  # also answer Rhasspy/Hermes hermes/tts/say

    def check(self, path: str) -> list[str]:
        errors = []
        if self.certfile and not self.keyfile:
            errors.append(f"{path}.certfile = {format_path(self.certfile)}: needs {path}.keyfile")
        if self.keyfile and not self.certfile:
            errors.append(f"{path}.keyfile = {format_path(self.keyfile)}: needs {path}.certfile")
        if not self.tls:
            errors.extend(
                f"{path}.{key} = {format_path(value)}: only used with {path}.tls = true"
                for key in ("ca_file", "certfile", "keyfile")
                if (value := getattr(self, key))
            )
        return errors


class NamedVoice(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One of `cartesia.voices`: {name = "calm", id = "<a Cartesia voice id>"}."""

    name: VoiceName
    id: NonEmpty


class MixPart(Section, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One voice of a `cartesia.mix` entry: its embedding and its share."""

    embedding: Embedding
    weight: Weight = 1.0


class MixedVoice(Section, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One of `cartesia.mix`: a voice made of embeddings, used by its name like
    `cartesia.voices`. One part is a voice by embedding; several are mixed."""

    ITEMIZED = ("voices",)

    name: VoiceName
    voices: tuple[MixPart, ...]

    def check(self, path: str) -> list[str]:
        if self.voices:
            return []
        return [f"{path}.voices: needs at least one {{embedding = [...], weight = n}}"]

    @property
    def embedding(self) -> tuple[float, ...]:
        """The embedding to send: the weighted average of the parts."""
        return mix_embeddings([(p.embedding, p.weight) for p in self.voices])


class CartesiaConfig(Section, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """[cartesia]: the cloud voice."""

    ITEMIZED = ("mix",)

    url: WsUrl = "wss://api.cartesia.ai/tts/websocket"
    api_url: HttpUrl = "https://api.cartesia.ai"
    api_key_file: str = ""  # "": $CREDENTIALS_DIRECTORY/cartesia_api_key, env CARTESIA_API_KEY
    version: IsoDate = "2025-04-16"  # sent as the Cartesia version
    model: NonEmpty = "sonic-3"
    voice: NonEmpty = DEFAULT_VOICE
    language: Language = "en"
    # Named voices: the Home Assistant voice select, `P/D/voice/set`, and "voice" in a say
    # accept these names. `voice` above may be one of the names.
    voices: tuple[NamedVoice, ...] = ()
    # Named voices by embedding (one part) or mixed from several; only on API versions
    # up to EMBEDDINGS_UNTIL. Their names work wherever those of `voices` do.
    mix: tuple[MixedVoice, ...] = ()
    # generation_config and pronunciation_dict_id of every say that does not set its own.
    speed: Speed = None
    emotion: Annotated[
        Emotion | None, Meta(description="one of Cartesia's emotions: " + ", ".join(EMOTIONS))
    ] = None
    loudness: Loudness = None  # generation_config.volume
    pronunciation_dict_id: DictId = ""  # "": none

    def check(self, path: str) -> list[str]:
        names = [v.name for v in self.voices]
        errors = [
            f"{path}.voices: the name {format_value(name)} is used twice"
            for name in sorted({n for n in names if names.count(n) > 1})
        ]
        mixed = [m.name for m in self.mix]
        errors.extend(
            f"{path}.mix: the name {format_value(name)} is used twice "
            f"(the names of {path}.voices and {path}.mix are one list)"
            for name in sorted({n for n in mixed if (names + mixed).count(n) > 1})
        )
        try:
            dt.date.fromisoformat(self.version)
        except ValueError:
            errors.append(f"{path}.version = {format_value(self.version)}: not a valid date")
        if self.mix and not embeddings_accepted(self.version):
            errors.extend(
                f"{path}.mix[{i}] ({format_value(m.name)}): voices by embedding need "
                f"Cartesia API version {EMBEDDINGS_UNTIL} or older, and {path}.version is "
                f"{format_value(self.version)} (newer versions take voices by id only): "
                f'use {path}.voices, or set {path}.version = "{EMBEDDINGS_UNTIL}"'
                for i, m in enumerate(self.mix)
            )
        return errors

    @property
    def voice_ids(self) -> dict[str, str]:
        """Name → voice id, in the order of the config; a `mix` voice maps to its name."""
        return {v.name: v.id for v in self.voices} | {m.name: m.name for m in self.mix}

    @property
    def embeddings(self) -> dict[str, tuple[float, ...]]:
        """Name → embedding of each `mix` voice (its parts mixed)."""
        return {m.name: m.embedding for m in self.mix}

    def voice_id(self, voice: str) -> str:
        """A voice name of `voices` resolved to its id; anything else as it is."""
        return self.voice_ids.get(voice, voice)

    def voice_name(self, voice: str) -> str | None:
        """The name under which `voices` (or `mix`) lists a voice (given by name or id)."""
        return next((n for n, id in self.voice_ids.items() if voice in (n, id)), None)


class AudioConfig(Section, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """[audio]: the ALSA output."""

    device: NonEmpty = "default"  # ALSA PCM name
    sample_rate: SampleRate = 24000  # requested from Cartesia and opened on ALSA
    volume: Volume = 100  # 100 plays samples unchanged


class CacheConfig(Section, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """[cache]: the clip cache."""

    dir: NonEmpty = "/var/cache/herald"
    max_mb: Megabytes = 256


class OfflineConfig(Section, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """[offline]: what speaks when the cloud cannot."""

    local_voice: Literal["piper", "none"] = "piper"
    piper_model: str = ""  # "": the bundled en_US-joe-medium; else a Piper .onnx path
    preload: bool = False  # load the local voice at start instead of at first need
    cloud_timeout: Seconds = 1.5  # first cloud audio later than this: use the local voice


class ClipsConfig(Section, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """[clips]: sound files a say can play before its text."""

    dir: str = "/etc/herald/clips"  # WAV files; "chime" is built in (a chime.wav overrides)
    chime_while_waiting: bool = False  # chime while the first cloud audio is on its way


class QuietHoursConfig(Section, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """[quiet_hours]: windows of local time in which normal-priority says are quieter."""

    windows: tuple[str, ...] = ()  # "22:00-07:00"; empty: off
    mode: Literal["lower", "drop"] = "lower"  # lower: spoken at `volume`; drop: not spoken
    volume: Volume = 30

    def check(self, path: str) -> list[str]:
        errors = []
        for i, text in enumerate(self.windows):
            try:
                parse_window(text)
            except ValueError as exc:
                errors.append(f"{path}.windows[{i}]: {exc}")
        return errors

    def policy(self) -> QuietHours:
        return QuietHours([parse_window(w) for w in self.windows], self.mode, self.volume)


class StreamConfig(Section, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """[stream]: text streamed on P/D/say/stream."""

    idle_timeout: Annotated[
        float, Meta(gt=0, le=600, description="a number of seconds above 0, at most 600")
    ] = 10.0  # no chunk for this long: the utterance fails
