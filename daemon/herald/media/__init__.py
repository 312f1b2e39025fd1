"""Media URLs (Home Assistant's play_media and announcements) as audio for the player.

`wav` decodes WAV to s16le mono at ``audio.sample_rate`` (pure logic, streaming);
`fetch` gets a URL with httpx2 (streamed, bounded: `FetchLimits`); `play` joins them:
`play_url` feeds a player stream as the bytes arrive, `fetch_pcm` reads a short URL
whole (the pre-announce sound).

Only WAV: Home Assistant's ffmpeg proxy converts any media to the format the device
declares, and WAV at the player's rate is what the player plays, bit for bit, with no
decoding cost on a Pi Zero. FLAC would only save LAN bandwidth (24 kHz mono WAV is
48 kB/s) and would need libsndfile or libFLAC, which have no wheels for 32-bit Pi OS.
"""

from herald.media.fetch import (
    FetchLimits,
    HttpMedia,
    MediaError,
    MediaFormatError,
    MediaHttpError,
    MediaSource,
    MediaTimeout,
    MediaTooLarge,
    MediaUnreachable,
    describe_url,
)
from herald.media.play import MediaResult, PcmStream, fetch_pcm, play_url
from herald.media.wav import WavDecoder, WavError, WavFormat

__all__ = [
    "FetchLimits",
    "HttpMedia",
    "MediaError",
    "MediaFormatError",
    "MediaHttpError",
    "MediaResult",
    "MediaSource",
    "MediaTimeout",
    "MediaTooLarge",
    "MediaUnreachable",
    "PcmStream",
    "WavDecoder",
    "WavError",
    "WavFormat",
    "describe_url",
    "fetch_pcm",
    "play_url",
]
