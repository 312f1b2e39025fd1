"""The Noise transport of the ESPHome API, server side (``api: encryption: key:``).

Noise_NNpsk0_25519_ChaChaPoly_SHA256 with the 32-byte pre-shared key, on the
`noiseprotocol` library (the one aioesphomeapi, Home Assistant's client, uses as the
initiator; on top of `cryptography`). The only module importing either.

The exchange, as ESPHome's firmware does it:

1. client: an empty frame (its "hello"), then the first handshake message as a frame
   ``0x00 || message``;
2. herald: the server hello ``0x01 || name || 0x00 || mac || 0x00``, then
   ``0x00 || message`` (the second handshake message). A wrong key fails in (1):
   herald answers ``0x01 || "Handshake MAC failure"``, which aioesphomeapi reports as
   an invalid encryption key, and closes;
3. data frames: ``0x01``, 16-bit length, ChaCha20-Poly1305 of
   ``type (16 bits) || length (16 bits) || payload``.

The prologue is ``"NoiseAPIInit" || 16-bit length of the client hello || the hello``.
"""

from __future__ import annotations

import struct

from cryptography.exceptions import InvalidTag
from noise.connection import NoiseConnection

from herald.esphome.frames import MAX_FRAME, NOISE, FrameError, Received

__all__ = ["NOISE_PROTOCOL", "NoiseCodec"]

NOISE_PROTOCOL = "Noise_NNpsk0_25519_ChaChaPoly_SHA256"
MAX_HANDSHAKE_FRAME = 128  # a handshake message is 48 bytes; ESPHome allows 128
_TAG = 16  # Poly1305

_HELLO, _HANDSHAKE, _DATA, _FAILED = range(4)


def _frame(body: bytes) -> bytes:
    return struct.pack(">BH", NOISE, len(body)) + body


def _reject(reason: str) -> bytes:
    return _frame(b"\x01" + reason.encode())


class NoiseCodec:
    """One connection's Noise state, from the client hello to data frames."""

    def __init__(self, psk: bytes, name: str, mac: str) -> None:
        if len(psk) != 32:
            raise ValueError("the Noise key must be 32 bytes")
        self._psk = psk
        self._name = name.encode()
        self._mac = mac.encode()
        self._state = _HELLO
        self._buf = bytearray()
        self._proto: NoiseConnection | None = None

    @property
    def ready(self) -> bool:
        return self._state == _DATA

    def receive(self, data: bytes | bytearray) -> Received:
        if self._state == _FAILED:
            raise FrameError("data after a failed handshake")
        self._buf += data
        out = Received()
        try:
            while len(self._buf) >= 3:
                if self._buf[0] != NOISE:
                    if self._state == _HELLO and self._buf[0] == 0x00:
                        raise FrameError(
                            "the client does not use encryption, but an esphome key is set",
                            _reject("Bad indicator byte"),
                        )
                    raise FrameError(f"bad indicator byte {self._buf[0]:#04x}")
                (size,) = struct.unpack_from(">H", self._buf, 1)
                if self._state != _DATA and size > MAX_HANDSHAKE_FRAME:
                    raise FrameError(
                        f"a handshake frame of {size} bytes", _reject("Bad handshake packet len")
                    )
                if len(self._buf) < 3 + size:
                    break
                body = bytes(self._buf[3 : 3 + size])
                del self._buf[: 3 + size]
                if self._state == _HELLO:
                    out.reply += self._hello(body)
                elif self._state == _HANDSHAKE:
                    out.reply += self._handshake(body)
                else:
                    out.messages.append(self._decrypt(body))
        except FrameError as exc:
            # What this chunk already produced goes first: a wrong key is refused
            # after the server hello, as the client expects.
            exc.reply = out.reply + exc.reply
            self._state = _FAILED
            raise
        return out

    def _hello(self, body: bytes) -> bytes:
        # The hello's content is reserved (empty today) but bound into the prologue.
        proto = NoiseConnection.from_name(NOISE_PROTOCOL.encode())
        proto.set_as_responder()
        proto.set_psks(self._psk)
        proto.set_prologue(b"NoiseAPIInit" + struct.pack(">H", len(body)) + body)
        proto.start_handshake()
        self._proto = proto
        self._state = _HANDSHAKE
        return _frame(b"\x01" + self._name + b"\x00" + self._mac + b"\x00")

    def _handshake(self, body: bytes) -> bytes:
        assert self._proto is not None
        if not body or body[0] != 0x00:
            raise FrameError("a bad handshake frame", _reject("Bad handshake error byte"))
        try:
            self._proto.read_message(body[1:])
        except InvalidTag:
            raise FrameError(
                "wrong encryption key (Noise handshake MAC failure)",
                _reject("Handshake MAC failure"),
            ) from None
        except Exception as exc:  # noiseprotocol raises assorted types for bad input
            raise FrameError(
                f"bad handshake message ({type(exc).__name__})", _reject("Handshake error")
            ) from None
        message = bytes(self._proto.write_message())
        if not self._proto.handshake_finished:
            raise FrameError("the Noise handshake did not finish", _reject("Handshake error"))
        self._state = _DATA
        return _frame(b"\x00" + message)

    def _decrypt(self, body: bytes) -> tuple[int, bytes]:
        assert self._proto is not None
        try:
            plain = bytes(self._proto.decrypt(body))
        except InvalidTag:
            raise FrameError("a frame that does not decrypt") from None
        except Exception as exc:
            raise FrameError(f"a frame that does not decrypt ({type(exc).__name__})") from None
        if len(plain) < 4:
            raise FrameError(f"a decrypted frame of {len(plain)} bytes (at least 4)")
        msg_type, length = struct.unpack_from(">HH", plain)
        if length > len(plain) - 4:
            raise FrameError(f"a message of {length} bytes in a frame of {len(plain) - 4}")
        return msg_type, plain[4 : 4 + length]

    def encode(self, msg_type: int, payload: bytes) -> bytes:
        assert self._proto is not None and self._state == _DATA
        if len(payload) + 4 + _TAG > MAX_FRAME:
            raise ValueError(f"message of {len(payload)} bytes is too large for a frame")
        header = struct.pack(">HH", msg_type, len(payload))
        return _frame(bytes(self._proto.encrypt(header + payload)))
