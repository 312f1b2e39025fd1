"""Fetching and playing media URLs: httpx2 against a real HTTP server on loopback, and
the audio through the real player on a simulated card, compared sample by sample."""

from __future__ import annotations

import io
import random
import wave
from array import array
from collections.abc import AsyncIterator

import numpy as np
import pytest
import trio

from herald.audio import Player, PlayerTuning
from herald.audio.sim_sink import SimDevice
from herald.media import (
    FetchLimits,
    HttpMedia,
    MediaFormatError,
    MediaHttpError,
    MediaTimeout,
    MediaTooLarge,
    MediaUnreachable,
    fetch_pcm,
    play_url,
)
from media_server import MediaServer, Route

RATE = 24000


def tone(frames: int) -> bytes:
    return array("h", [(i * 37) % 30000 - 15000 or 1 for i in range(frames)]).tobytes()


def wav(pcm: bytes, rate: int = RATE, channels: int = 1) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm)
    return out.getvalue()


PCM = tone(RATE)  # one second
ROUTES = {
    "/tts.wav": Route(body=wav(PCM)),
    "/streamed.wav": Route(body=wav(PCM), chunked=True, chunk_size=1000),
    "/48k.wav": Route(body=wav(tone(48000), rate=48000)),
    "/page.html": Route(body=b"<html>not audio</html>" * 10, content_type="text/html"),
    "/big.wav": Route(body=wav(tone(RATE * 4))),
    "/big-chunked.wav": Route(body=wav(tone(RATE * 4)), chunked=True),
    "/stall.wav": Route(stall_before_headers=True),
    "/stall-body.wav": Route(body=wav(PCM), stall_after=10000),
}


@pytest.fixture
async def server(nursery: trio.Nursery) -> AsyncIterator[MediaServer]:
    srv = MediaServer(ROUTES)
    await nursery.start(srv.serve)
    yield srv


class Collect:
    def __init__(self) -> None:
        self.pcm = bytearray()
        self.ended = False

    def feed(self, pcm: bytes) -> None:
        self.pcm += pcm

    def end(self) -> None:
        self.ended = True


async def test_a_wav_url_is_fetched_and_decoded_bit_exact(server: MediaServer) -> None:
    for path in ("/tts.wav", "/streamed.wav"):
        sink = Collect()
        result = await play_url(HttpMedia(), server.url(path), sink, RATE)
        assert bytes(sink.pcm) == PCM, path
        assert sink.ended
        assert result.pcm_bytes == len(PCM)


async def test_another_rate_is_resampled(server: MediaServer) -> None:
    pcm = await fetch_pcm(HttpMedia(), server.url("/48k.wav"), RATE)
    assert abs(len(pcm) // 2 - RATE) <= 2  # one second at 24 kHz


async def test_through_the_real_player_bit_exact(
    server: MediaServer, nursery: trio.Nursery
) -> None:
    device = SimDevice()
    player = Player(device, RATE, tuning=PlayerTuning(idle_close_s=None), rng=random.Random(1))
    await nursery.start(player.run)
    stream = player.open_stream()
    await play_url(HttpMedia(), server.url("/streamed.wav"), stream, RATE)
    metrics = await stream.wait_done()
    assert metrics.frames_played == RATE
    out = np.frombuffer(bytes(device.written), "<i2")
    nonzero = np.flatnonzero(out)
    played = out[nonzero[0] : nonzero[0] + RATE].tobytes()
    assert played == PCM


@pytest.mark.parametrize(
    ("path", "error", "message"),
    [
        ("/missing.wav", MediaHttpError, "media http://127.0.0.1:{port}/missing.wav: HTTP 404"),
        ("/page.html", MediaFormatError, "not playable: not a WAV file (it starts with b'<htm')"),
        ("/big.wav", MediaTooLarge, "bytes (at most 100000)"),
        ("/big-chunked.wav", MediaTooLarge, "more than 100000 bytes"),
    ],
)
async def test_errors_are_named(
    server: MediaServer, path: str, error: type[Exception], message: str
) -> None:
    sink = Collect()
    with pytest.raises(error) as info:
        await play_url(HttpMedia(FetchLimits(max_bytes=100_000)), server.url(path), sink, RATE)
    assert message.format(port=server.port) in str(info.value)
    assert sink.ended  # what was fed so far still plays out


async def test_refused_and_not_http() -> None:
    with trio.socket.socket() as sock:  # a port with nobody listening
        await sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(MediaUnreachable, match=f"media http://127.0.0.1:{port}/x.wav: "):
        await fetch_pcm(HttpMedia(), f"http://127.0.0.1:{port}/x.wav", RATE)
    with pytest.raises(MediaUnreachable, match="not an http:// or https:// URL"):
        await fetch_pcm(HttpMedia(), "file:///etc/passwd", RATE)


async def test_a_server_that_never_answers_times_out(
    server: MediaServer, autojump_clock: trio.testing.MockClock
) -> None:
    limits = FetchLimits(read_s=10.0)
    start = trio.current_time()
    with pytest.raises(MediaTimeout, match=r"stall\.wav: no data for 10 s"):
        await fetch_pcm(HttpMedia(limits), server.url("/stall.wav"), RATE)
    assert trio.current_time() - start == pytest.approx(10.0, abs=0.5)


async def test_a_body_that_stops_times_out(
    server: MediaServer, autojump_clock: trio.testing.MockClock
) -> None:
    sink = Collect()
    with pytest.raises(MediaTimeout, match="no data for 10 s"):
        url = server.url("/stall-body.wav")
        await play_url(HttpMedia(FetchLimits(read_s=10.0)), url, sink, RATE)
    assert 0 < len(sink.pcm) < len(PCM)  # what arrived was played
    assert sink.ended


async def test_the_whole_transfer_is_bounded(
    server: MediaServer, autojump_clock: trio.testing.MockClock
) -> None:
    with pytest.raises(MediaTimeout, match="not complete within 5 s"):
        await fetch_pcm(
            HttpMedia(FetchLimits(read_s=60.0, total_s=5.0)), server.url("/stall.wav"), RATE
        )


def test_urls_in_messages_lose_their_query() -> None:
    error = MediaHttpError("http://ha.local:8123/api/esphome/ffmpeg_proxy/x.flac?token=SECRET", 404)
    assert "SECRET" not in str(error)
    assert str(error) == "media http://ha.local:8123/api/esphome/ffmpeg_proxy/x.flac: HTTP 404"
