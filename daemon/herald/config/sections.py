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
    EMOTIONS,
    MAX_LOUDNESS,
    MAX_SPEED,
    MIN_LOUDNESS,
    MIN_SPEED,
    MIXING_REMOVED,
)
from herald.validate import format_path, format_value

DEFAULT_VOICE = "f786b574-daa5-4673-aa0c-cbe3e8534c02"
# Cartesia as it is now (see the README, "How it talks to Cartesia"): the API version the
# official SDK 4.x sends, and the stable sonic-3 model (42 languages, every generation
# control). Both are config keys; sonic-3.5 and sonic-3.6 work the same way.
DEFAULT_VERSION = "2026-08-14"
DEFAULT_MODEL = "sonic-3"
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
IdleClose = Annotated[
    float, Meta(ge=0, le=86400, description="a number of seconds from 0 (never close) to 86400")
]
LeadInMs = Annotated[int, Meta(ge=0, le=2000, description="an integer from 0 to 2000 (ms)")]
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

    # Keys that once existed and are gone, each with the one line a config that still
    # has it is told (herald.config.load reports it instead of "unknown key").
    REMOVED: ClassVar[dict[str, str]] = {}

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


class CartesiaConfig(Section, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """[cartesia]: the cloud voice."""

    REMOVED: ClassVar[dict[str, str]] = {"mix": MIXING_REMOVED}

    url: WsUrl = "wss://api.cartesia.ai/tts/websocket"
    api_url: HttpUrl = "https://api.cartesia.ai"
    api_key_file: str = ""  # "": $CREDENTIALS_DIRECTORY/cartesia_api_key, env CARTESIA_API_KEY
    # The API version of the official SDK 4.x: structured errors, voices by id only.
    version: IsoDate = DEFAULT_VERSION
    model: NonEmpty = DEFAULT_MODEL
    voice: NonEmpty = DEFAULT_VOICE
    language: Language = "en"
    # Named voices: the Home Assistant voice select, `P/D/voice/set`, and "voice" in a say
    # accept these names. `voice` above may be one of the names.
    voices: tuple[NamedVoice, ...] = ()
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
        try:
            dt.date.fromisoformat(self.version)
        except ValueError:
            errors.append(f"{path}.version = {format_value(self.version)}: not a valid date")
        return errors

    @property
    def voice_ids(self) -> dict[str, str]:
        """Name → voice id, in the order of the config."""
        return {v.name: v.id for v in self.voices}

    def voice_id(self, voice: str) -> str:
        """A voice name of `voices` resolved to its id; anything else as it is."""
        return self.voice_ids.get(voice, voice)

    def voice_name(self, voice: str) -> str | None:
        """The name under which `voices` lists a voice (given by name or id)."""
        return next((n for n, id in self.voice_ids.items() if voice in (n, id)), None)


class AudioConfig(Section, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """[audio]: the ALSA output."""

    device: NonEmpty = "default"  # ALSA PCM name
    sample_rate: SampleRate = 24000  # requested from Cartesia and opened on ALSA
    volume: Volume = 100  # 100 plays samples unchanged
    # Close the device after this long without a say; 0: never (keeps an HDMI sink,
    # a USB DAC or an amplifier awake, at the writer's idle CPU for good).
    idle_close: IdleClose = 30.0
    # Silence played after a cold open before the first word, for sinks that wake on
    # a stream; it overlaps the wait for the first cloud audio.
    lead_in_ms: LeadInMs = 120


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


# [esphome]: herald as a Home Assistant speaker (see herald.esphome).
ESPHOME_PORT = 6053
ESPHOME_NAME_MAX = 31  # ESPHome's node name limit (it is also the mDNS host name)

EsphomePort = Annotated[int, Meta(ge=1, le=65535, description="a port number 1-65535")]
EsphomeName = Annotated[
    str,
    Meta(
        max_length=ESPHOME_NAME_MAX,
        pattern=r"^(|[a-z0-9]([a-z0-9-]*[a-z0-9])?)$",
        description=f"up to {ESPHOME_NAME_MAX} of a-z 0-9 and '-', not starting or ending "
        "with '-' (or \"\" for the device id)",
    ),
]
EsphomeFriendlyName = Annotated[str, Meta(max_length=120, description="at most 120 characters")]


class EsphomeConfig(Section, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """[esphome]: herald as a Home Assistant speaker on the ESPHome native API."""

    enabled: bool = False
    port: EsphomePort = ESPHOME_PORT
    name: EsphomeName = ""  # "": device.id ('_' becomes '-'); Home Assistant's device name
    friendly_name: EsphomeFriendlyName = ""  # "": the name; what Home Assistant shows
    # A file holding the Noise key, base64 of 32 random bytes; "" looks in
    # $CREDENTIALS_DIRECTORY/esphome_key, then HERALD_ESPHOME_KEY; none: plaintext.
    key_file: str = ""
    advertise: bool = True  # mDNS _esphomelib._tcp, so Home Assistant discovers herald
