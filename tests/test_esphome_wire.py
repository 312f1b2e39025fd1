"""The ESPHome wire without a network: herald's message definitions against
aioesphomeapi's, the frame codecs against aioesphomeapi's own initiator, and the
connection's bounds on trio's MockClock over memory streams."""

from __future__ import annotations

import base64
import logging
import struct
from typing import Any

import pytest
import trio
import trio.testing
from aioesphomeapi import api_pb2 as upstream
from aioesphomeapi.core import MESSAGE_TYPE_TO_PROTO
from aioesphomeapi.noise import NoiseHandshake
from google.protobuf import descriptor

from esphome_support import KEY, FakeSpeakerPort, settings
from herald.esphome.connection import Connection, ConnectionTuning
from herald.esphome.entities import Entities, object_key
from herald.esphome.frames import MAX_FRAME, FrameError, PlaintextCodec, varint
from herald.esphome.messages import IGNORED, MESSAGE_TYPES, decode, encode, pb
from herald.esphome.noise import NoiseCodec
from herald.esphome.settings import EsphomeKeyError, decode_key, esphome_name
from herald.secret import Secret

# --- api.proto conformance ----------------------------------------------------------


def _fields(d: descriptor.Descriptor) -> dict[str, tuple[int, int, bool, str]]:
    out = {}
    for f in d.fields:
        kind = f.message_type.name if f.message_type else f.enum_type.name if f.enum_type else ""
        out[f.name] = (f.number, f.type, f.is_repeated, kind)
    return out


@pytest.mark.parametrize("msg_type", sorted(MESSAGE_TYPES))
def test_every_message_matches_esphomes(msg_type: int) -> None:
    ours = MESSAGE_TYPES[msg_type].DESCRIPTOR
    theirs = MESSAGE_TYPE_TO_PROTO[msg_type].DESCRIPTOR
    assert ours.name == theirs.name
    mine, upstream_fields = _fields(ours), _fields(theirs)
    # A subset (herald leaves out what it never sends or reads), never a difference.
    assert mine.items() <= upstream_fields.items()
    for f in ours.fields:
        if f.message_type is not None:
            nested = _fields(f.message_type)
            assert nested.items() <= _fields(theirs.fields_by_name[f.name].message_type).items()


def test_enums_and_ignored_ids_match_esphomes() -> None:
    for enum in pb.DESCRIPTOR.enum_types_by_name.values():
        theirs = upstream.DESCRIPTOR.enum_types_by_name[enum.name]
        assert {v.name: v.number for v in enum.values}.items() <= {
            v.name: v.number for v in theirs.values
        }.items()
    for msg_type, name in IGNORED.items():
        assert MESSAGE_TYPE_TO_PROTO[msg_type].DESCRIPTOR.name == name


def test_messages_cross_the_wire_both_ways() -> None:
    msg_type, payload = encode(pb.MediaPlayerStateResponse(key=7, state=2, volume=0.5, muted=True))
    theirs = MESSAGE_TYPE_TO_PROTO[msg_type].FromString(payload)
    assert (theirs.key, theirs.state, theirs.volume, theirs.muted) == (7, 2, 0.5, True)
    request = upstream.VoiceAssistantAnnounceRequest(
        text="hi", media_id="u", start_conversation=True
    )
    mine = decode(119, request.SerializeToString())
    assert isinstance(mine, pb.VoiceAssistantAnnounceRequest) and mine.text == "hi"
    assert decode(9999, b"\x01") is None


def test_object_keys_are_esphomes_fnv1() -> None:
    # FNV-1 32-bit of "speaker", worked by hand from the FNV reference constants.
    h = 2166136261
    for byte in b"speaker":
        h = (h * 16777619) % 2**32 ^ byte
    assert object_key("speaker") == h
    assert len({object_key(f"button_{i}") for i in range(1000)}) == 1000


# --- plaintext frames -----------------------------------------------------------------


def test_plaintext_frames_in_every_split() -> None:
    codec = PlaintextCodec()
    data = codec.encode(7, b"") + codec.encode(65, b"x" * 300) + codec.encode(200, b"abc")
    for step in range(1, 12):
        c = PlaintextCodec()
        got = []
        for i in range(0, len(data), step):
            got += c.receive(data[i : i + step]).messages
        assert got == [(7, b""), (65, b"x" * 300), (200, b"abc")]


@pytest.mark.parametrize(
    ("data", "error"),
    [
        (b"\x00" + varint(MAX_FRAME + 1) + b"\x01", f"a frame of {MAX_FRAME + 1} bytes"),
        (b"\x00\xff\xff\xff\xff\x01", "a varint longer than 4 bytes"),
        (b"\x05\x00\x00", "bad indicator byte 0x05"),
        (b"\x01\x00\x00", "the client uses encryption, but no esphome key is configured"),
    ],
)
def test_bad_plaintext_frames(data: bytes, error: str) -> None:
    with pytest.raises(FrameError, match=error):
        PlaintextCodec().receive(data)


# --- Noise frames, with aioesphomeapi's own initiator ------------------------------------


def _frames(data: bytes) -> list[bytes]:
    out = []
    while data:
        (size,) = struct.unpack_from(">H", data, 1)
        out.append(data[3 : 3 + size])
        data = data[3 + size :]
    return out


def test_noise_handshake_and_frames_with_aioesphomeapis_initiator() -> None:
    server = NoiseCodec(decode_key(Secret(KEY)), "herald-kitchen", "dca632010203")
    client = NoiseHandshake(KEY, b"NoiseAPIInit\x00\x00")
    hello = client.write_message()
    first = b"\x01\x00\x00" + struct.pack(">BH", 1, len(hello) + 1) + b"\x00" + hello
    reply = b""
    for i in range(len(first)):  # byte by byte
        reply += server.receive(first[i : i + 1]).reply
    server_hello, handshake = _frames(reply)
    assert server_hello == b"\x01herald-kitchen\x00dca632010203\x00"
    assert handshake[0] == 0
    client.read_message(handshake[1:])
    encrypt, decrypt = client.get_ciphers()
    assert server.ready
    for n in range(3):  # nonces advance in step
        frame = encrypt.encrypt(struct.pack(">HH", 7, 1) + bytes([n]))
        assert server.receive(struct.pack(">BH", 1, len(frame)) + frame).messages == [
            (7, bytes([n]))
        ]
        out = _frames(server.encode(8, b"pong"))[0]
        assert decrypt.decrypt(out) == struct.pack(">HH", 8, 4) + b"pong"


def test_noise_refusals() -> None:
    psk = decode_key(Secret(KEY))
    with pytest.raises(FrameError, match="does not use encryption") as info:
        NoiseCodec(psk, "h", "m").receive(b"\x00\x05\x07hello")
    assert _frames(info.value.reply) == [b"\x01Bad indicator byte"]
    with pytest.raises(FrameError, match="a handshake frame of 129 bytes"):
        NoiseCodec(psk, "h", "m").receive(b"\x01\x00\x81")
    codec = NoiseCodec(psk, "h", "m")
    codec.receive(b"\x01\x00\x00")
    with pytest.raises(FrameError, match="a bad handshake frame"):
        codec.receive(b"\x01\x00\x02\x05\x05")
    with pytest.raises(FrameError, match="after a failed handshake"):
        codec.receive(b"\x01")


def test_keys_are_checked_without_showing_them() -> None:
    assert decode_key(Secret(KEY)) == bytes(range(32))
    for bad in ("not base64!", base64.b64encode(b"short").decode(), ""):
        with pytest.raises(EsphomeKeyError) as info:
            decode_key(Secret(bad))
        assert bad == "" or bad not in str(info.value)
    with pytest.raises(EsphomeKeyError):
        settings(key="c2hvcnQ=")


def test_names() -> None:
    assert esphome_name("Kitchen_Speaker") == "kitchen-speaker"
    assert esphome_name("___") == "herald"
    assert len(esphome_name("a" * 64)) == 31
    with pytest.raises(ValueError, match="not a valid ESPHome name"):
        settings(name="Bad_Name")


# --- the connection on MockClock, over memory streams ------------------------------------


class Peer:
    """The client end of a memory stream, speaking plaintext."""

    def __init__(self, stream: trio.abc.Stream) -> None:
        self.stream = stream
        self.codec = PlaintextCodec()
        self.got: list[tuple[int, Any]] = []

    async def send(self, msg: Any) -> None:
        msg_type, payload = encode(msg)
        await self.stream.send_all(self.codec.encode(msg_type, payload))

    async def receive(self) -> list[Any]:
        data = await self.stream.receive_some(65536)
        if not data:
            return []
        return [decode(t, p) for t, p in self.codec.receive(data).messages]


async def serve(
    nursery: trio.Nursery, tuning: ConnectionTuning | None = None, *, lockstep: bool = False
) -> tuple[Peer, Connection, trio.Event]:
    pair = trio.testing.lockstep_stream_pair if lockstep else trio.testing.memory_stream_pair
    ours, theirs = pair()
    conn = Connection(
        ours, PlaintextCodec(), "peer", Entities(settings()), FakeSpeakerPort(), tuning=tuning
    )
    done = trio.Event()

    async def run() -> None:
        await conn.run()
        done.set()

    nursery.start_soon(run)
    return Peer(theirs), conn, done


async def test_no_hello_within_the_handshake_time_is_dropped(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock, caplog: pytest.LogCaptureFixture
) -> None:
    start = trio.current_time()
    _, _, done = await serve(nursery)
    await done.wait()
    assert trio.current_time() - start == pytest.approx(15.0)
    assert "peer disconnected: no handshake within 15 s" in caplog.text


async def test_a_silent_client_is_pinged_then_dropped(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock, caplog: pytest.LogCaptureFixture
) -> None:
    peer, _, done = await serve(nursery)
    await peer.send(pb.HelloRequest(client_info="x"))
    assert [type(m) for m in await peer.receive()] == [pb.HelloResponse]
    start = trio.current_time()
    assert [type(m) for m in await peer.receive()] == [pb.PingRequest]
    assert trio.current_time() - start == pytest.approx(60.0)
    await done.wait()
    assert trio.current_time() - start == pytest.approx(90.0)
    assert "silent for 90 s" in caplog.text


async def test_an_answered_ping_keeps_the_client(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    peer, _, done = await serve(nursery)
    await peer.send(pb.HelloRequest())
    await peer.receive()
    for _ in range(5):
        assert [type(m) for m in await peer.receive()] == [pb.PingRequest]
        await peer.send(pb.PingResponse())
    assert not done.is_set()


async def test_messages_before_hello_and_bad_payloads(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "herald.esphome")
    peer, _, done = await serve(nursery)
    await peer.send(pb.DeviceInfoRequest())
    await done.wait()
    assert "message type 9 before HelloRequest" in caplog.text

    peer, _, done = await serve(nursery, ConnectionTuning(max_bad_messages=3))
    await peer.send(pb.HelloRequest())
    await peer.receive()
    bad = peer.codec.encode(65, b"\xff\xff\xff")  # not a MediaPlayerCommandRequest
    await peer.stream.send_all(peer.codec.encode(4242, b"whatever") + bad + bad)
    await peer.send(pb.PingRequest())
    assert [type(m) for m in await peer.receive()] == [pb.PingResponse]  # still served
    await peer.stream.send_all(bad)
    await done.wait()
    assert "message type 4242 is not handled" in caplog.text
    assert caplog.text.count("sent a bad message") == 3
    assert "disconnected: 3 bad messages" in caplog.text


async def test_a_client_that_does_not_read_is_dropped(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "herald.esphome")
    # Lockstep: a write completes only when the client reads, and this one never does.
    peer, _, done = await serve(nursery, ConnectionTuning(outbox=8), lockstep=True)
    await peer.send(pb.HelloRequest())
    await peer.receive()
    start = trio.current_time()
    with pytest.raises(trio.BrokenResourceError):
        for _ in range(20):
            await peer.send(pb.ListEntitiesRequest())  # 3 replies each
    await done.wait()
    assert trio.current_time() == start  # at once, not after the write timeout
    assert "disconnected: not reading (8 messages waiting)" in caplog.text


async def test_disconnect_request_is_answered_before_closing(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    peer, _, done = await serve(nursery)
    await peer.send(pb.HelloRequest())
    await peer.receive()
    await peer.send(pb.DisconnectRequest())
    assert [type(m) for m in await peer.receive()] == [pb.DisconnectResponse]
    await done.wait()


def test_the_config_section_validates_once() -> None:
    import msgspec

    from herald.esphome.settings import EsphomeConfig

    cfg = msgspec.convert({"enabled": True, "name": "kitchen", "port": 6054}, EsphomeConfig)
    assert (cfg.enabled, cfg.name, cfg.port, cfg.key_file, cfg.advertise) == (
        True,
        "kitchen",
        6054,
        "",
        True,
    )
    assert not EsphomeConfig().enabled  # off by default
    for bad, where in (({"port": 0}, "port"), ({"name": "Bad_Name"}, "name"), ({"x": 1}, "x")):
        with pytest.raises(msgspec.ValidationError, match=where):
            msgspec.convert(bad, EsphomeConfig)
