"""herald's configuration: one TOML file, validated once into frozen, typed objects.

Every key has a default, so an empty file is valid. Unknown keys and bad values are
errors naming the key path, the value given and what is allowed; all of them are
reported at once, in one `ConfigError`.

The sections live in `herald.config.sections`: adding a section means a `Section`
subclass there and a field of `Config` here. The arrays of tables `[[buttons]]` and
`[[transforms]]` are validated by `herald.config.buttons` and
`herald.config.transforms`. A key a section lists in `REMOVED` (`cartesia.mix`) gets the
one line that says what replaced it.

Secrets (the Cartesia API key, the MQTT password) are not TOML keys: they are read from
the file a key names, else from systemd's `$CREDENTIALS_DIRECTORY`, else from the
environment, and held as `Secret` so that no repr, log line or error shows them.
"""

import os
import tomllib
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import MappingProxyType
from typing import Any, NamedTuple

import msgspec

from herald.config.button_actions import ButtonConfig
from herald.config.buttons import validate_buttons
from herald.config.sections import (
    DEFAULT_VOICE,
    AudioConfig,
    CacheConfig,
    CartesiaConfig,
    ClipsConfig,
    DeviceConfig,
    EsphomeConfig,
    MqttConfig,
    OfflineConfig,
    QuietHoursConfig,
    Section,
    StreamConfig,
    default_device_id,
    device_id_from_hostname,
)
from herald.config.transforms import validate_transforms
from herald.secret import Secret, SecretFileError, read_secret_file
from herald.speech.transforms import Transform
from herald.validate import (
    format_key,
    format_path,
    format_value,
    validate_table,
)

__all__ = [
    "DEFAULT_CONFIG_PATH",
    "DEFAULT_VOICE",
    "SECTIONS",
    "AudioConfig",
    "CacheConfig",
    "CartesiaConfig",
    "ClipsConfig",
    "Config",
    "ConfigError",
    "DeviceConfig",
    "EsphomeConfig",
    "MqttConfig",
    "OfflineConfig",
    "QuietHoursConfig",
    "Section",
    "StreamConfig",
    "build_config",
    "default_config_path",
    "default_device_id",
    "device_id_from_hostname",
    "load_config",
    "parse_config",
]

DEFAULT_CONFIG_PATH = Path("/etc/herald/config.toml")


class Config(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The whole configuration: one field per TOML section, plus the loaded secrets."""

    device: DeviceConfig = msgspec.field(default_factory=DeviceConfig)
    mqtt: MqttConfig = msgspec.field(default_factory=MqttConfig)
    cartesia: CartesiaConfig = msgspec.field(default_factory=CartesiaConfig)
    audio: AudioConfig = msgspec.field(default_factory=AudioConfig)
    cache: CacheConfig = msgspec.field(default_factory=CacheConfig)
    offline: OfflineConfig = msgspec.field(default_factory=OfflineConfig)
    clips: ClipsConfig = msgspec.field(default_factory=ClipsConfig)
    quiet_hours: QuietHoursConfig = msgspec.field(default_factory=QuietHoursConfig)
    stream: StreamConfig = msgspec.field(default_factory=StreamConfig)
    esphome: EsphomeConfig = msgspec.field(default_factory=EsphomeConfig)
    buttons: tuple[ButtonConfig, ...] = ()  # [[buttons]]: an array of tables
    transforms: tuple[Transform, ...] = ()  # [[transforms]]: applied in this order
    # Not TOML keys: loaded from files, systemd credentials or the environment.
    cartesia_api_key: Secret | None = None  # None: cloud voice off
    mqtt_password: Secret | None = None
    esphome_key: Secret | None = None  # None: the ESPHome API in plaintext


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
    _SecretSource("esphome_key", "esphome", "key_file", "esphome_key", "HERALD_ESPHOME_KEY"),
)


def _read_secret(label: str, path: Path) -> tuple[Secret | None, list[str]]:
    try:
        secret = read_secret_file(path)
    except SecretFileError as exc:
        return None, [f"{label}: cannot read: {exc.reason}"]
    if not secret:
        return None, [f"{label}: the file is empty"]
    return secret, []


def _secret_file_label(source: _SecretSource, value: str) -> str:
    """``section.key = "path"``, unless the value looks like the secret itself (a key
    pasted where its file's name belongs): that is never echoed."""
    key = f"{source.section}.{source.key}"
    if "/" in value and not value.startswith(("sk_", "sk-")):
        return f"{key} = {format_path(value)}"
    return f"{key} (its value is not shown: it looks like a secret, not a file name)"


def _check_esphome_key(key: Secret | None) -> list[str]:
    from herald.esphome.settings import EsphomeKeyError, decode_key

    if key is None:
        return []
    try:
        decode_key(key)
    except EsphomeKeyError as exc:
        return [f"esphome.key_file: {exc}"]
    return []


def _load_secret(
    source: _SecretSource, file_value: str, env: Mapping[str, str]
) -> tuple[Secret | None, list[str]]:
    """The secret from the file the config names, else the credential, else the env."""
    if file_value:
        return _read_secret(_secret_file_label(source, file_value), Path(file_value))
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
        if name == "buttons":
            sections["buttons"], button_errors = validate_buttons(table)
            errors.extend(button_errors)
            continue
        if name == "transforms":
            sections["transforms"], transform_errors = validate_transforms(table)
            errors.extend(transform_errors)
            continue
        if name not in _SECTION_FIELDS:
            errors.append(_unknown_top_level(name, table))
            continue
        attr, section_type = _SECTION_FIELDS[name]
        if not isinstance(table, Mapping):
            errors.append(f"{name} = {format_value(table)}: must be a table ([{name}])")
            continue
        values, section_errors = _validate_section(section_type, table, name)
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
    errors.extend(_check_esphome_key(sections.get("esphome_key")))
    if errors:
        raise ConfigError(errors, source)
    return Config(**sections)


def _validate_section(
    section_type: type[Section], table: Mapping[str, Any], path: str
) -> tuple[dict[str, Any], list[str]]:
    """`validate_table`, with the keys the section lists in `REMOVED` named as such."""
    removed = section_type.REMOVED
    values, errors = validate_table(
        section_type, {k: v for k, v in table.items() if k not in removed}, path
    )
    errors.extend(f"{path}.{key}: {removed[key]}" for key in table if key in removed)
    return values, errors


def _unknown_top_level(name: str, value: object) -> str:
    allowed = ", ".join([*SECTIONS, "[[buttons]]", "[[transforms]]"])
    if isinstance(value, Mapping):
        return f"{format_key(name)}: unknown section (allowed: {allowed})"
    homes = [s for s, tp in SECTIONS.items() if name in _keys(tp)]
    hint = f"; it belongs under [{homes[0]}]" if len(homes) == 1 else ""
    return (
        f"{format_key(name)}: unknown key outside any section (allowed sections: {allowed}){hint}"
    )


def _keys(section_type: type[Section]) -> set[str]:
    return {f.encode_name for f in msgspec.structs.fields(section_type)}
