"""The entities herald shows Home Assistant, and the device description.

- one ``media_player`` (play_media, announce, stop, volume set/step, mute), which
  declares WAV, mono, 16-bit at the player's rate for both purposes, so Home
  Assistant's ffmpeg proxy hands herald exactly what the player plays;
- one ``event`` entity per configured button (event types short, long, double);
- the ``assist_satellite`` is not an entity on the wire: Home Assistant makes it from
  the device's voice-assistant feature flags, here "voice assistant + announce" with no
  speaker or microphone stream (LVA's output-only form).
"""

from __future__ import annotations

from dataclasses import dataclass

from herald.esphome.messages import Message, pb
from herald.esphome.port import Playback
from herald.esphome.settings import EsphomeSettings

__all__ = [
    "EVENT_TYPES",
    "SATELLITE_FLAGS",
    "Entities",
    "MediaState",
    "object_key",
]

ESPHOME_COMPAT_VERSION = "2025.9.0"  # the ESPHome release whose API this matches
API_VERSION = (1, 10)  # 1.10: feature flags instead of the legacy voice-assistant version
EVENT_TYPES = ("short", "long", "double")  # herald.buttons' presses

# aioesphomeapi.VoiceAssistantFeature: VOICE_ASSISTANT (1) | ANNOUNCE (16). Without
# SPEAKER, Home Assistant sends announcements as URLs in the media player's format.
SATELLITE_FLAGS = 1 | 16

# aioesphomeapi.MediaPlayerEntityFeature bits (Home Assistant's): what herald does.
_VOLUME_SET, _VOLUME_MUTE, _PLAY_MEDIA, _VOLUME_STEP, _STOP = (
    1 << 2,
    1 << 3,
    1 << 9,
    1 << 10,
    1 << 12,
)
_BROWSE_MEDIA, _MEDIA_ANNOUNCE = 1 << 17, 1 << 20
MEDIA_FEATURES = (
    _VOLUME_SET
    | _VOLUME_MUTE
    | _PLAY_MEDIA
    | _VOLUME_STEP
    | _STOP
    | _BROWSE_MEDIA
    | _MEDIA_ANNOUNCE
)
MEDIA_PLAYER_ID = "speaker"

_STATES = {
    Playback.IDLE: pb.MEDIA_PLAYER_STATE_IDLE,
    # ANNOUNCING is newer than many Home Assistant releases, which show it as unknown.
    Playback.PLAYING: pb.MEDIA_PLAYER_STATE_PLAYING,
    Playback.ANNOUNCING: pb.MEDIA_PLAYER_STATE_PLAYING,
}


def object_key(object_id: str) -> int:
    """ESPHome's entity key: the 32-bit FNV-1 hash of the object id."""
    h = 2166136261
    for byte in object_id.encode():
        h = (h * 16777619) & 0xFFFFFFFF
        h ^= byte
    return h


@dataclass(frozen=True, slots=True)
class MediaState:
    playback: Playback
    volume: int  # 0-100
    muted: bool


class Entities:
    """The device info, entity list and state messages for one configuration."""

    def __init__(self, settings: EsphomeSettings) -> None:
        self._s = settings
        self.media_key = object_key(MEDIA_PLAYER_ID)
        self._buttons = {name: object_key(_button_id(name)) for name in settings.buttons}

    def hello(self) -> pb.HelloResponse:
        major, minor = API_VERSION
        return pb.HelloResponse(
            api_version_major=major,
            api_version_minor=minor,
            server_info=f"herald {self._s.version}".strip(),
            name=self._s.name,
        )

    def device_info(self) -> pb.DeviceInfoResponse:
        s = self._s
        return pb.DeviceInfoResponse(
            uses_password=False,
            name=s.name,
            friendly_name=s.friendly_name,
            mac_address=s.mac,
            esphome_version=ESPHOME_COMPAT_VERSION,
            model="herald voice appliance",
            manufacturer="herald",
            project_name="herald.speaker",
            project_version=s.version,
            voice_assistant_feature_flags=SATELLITE_FLAGS,
            # Only with a key: a device that reports support without one invites Home
            # Assistant to provision a key, which herald leaves to its config file.
            api_encryption_supported=s.key is not None,
        )

    def listing(self) -> list[Message]:
        """ListEntities* for every entity (ListEntitiesDone is the caller's)."""
        rate = self._s.sample_rate
        formats = [
            pb.MediaPlayerSupportedFormat(
                format="wav", sample_rate=rate, num_channels=1, purpose=purpose, sample_bytes=2
            )
            for purpose in (
                pb.MEDIA_PLAYER_FORMAT_PURPOSE_DEFAULT,
                pb.MEDIA_PLAYER_FORMAT_PURPOSE_ANNOUNCEMENT,
            )
        ]
        out: list[Message] = [
            pb.ListEntitiesMediaPlayerResponse(
                object_id=MEDIA_PLAYER_ID,
                key=self.media_key,
                name="",  # Home Assistant then names it after the device
                icon="mdi:speaker",
                supports_pause=False,
                supported_formats=formats,
                feature_flags=MEDIA_FEATURES,
            )
        ]
        for name, key in self._buttons.items():
            out.append(
                pb.ListEntitiesEventResponse(
                    object_id=_button_id(name),
                    key=key,
                    name=f"Button {name}",
                    icon="mdi:gesture-tap-button",
                    device_class="button",
                    event_types=list(EVENT_TYPES),
                )
            )
        return out

    def media_state(self, state: MediaState) -> pb.MediaPlayerStateResponse:
        return pb.MediaPlayerStateResponse(
            key=self.media_key,
            state=_STATES[state.playback],
            volume=state.volume / 100,
            muted=state.muted,
        )

    def button_event(self, button: str, press: str) -> pb.EventResponse | None:
        """The event message for a press, or None for a button herald does not list."""
        key = self._buttons.get(button)
        if key is None or press not in EVENT_TYPES:
            return None
        return pb.EventResponse(key=key, event_type=press)

    def satellite_configuration(self) -> pb.VoiceAssistantConfigurationResponse:
        # No microphone, so no wake words.
        return pb.VoiceAssistantConfigurationResponse(max_active_wake_words=0)


def _button_id(name: str) -> str:
    return "button_" + "".join(c if c.isalnum() else "_" for c in name.lower())
