"""A media URL into a player stream: fetch (streamed) → decode → feed, as it arrives.

`play_url` is what the speaker calls for a media job (play_media, or an announce
without text): the stream is the player's, so the audio goes through the jitter
buffer like any utterance. `fetch_pcm` reads a short URL whole (Home Assistant's
pre-announce sound), so it can be played with no gap before what follows.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from herald.media.fetch import MediaFormatError, MediaSource, MediaTooLarge
from herald.media.wav import WavDecoder, WavError

__all__ = ["MAX_PREANNOUNCE_BYTES", "MediaResult", "PcmStream", "fetch_pcm", "play_url"]

MAX_PREANNOUNCE_BYTES = 4 * 1024 * 1024  # a chime: ~40 s of 48 kHz mono 16-bit


class PcmStream(Protocol):
    """The part of `herald.audio.Stream` used here."""

    def feed(self, pcm: bytes) -> None: ...

    def end(self) -> None: ...


@dataclass(frozen=True, slots=True)
class MediaResult:
    bytes_in: int  # what was downloaded
    pcm_bytes: int  # what was fed to the stream


async def play_url(source: MediaSource, url: str, stream: PcmStream, rate: int) -> MediaResult:
    """Fetch ``url`` (WAV) and feed it to ``stream`` at ``rate`` as it arrives, then end
    the stream. Raises `herald.media.MediaError` (the stream is then ended with what it
    got, so what already played is not cut)."""
    decoder = WavDecoder(rate)
    received = fed = 0
    try:
        async with source.open(url) as chunks:
            async for chunk in chunks:
                received += len(chunk)
                pcm = _decode(url, decoder.feed, chunk)
                if pcm:
                    stream.feed(pcm)
                    fed += len(pcm)
        tail = _decode(url, lambda _: decoder.finish(), b"")
        if tail:
            stream.feed(tail)
            fed += len(tail)
    finally:
        stream.end()
    return MediaResult(received, fed)


async def fetch_pcm(
    source: MediaSource, url: str, rate: int, *, max_bytes: int = MAX_PREANNOUNCE_BYTES
) -> bytes:
    """The whole of ``url`` as s16le mono at ``rate``; raises MediaError."""
    decoder = WavDecoder(rate)
    out = bytearray()
    received = 0
    async with source.open(url) as chunks:
        async for chunk in chunks:
            received += len(chunk)
            if received > max_bytes:
                raise MediaTooLarge(url, f"more than {max_bytes} bytes for a pre-announce sound")
            out += _decode(url, decoder.feed, chunk)
    out += _decode(url, lambda _: decoder.finish(), b"")
    return bytes(out)


def _decode(url: str, step: Callable[[bytes], bytes], chunk: bytes) -> bytes:
    try:
        return step(chunk)
    except WavError as exc:
        raise MediaFormatError(url, f"not playable: {exc}") from None
