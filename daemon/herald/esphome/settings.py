"""The ``[esphome]`` config section and the settings the server runs with.

`EsphomeConfig` is the TOML table (validated once, like herald's other sections);
`EsphomeSettings` is what `EsphomeServer` takes, built by the app from it, the device
id, the audio rate and the secret read from ``key_file``.
"""

from __future__ import annotations

import binascii
import re
import uuid
from dataclasses import dataclass

from herald.config.sections import ESPHOME_NAME_MAX, ESPHOME_PORT, EsphomeConfig
from herald.secret import Secret

__all__ = [
    "DEFAULT_PORT",
    "EsphomeConfig",
    "EsphomeKeyError",
    "EsphomeSettings",
    "decode_key",
    "esphome_name",
    "host_mac",
]

DEFAULT_PORT = ESPHOME_PORT
NAME_MAX = ESPHOME_NAME_MAX
_NAME = re.compile(r"[a-z0-9](?:[a-z0-9-]*[a-z0-9])?")
_KEY_RULE = "the base64 text of 32 bytes, as ESPHome's `api: encryption: key:`"


class EsphomeKeyError(ValueError):
    """The key is not what ESPHome expects; the message never holds the key."""


def decode_key(key: Secret) -> bytes:
    """The 32 raw bytes of a base64 key; raises EsphomeKeyError."""
    text = key.reveal().strip()
    try:
        raw = binascii.a2b_base64(text, strict_mode=True)
    except (binascii.Error, ValueError):
        raise EsphomeKeyError(f"the esphome key is not base64 ({_KEY_RULE})") from None
    if len(raw) != 32:
        raise EsphomeKeyError(f"the esphome key holds {len(raw)} bytes, not 32 ({_KEY_RULE})")
    return raw


def esphome_name(device_id: str) -> str:
    """A valid ESPHome node name from herald's device id (lower-case, '_' to '-')."""
    name = re.sub(r"[^a-z0-9-]", "-", device_id.lower())[:NAME_MAX].strip("-")
    return name if _NAME.fullmatch(name) else "herald"


def host_mac() -> str:
    """This machine's MAC as ESPHome writes it ("AA:BB:CC:DD:EE:FF"). Home Assistant
    keys the device by it, so it must stay the same across restarts: uuid.getnode
    reads a network card's address (a random one only if there is none)."""
    node = uuid.getnode()
    return ":".join(f"{(node >> shift) & 0xFF:02X}" for shift in range(40, -1, -8))


@dataclass(frozen=True, slots=True, kw_only=True)
class EsphomeSettings:
    """What the server needs; `key` None means plaintext only."""

    name: str
    friendly_name: str
    mac: str  # "AA:BB:CC:DD:EE:FF"
    sample_rate: int  # the WAV rate the media player declares (audio.sample_rate)
    port: int = DEFAULT_PORT
    host: str = "0.0.0.0"
    key: Secret | None = None
    buttons: tuple[str, ...] = ()  # [[buttons]] names: one event entity each
    advertise: bool = True
    # mDNS: the addresses to announce and the interfaces to answer on; None: all of
    # this machine's (tests give ("127.0.0.1",)).
    mdns_addresses: tuple[str, ...] | None = None
    version: str = ""  # herald's version, shown as the project version

    def __post_init__(self) -> None:
        if not _NAME.fullmatch(self.name) or len(self.name) > NAME_MAX:
            raise ValueError(f"not a valid ESPHome name: {self.name!r}")
        if self.key is not None:
            decode_key(self.key)  # fails loudly at start, not at the first connection

    @property
    def psk(self) -> bytes | None:
        return decode_key(self.key) if self.key is not None else None

    @property
    def mac_hex(self) -> str:
        """The MAC as mDNS carries it: lower-case, no colons."""
        return self.mac.replace(":", "").lower()
