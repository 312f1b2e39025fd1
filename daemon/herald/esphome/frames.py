"""The ESPHome API's frames, without I/O: bytes in, messages (type id, payload) out.

Two transports share one shape (`Codec`):

- plaintext (`PlaintextCodec`): ``0x00``, varint length, varint type, payload;
- Noise (`herald.esphome.noise.NoiseCodec`): ``0x01``, 16-bit length, an encrypted
  frame holding a 16-bit type, a 16-bit length and the payload, after a handshake.

A frame may hold at most `MAX_FRAME` bytes (ESPHome's own limit: the Noise length is
16 bits); anything larger, a bad indicator byte or an over-long varint ends the
connection with a `FrameError`, before any large buffer is allocated.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

__all__ = ["MAX_FRAME", "Codec", "FrameError", "PlaintextCodec", "Received"]

MAX_FRAME = 65535
_MAX_VARINT_BYTES = 4  # 28 bits: well above MAX_FRAME and any message type
PLAINTEXT = 0x00
NOISE = 0x01
# What ESPHome's plaintext server answers a Noise client with: a plaintext indicator, so
# the client reports "the device is using plaintext" instead of a bare disconnect.
_PLAINTEXT_REFUSAL = b"\x00Bad indicator byte"


class FrameError(Exception):
    """The peer broke the protocol; ``reply`` (if any) is sent before the connection
    closes. The message is for the log: it never holds the encryption key."""

    def __init__(self, message: str, reply: bytes = b"") -> None:
        super().__init__(message)
        self.reply = reply


@dataclass(slots=True)
class Received:
    """What one chunk of bytes gave: complete messages, and bytes to send back at once
    (the Noise handshake)."""

    messages: list[tuple[int, bytes]] = field(default_factory=list)
    reply: bytes = b""


class Codec(Protocol):
    @property
    def ready(self) -> bool:
        """True once messages may be sent (after the handshake, if any)."""
        ...

    def receive(self, data: bytes | bytearray) -> Received:
        """Bytes from the peer; raises FrameError."""
        ...

    def encode(self, msg_type: int, payload: bytes) -> bytes:
        """One message as bytes for the wire (only once `ready`)."""
        ...


def varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _read_varint(buf: bytearray, pos: int) -> tuple[int, int] | None:
    """(value, next position), or None if the buffer ends inside it; raises FrameError."""
    value = 0
    for i in range(_MAX_VARINT_BYTES):
        if pos + i >= len(buf):
            return None
        byte = buf[pos + i]
        value |= (byte & 0x7F) << (7 * i)
        if not byte & 0x80:
            return value, pos + i + 1
    raise FrameError(f"a varint longer than {_MAX_VARINT_BYTES} bytes")


class PlaintextCodec:
    """The plaintext transport (``api:`` without ``encryption:``)."""

    ready = True

    def __init__(self) -> None:
        self._buf = bytearray()

    def receive(self, data: bytes | bytearray) -> Received:
        self._buf += data
        out = Received()
        while self._buf:
            if self._buf[0] != PLAINTEXT:
                if self._buf[0] == NOISE:
                    raise FrameError(
                        "the client uses encryption, but no esphome key is configured",
                        _PLAINTEXT_REFUSAL,
                    )
                raise FrameError(f"bad indicator byte {self._buf[0]:#04x}")
            length = _read_varint(self._buf, 1)
            if length is None:
                break
            size, pos = length
            if size > MAX_FRAME:
                raise FrameError(f"a frame of {size} bytes (at most {MAX_FRAME})")
            kind = _read_varint(self._buf, pos)
            if kind is None:
                break
            msg_type, pos = kind
            if len(self._buf) < pos + size:
                break
            out.messages.append((msg_type, bytes(self._buf[pos : pos + size])))
            del self._buf[: pos + size]
        return out

    def encode(self, msg_type: int, payload: bytes) -> bytes:
        if len(payload) > MAX_FRAME:
            raise ValueError(f"message of {len(payload)} bytes (at most {MAX_FRAME})")
        return bytes([PLAINTEXT]) + varint(len(payload)) + varint(msg_type) + payload
