"""herald's configuration: one TOML file, validated once into frozen, typed objects.

Every key has a default, so an empty file is valid. Unknown keys and bad values are
errors naming the key path, the value given and what is allowed; all of them are
reported at once, in one `ConfigError`.

Adding a section: define a `Section` subclass and add it as a field of `Config`; adding a
key: add a field (with its type, constraints and default) to its section. Errors that
involve several keys of a section go in that section's `check`.

Secrets (the Cartesia API key, the MQTT password) are not TOML keys: they are read from
the file a key names, else from systemd's `$CREDENTIALS_DIRECTORY`, else from the
environment, and held as `Secret` so that no repr, log line or error shows them.
"""

import datetime as dt
import os
import re
import socket
import tomllib
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import MappingProxyType
from typing import Annotated, Any, Literal, NamedTuple

import msgspec
from msgspec import Meta

from herald.config_check import format_key, format_path, format_value, validate_table
from herald.secret import Secret, SecretFileError, read_secret_file

__all__ = [
    "DEFAULT_CONFIG_PATH",
    "DEFAULT_VOICE",
    "SECTIONS",
    "AudioConfig",
    "CacheConfig",
    "CartesiaConfig",
    "Config",
    "ConfigError",
    "DeviceConfig",
    "MqttConfig",
    "OfflineConfig",
    "Section",
    "build_config",
    "default_config_path",
    "default_device_id",
    "device_id_from_hostname",
    "load_config",
    "parse_config",
]

DEFAULT_CONFIG_PATH = Path("/etc/herald/config.toml")
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
SampleRate = Literal[8000, 16000, 22050, 24000, 44100, 48000]
Volume = Annotated[int, Meta(ge=0, le=100)]
Megabytes = Annotated[int, Meta(ge=1)]
Seconds = Annotated[float, Meta(gt=0, le=30, description="a number of seconds above 0, at most 30")]


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
    """Base of the config sections: frozen, keyword-only, no unknown keys."""

    def check(self, path: str) -> list[str]:
        """Errors that involve several keys (each key alone is already valid)."""
        return []


class DeviceConfig(Section, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """[device]"""

    id: DeviceId = msgspec.field(default_factory=default_device_id)  # D in the MQTT topics


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


class CartesiaConfig(Section, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """[cartesia]: the cloud voice."""

    url: WsUrl = "wss://api.cartesia.ai/tts/websocket"
    api_url: HttpUrl = "https://api.cartesia.ai"
    api_key_file: str = ""  # "": $CREDENTIALS_DIRECTORY/cartesia_api_key, env CARTESIA_API_KEY
    version: IsoDate = "2025-04-16"  # sent as the Cartesia version
    model: NonEmpty = "sonic-3"
    voice: NonEmpty = DEFAULT_VOICE
    language: Language = "en"

    def check(self, path: str) -> list[str]:
        try:
            dt.date.fromisoformat(self.version)
        except ValueError:
            return [f"{path}.version = {format_value(self.version)}: not a valid date"]
        return []


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


class Config(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The whole configuration: one field per TOML section, plus the loaded secrets."""

    device: DeviceConfig = msgspec.field(default_factory=DeviceConfig)
    mqtt: MqttConfig = msgspec.field(default_factory=MqttConfig)
    cartesia: CartesiaConfig = msgspec.field(default_factory=CartesiaConfig)
    audio: AudioConfig = msgspec.field(default_factory=AudioConfig)
    cache: CacheConfig = msgspec.field(default_factory=CacheConfig)
    offline: OfflineConfig = msgspec.field(default_factory=OfflineConfig)
    clips: ClipsConfig = msgspec.field(default_factory=ClipsConfig)
    # Not TOML keys: loaded from files, systemd credentials or the environment.
    cartesia_api_key: Secret | None = None  # None: cloud voice off
    mqtt_password: Secret | None = None


def _section_fields() -> dict[str, tuple[str, type[Section]]]:
    sections: dict[str, tuple[str, type[Section]]] = {}
    for field in msgspec.structs.fields(Config):
        if isinstance(field.type, type) and issubclass(field.type, Section):
            sections[field.encode_name] = (field.name, field.type)
    return sections


_SECTION_FIELDS = _section_fields()

# The registry: TOML section name -> its Struct, derived from Config's fields.
SECTIONS: Mapping[str, type[Section]] = MappingProxyType(
    {name: tp for name, (_, tp) in _SECTION_FIELDS.items()}
)


# --- secrets ---


class _SecretSource(NamedTuple):
    field: str  # Config attribute
    section: str
    key: str  # the key naming a file
    credential: str  # file name in $CREDENTIALS_DIRECTORY
    env_var: str


_SECRET_SOURCES = (
    _SecretSource(
        "cartesia_api_key", "cartesia", "api_key_file", "cartesia_api_key", "CARTESIA_API_KEY"
    ),
    _SecretSource(
        "mqtt_password", "mqtt", "password_file", "mqtt_password", "HERALD_MQTT_PASSWORD"
    ),
)


def _read_secret(label: str, path: Path) -> tuple[Secret | None, list[str]]:
    try:
        secret = read_secret_file(path)
    except SecretFileError as exc:
        return None, [f"{label}: cannot read: {exc.reason}"]
    if not secret:
        return None, [f"{label}: the file is empty"]
    return secret, []


def _load_secret(
    source: _SecretSource, file_value: str, env: Mapping[str, str]
) -> tuple[Secret | None, list[str]]:
    """The secret from the file the config names, else the credential, else the env."""
    if file_value:
        label = f"{source.section}.{source.key} = {format_path(file_value)}"
        return _read_secret(label, Path(file_value))
    credentials = env.get("CREDENTIALS_DIRECTORY")
    if credentials:
        path = Path(credentials) / source.credential
        if os.path.exists(path):
            label = f"{source.section}.{source.key} unset, credential {format_path(str(path))}"
            return _read_secret(label, path)
    value = env.get(source.env_var, "").rstrip("\r\n")
    return (Secret(value) if value else None), []


# --- loading ---


class ConfigError(Exception):
    """The config is not valid; `errors` lists every problem, one line each."""

    def __init__(self, errors: Sequence[str], source: str = "<config>") -> None:
        self.errors = list(errors)
        self.source = source
        super().__init__(self.errors)

    def __str__(self) -> str:
        return "\n".join(f"{self.source}: {error}" for error in self.errors)

    def __repr__(self) -> str:
        return f"ConfigError({self.errors!r}, source={self.source!r})"


def default_config_path(env: Mapping[str, str] | None = None) -> Path:
    """$HERALD_CONFIG if set, else /etc/herald/config.toml."""
    env = os.environ if env is None else env
    chosen = env.get("HERALD_CONFIG")
    return Path(chosen) if chosen else DEFAULT_CONFIG_PATH


def load_config(path: Path | str | None = None, env: Mapping[str, str] | None = None) -> Config:
    """Read and validate the config file, and load the secrets.

    `path` None means $HERALD_CONFIG, else /etc/herald/config.toml. A missing file at the
    default path gives all defaults; a missing file chosen explicitly (argument or
    $HERALD_CONFIG) is an error. Raises ConfigError listing every problem.
    """
    env = os.environ if env is None else env
    explicit = path is not None or bool(env.get("HERALD_CONFIG"))
    path = default_config_path(env) if path is None else Path(path)
    source = str(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        if not explicit:
            return parse_config("", env, source)
        raise ConfigError(["config file not found"], source) from None
    except OSError as exc:
        raise ConfigError([f"cannot read config file: {exc.strerror or exc}"], source) from None
    except ValueError:  # a path with a NUL byte in it
        raise ConfigError(["not a valid path"], source) from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        message = f"TOML syntax error: not valid UTF-8 (at line {line})"
    else:
        return parse_config(text, env, source)
    raise ConfigError([message], source)


def parse_config(text: str, env: Mapping[str, str], source: str = "<config>") -> Config:
    """Validate TOML text into a Config; `source` names it in errors. Raises ConfigError."""
    try:
        data = tomllib.loads(text.removeprefix("\ufeff"))
    except tomllib.TOMLDecodeError as exc:
        message = f"TOML syntax error: {exc}"
    else:
        return build_config(data, env, source)
    raise ConfigError([message], source)


def build_config(
    data: Mapping[str, Any], env: Mapping[str, str], source: str = "<config>"
) -> Config:
    """Validate parsed TOML (a dict of tables) into a Config. Raises ConfigError."""
    errors: list[str] = []
    sections: dict[str, Any] = {}  # Config's keyword arguments
    for name, table in data.items():
        if name not in _SECTION_FIELDS:
            errors.append(_unknown_top_level(name, table))
            continue
        attr, section_type = _SECTION_FIELDS[name]
        if not isinstance(table, Mapping):
            errors.append(f"{name} = {format_value(table)}: must be a table ([{name}])")
            continue
        values, section_errors = validate_table(section_type, table, name)
        section = section_type(**values)
        # Checks across keys only make sense once each key is valid.
        errors.extend(section_errors or section.check(name))
        sections[attr] = section
    for src in _SECRET_SOURCES:
        attr, section_type = _SECTION_FIELDS[src.section]
        section = sections.get(attr) or section_type()
        secret, secret_errors = _load_secret(src, getattr(section, src.key), env)
        sections[src.field] = secret
        errors.extend(secret_errors)
    if errors:
        raise ConfigError(errors, source)
    return Config(**sections)


def _unknown_top_level(name: str, value: object) -> str:
    allowed = ", ".join(SECTIONS)
    if isinstance(value, Mapping):
        return f"{format_key(name)}: unknown section (allowed: {allowed})"
    homes = [s for s, tp in SECTIONS.items() if name in _keys(tp)]
    hint = f"; it belongs under [{homes[0]}]" if len(homes) == 1 else ""
    return (
        f"{format_key(name)}: unknown key outside any section (allowed sections: {allowed}){hint}"
    )


def _keys(section_type: type[Section]) -> set[str]:
    return {f.encode_name for f in msgspec.structs.fields(section_type)}
