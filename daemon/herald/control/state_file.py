"""Settings changed at runtime (volume, mute, voice) kept across restarts and power cuts.

The file is a small JSON object with a version field::

    {"version":1,"volume":40,"mute":false,"voice":null,"config_volume":100}

A missing file is a first start. An unreadable or invalid one is logged once and
ignored: the config's settings are a better start than a daemon that will not speak.
Sync code; call it from trio through ``trio.to_thread.run_sync`` (fsync may block).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import msgspec
from msgspec import Meta

from herald.atomic import atomic_write, read_small_file

__all__ = ["FORMAT_VERSION", "SavedState", "initial_volume", "load_state", "save_state"]

log = logging.getLogger("herald.state")

FORMAT_VERSION = 1
MAX_STATE_BYTES = 4096  # the file is ~100 bytes; anything larger is not ours

_Volume = Annotated[int, Meta(ge=0, le=100)]


class SavedState(msgspec.Struct, frozen=True, kw_only=True):
    volume: _Volume
    mute: bool = False
    voice: Annotated[str, Meta(min_length=1)] | None = None  # None: the config's default
    # audio.volume in the config when this was saved, so that a later edit of the config
    # can be told from a volume changed at runtime (see initial_volume).
    config_volume: _Volume | None = None

    def __post_init__(self) -> None:
        # Decoding checks the Meta constraints; this catches a bad value built in code
        # before it is saved as a file that would then be refused at the next start.
        for name in ("volume", "config_volume"):
            value = getattr(self, name)
            if value is not None and not 0 <= value <= 100:
                raise ValueError(f"{name} must be 0 to 100, not {value}")


class _Header(msgspec.Struct):
    version: int


_HEADER = msgspec.json.Decoder(_Header)
_STATE = msgspec.json.Decoder(SavedState)


def load_state(path: Path) -> SavedState | None:
    """The saved state; None if there is none, or (logged) if the file is unusable."""
    try:
        data = read_small_file(path, MAX_STATE_BYTES)
    except FileNotFoundError:
        return None
    except OSError as exc:
        reason = f"cannot read it: {exc.strerror or exc}"
    else:
        decoded = _decode(data)
        if isinstance(decoded, SavedState):
            return decoded
        reason = decoded
    log.warning("ignoring saved settings %s: %s; using the config's", path, reason)
    return None


def _decode(data: bytes) -> SavedState | str:
    """The state, or what is wrong with ``data``."""
    if not data.strip():
        return "it is empty"
    try:
        version = _HEADER.decode(data).version
        if version != FORMAT_VERSION:
            return f"format version {version}, this herald reads {FORMAT_VERSION}"
        return _STATE.decode(data)
    except msgspec.DecodeError as exc:
        return str(exc)
    except RecursionError:  # a file nested a thousand levels deep
        return "nested too deep to be herald's"


def save_state(path: Path, state: SavedState) -> None:
    """Replace the file atomically and durably; raises OSError if that failed.

    A crash or power cut at any point leaves either the old file or the new one.
    """
    data = msgspec.json.encode({"version": FORMAT_VERSION, **msgspec.structs.asdict(state)})
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, data + b"\n")


def initial_volume(saved: SavedState | None, config_volume: int) -> int:
    """The volume to start at: the saved one, unless the config's audio.volume was edited
    since it was saved (then the user changed it on purpose, and it wins).

    A state saved without ``config_volume`` cannot show an edit, so its volume is kept.
    """
    if saved is None:
        return config_volume
    if saved.config_volume is not None and saved.config_volume != config_volume:
        return config_volume
    return saved.volume
