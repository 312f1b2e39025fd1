"""herald as a Home Assistant speaker on the ESPHome native API (issue 18).

Modules: `messages` (the api.proto classes and ids; the only protobuf user), `frames`
(plaintext framing), `noise` (the Noise transport; the only noiseprotocol user),
`entities` (device info, media_player, button events, the satellite flags),
`connection` (one client's state machine), `mdns` (zeroconf; the only zeroconf user),
`server` (the service), `port` (what the server needs from herald), `settings`
(the ``[esphome]`` section).

This package's top level holds only the light parts (the config section, the port),
so that loading the config never imports protobuf; the service is
``from herald.esphome.server import EsphomeServer``, imported only when
``esphome.enabled``.
"""

from herald.esphome.port import AnnounceOutcome, Playback, SpeakerPort
from herald.esphome.settings import (
    EsphomeConfig,
    EsphomeKeyError,
    EsphomeSettings,
    decode_key,
    esphome_name,
    host_mac,
)

__all__ = [
    "AnnounceOutcome",
    "EsphomeConfig",
    "EsphomeKeyError",
    "EsphomeSettings",
    "Playback",
    "SpeakerPort",
    "decode_key",
    "esphome_name",
    "host_mac",
]
