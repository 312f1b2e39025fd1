"""ESPHome's native API messages: the classes generated from api.proto, and their ids.

The only module that touches protobuf. On the wire each message travels as its type
id and its serialized bytes (see frames.py); ESPHome's api.proto gives each message
its id with an ``option (id)``, kept here as a table (tests check it against
aioesphomeapi's).
"""

from __future__ import annotations

from typing import TypeAlias

from google.protobuf.message import DecodeError
from google.protobuf.message import Message as _Message

from herald.esphome import api_pb2 as pb

__all__ = ["IGNORED", "MESSAGE_TYPES", "BadMessage", "Message", "decode", "encode", "pb"]

Message: TypeAlias = _Message

MESSAGE_TYPES: dict[int, type[Message]] = {
    1: pb.HelloRequest,
    2: pb.HelloResponse,
    3: pb.AuthenticationRequest,
    5: pb.DisconnectRequest,
    6: pb.DisconnectResponse,
    7: pb.PingRequest,
    8: pb.PingResponse,
    9: pb.DeviceInfoRequest,
    10: pb.DeviceInfoResponse,
    11: pb.ListEntitiesRequest,
    19: pb.ListEntitiesDoneResponse,
    20: pb.SubscribeStatesRequest,
    63: pb.ListEntitiesMediaPlayerResponse,
    64: pb.MediaPlayerStateResponse,
    65: pb.MediaPlayerCommandRequest,
    89: pb.SubscribeVoiceAssistantRequest,
    107: pb.ListEntitiesEventResponse,
    108: pb.EventResponse,
    119: pb.VoiceAssistantAnnounceRequest,
    120: pb.VoiceAssistantAnnounceFinished,
    121: pb.VoiceAssistantConfigurationRequest,
    122: pb.VoiceAssistantConfigurationResponse,
}
_IDS: dict[type[Message], int] = {cls: id for id, cls in MESSAGE_TYPES.items()}

# Messages Home Assistant sends that mean nothing to a speaker without a microphone,
# sensors or logs: accepted and dropped without a word (others are logged once each).
IGNORED: dict[int, str] = {
    28: "SubscribeLogsRequest",
    34: "SubscribeHomeassistantServicesRequest",
    37: "GetTimeResponse",
    38: "SubscribeHomeAssistantStatesRequest",
    40: "HomeAssistantStateResponse",
    92: "VoiceAssistantEventResponse",
    106: "VoiceAssistantAudio",
    115: "VoiceAssistantTimerEventResponse",
    123: "VoiceAssistantSetConfiguration",
}


class BadMessage(Exception):
    """A payload that does not parse as the message its type id names."""


def decode(msg_type: int, payload: bytes) -> Message | None:
    """The message, or None for a type id herald does not handle; raises BadMessage."""
    cls = MESSAGE_TYPES.get(msg_type)
    if cls is None:
        return None
    msg = cls()
    try:
        msg.ParseFromString(payload)
    except DecodeError:
        raise BadMessage(f"message type {msg_type} ({cls.__name__}) does not parse") from None
    return msg


def encode(msg: Message) -> tuple[int, bytes]:
    """The type id and the serialized bytes of ``msg``."""
    return _IDS[type(msg)], msg.SerializeToString()
