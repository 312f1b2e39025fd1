"""`herald doctor` reads what the service reads: herald.service's config and credentials.

Only the unit gets ``$CREDENTIALS_DIRECTORY``: systemd copies each ``LoadCredential=``
into it at start. So doctor reads the unit (``systemctl cat herald``, else the unit
file and its drop-ins) and finds each credential where systemd would (systemd.exec(5)):
an absolute path as given, else the name looked up in /etc/credstore/,
/run/credstore/, /usr/local/lib/credstore/ and /usr/lib/credstore/ (install.sh links
/etc/credstore/<name> to /etc/herald/credentials/<name>). The precedence stays the
daemon's: a ``*_file`` key of the config, then the credential, then the environment.
The config path is ``--config``, else ``$HERALD_CONFIG``, else the ``--config`` of the
unit's ExecStart (or its ``Environment=HERALD_CONFIG``), else /etc/herald/config.toml.

Those files are root's (0600, in 0700 folders): run by another user, doctor says so
instead of reporting a missing key.
"""

from __future__ import annotations

import os
import shlex
import subprocess
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import msgspec

from herald.config import DEFAULT_CONFIG_PATH, Config, ConfigError, load_config
from herald.secret import SecretFileError, read_secret_file

UNIT = "herald.service"
SYSTEMCTL = ("systemctl", "cat", "--no-pager", UNIT)
UNIT_PATHS = tuple(
    Path(d) / UNIT
    for d in (
        "/etc/systemd/system",
        "/run/systemd/system",
        "/lib/systemd/system",
        "/usr/lib/systemd/system",
    )
)
CREDSTORE = tuple(
    Path(d)
    for d in ("/etc/credstore", "/run/credstore", "/usr/local/lib/credstore", "/usr/lib/credstore")
)
SYSTEMCTL_TIMEOUT = 5.0
ROOT_FIX = "run as root: sudo herald doctor"


@dataclass(frozen=True, slots=True)
class _Secret:
    field: str  # Config attribute
    section: str
    key: str  # the config key naming a file
    env_var: str


# credential name -> how herald reads it (as herald.config does)
SECRETS = {
    "cartesia_api_key": _Secret("cartesia_api_key", "cartesia", "api_key_file", "CARTESIA_API_KEY"),
    "mqtt_password": _Secret("mqtt_password", "mqtt", "password_file", "HERALD_MQTT_PASSWORD"),
}


@dataclass(frozen=True, slots=True)
class Unit:
    """What doctor needs from herald.service."""

    source: str  # "systemctl cat herald.service" or the unit file's path
    credentials: Mapping[str, str]  # LoadCredential= ID -> its path as written ("" if none)
    encrypted: tuple[str, ...] = ()  # LoadCredentialEncrypted= IDs (doctor cannot decrypt)
    config: Path | None = None
    config_from: str = ""  # "ExecStart --config" or "Environment=HERALD_CONFIG"


def _exec_config(command: str) -> Path | None:
    try:
        words = shlex.split(command)
    except ValueError:
        return None
    for i, word in enumerate(words):
        if word == "--config" and i + 1 < len(words):
            return Path(words[i + 1])
        if word.startswith("--config="):
            return Path(word.removeprefix("--config="))
    return None


def parse_unit(text: str, source: str) -> Unit:
    """The [Service] settings doctor needs; later lines win, an empty one resets."""
    credentials: dict[str, str] = {}
    encrypted: dict[str, str] = {}
    exec_start = ""
    env_config: Path | None = None
    section = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1]
            continue
        if section != "Service" or "=" not in line:
            continue
        key, value = (part.strip() for part in line.split("=", 1))
        if key in ("LoadCredential", "LoadCredentialEncrypted"):
            table = credentials if key == "LoadCredential" else encrypted
            if not value:
                table.clear()
                continue
            name, _, path = value.partition(":")
            table[name] = path
        elif key == "ExecStart":
            exec_start = value.lstrip("-@:+!")
        elif key == "Environment":
            try:
                assignments = shlex.split(value)
            except ValueError:
                continue
            for assignment in assignments:
                name, _, setting = assignment.partition("=")
                if name == "HERALD_CONFIG":
                    env_config = Path(setting) if setting else None
    config, config_from = _exec_config(exec_start), "ExecStart --config"
    if config is None and env_config is not None:
        config, config_from = env_config, "Environment=HERALD_CONFIG"
    return Unit(
        source=source,
        credentials=credentials,
        encrypted=tuple(encrypted),
        config=config,
        config_from=config_from if config is not None else "",
    )


def read_unit(
    *, systemctl: Sequence[str] | None = SYSTEMCTL, paths: Sequence[Path] = UNIT_PATHS
) -> Unit | None:
    """herald.service as systemd sees it (``systemctl cat``: the unit and its drop-ins),
    else the first unit file found with its drop-ins; None if herald is not installed."""
    if systemctl:
        try:
            result = subprocess.run(
                list(systemctl), capture_output=True, text=True, timeout=SYSTEMCTL_TIMEOUT
            )
        except (OSError, subprocess.SubprocessError):
            result = None
        if result is not None and result.returncode == 0 and result.stdout.strip():
            return parse_unit(result.stdout, f"{systemctl[0]} {systemctl[1]} {systemctl[-1]}")
    for path in paths:
        try:
            text = path.read_text()
        except OSError:
            continue
        dropins = sorted(path.parent.joinpath(f"{path.name}.d").glob("*.conf"))
        for dropin in dropins:
            try:
                text += "\n" + dropin.read_text()
            except OSError:
                continue
        return parse_unit(text, str(path))
    return None


@dataclass(frozen=True, slots=True)
class Credential:
    """Where systemd would take one credential from; ``problem`` when doctor cannot
    read it (not root, most likely)."""

    name: str
    path: Path | None = None
    problem: str = ""


def find_credential(name: str, written: str, credstore: Sequence[Path] = CREDSTORE) -> Credential:
    """Look ``name`` up as systemd does for ``LoadCredential=name[:written]``."""
    if written.startswith("/"):
        candidates = [Path(written)]
    else:
        candidates = [folder / (written or name) for folder in credstore]
    problems = []
    for path in candidates:
        try:
            path.stat()
            with path.open("rb"):
                pass
        except FileNotFoundError:
            continue
        except PermissionError:
            problems.append(f"{path}: permission denied")
            continue
        except OSError as exc:
            problems.append(f"{path}: {exc.strerror or exc}")
            continue
        return Credential(name, path)
    return Credential(name, None, "; ".join(problems))


@dataclass(frozen=True, slots=True)
class ServiceSetup:
    """The config doctor checks, and where each part of it came from."""

    cfg: Config
    config_path: Path
    config_from: str  # "--config", "$HERALD_CONFIG", "herald.service ExecStart --config"...
    unit: Unit | None
    credentials: Mapping[str, Credential] = field(default_factory=dict)
    origins: Mapping[str, str] = field(default_factory=dict)  # Config field -> where from
    problems: tuple[str, ...] = ()  # credentials doctor could not read


def load_like_service(
    config: Path | None,
    env: Mapping[str, str],
    *,
    unit: Callable[[], Unit | None] = read_unit,
    credstore: Sequence[Path] = CREDSTORE,
) -> ServiceSetup:
    """Load the config the way herald.service would run herald; ``unit`` reads the
    unit (None: not installed). Raises ConfigError, with the root hint when a
    permission was missing."""
    found = unit()
    if config is not None:
        path, origin = config, "--config"
    elif env.get("HERALD_CONFIG"):
        path, origin = Path(env["HERALD_CONFIG"]), "$HERALD_CONFIG"
    elif found is not None and found.config is not None:
        path, origin = found.config, f"{UNIT} {found.config_from}"
    else:
        path, origin = DEFAULT_CONFIG_PATH, "the default"
    try:
        cfg = load_config(path if origin != "the default" else None, env)
    except ConfigError as exc:
        if os.geteuid() != 0 and any("ermission denied" in error for error in exc.errors):
            raise ConfigError([*exc.errors, ROOT_FIX], exc.source) from None
        raise

    own = env.get("CREDENTIALS_DIRECTORY")
    credentials: dict[str, Credential] = {}
    if found is not None and not own:
        for name, written in found.credentials.items():
            if name in SECRETS:
                credentials[name] = find_credential(name, written, credstore)
    origins: dict[str, str] = {}
    problems: list[str] = []
    for name, secret in SECRETS.items():
        section = getattr(cfg, secret.section)
        named = getattr(section, secret.key)
        credential = credentials.get(name)
        if named:
            origins[secret.field] = f"{secret.section}.{secret.key} = {named}"
        elif credential is not None and credential.path is not None:
            try:
                value = read_secret_file(credential.path)
            except SecretFileError as exc:
                problems.append(f"{credential.path}: {exc.reason}")
                continue
            if value:
                cfg = msgspec.structs.replace(cfg, **{secret.field: value})
                origins[secret.field] = f"credential {name} of {UNIT} ({credential.path})"
        elif credential is not None and credential.problem:
            problems.append(credential.problem)
        elif own and Path(own, name).exists():
            origins[secret.field] = f"$CREDENTIALS_DIRECTORY/{name}"
        if secret.field not in origins and env.get(secret.env_var):
            origins[secret.field] = f"${secret.env_var}"
    return ServiceSetup(
        cfg=cfg,
        config_path=path,
        config_from=origin,
        unit=found,
        credentials=credentials,
        origins=origins,
        problems=tuple(problems),
    )
