"""herald.voice_clip: what `herald voices clone` checks before it uploads a recording."""

from __future__ import annotations

import struct

import pytest

from herald.sounds.voice_clip import MIN_CLONE_SECONDS, ClipProblem, check_clone_clip, wav_info
from voice_clips import chunk, float_wav_bytes, wav_bytes


@pytest.mark.parametrize(
    ("data", "seconds", "rate", "channels"),
    [
        (wav_bytes(6.0), 6.0, 16000, 1),
        (wav_bytes(5.0, rate=44100, channels=2), 5.0, 44100, 2),
        (wav_bytes(7.5, rate=8000, width=1), 7.5, 8000, 1),
        (wav_bytes(5.5, rate=22050, width=3), 5.5, 22050, 1),
        (float_wav_bytes(5.25), 5.25, 24000, 1),
        (float_wav_bytes(8.0, extensible=True), 8.0, 24000, 1),
    ],
)
def test_good_recordings(data: bytes, seconds: float, rate: int, channels: int) -> None:
    info = check_clone_clip(data)
    assert info.seconds == pytest.approx(seconds, abs=1e-3)
    assert (info.sample_rate, info.channels) == (rate, channels)


def test_too_short_says_how_long_it_is() -> None:
    with pytest.raises(ClipProblem, match=r"^4\.9 s of audio; a clone needs at least 5 s"):
        check_clone_clip(wav_bytes(4.9))
    assert wav_info(wav_bytes(1.0)).seconds == pytest.approx(1.0)
    assert MIN_CLONE_SECONDS == 5.0


def test_streamed_size_fields_are_measured_from_the_file() -> None:
    data = bytearray(wav_bytes(6.0))
    data[40:44] = struct.pack("<I", 0xFFFFFFFF)  # the data chunk's size, unknown
    assert check_clone_clip(bytes(data)).seconds == pytest.approx(6.0)


def test_extra_chunks_before_the_audio_are_skipped() -> None:
    plain = wav_bytes(6.0)
    body = b"WAVE" + chunk(b"LIST", b"INFOISFT\x03\x00\x00\x00ab\x00") + plain[12:]
    data = b"RIFF" + struct.pack("<I", len(body)) + body
    assert check_clone_clip(data).seconds == pytest.approx(6.0)


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (b"ID3\x04\x00" + b"\x00" * 2000, "not a WAV file (no RIFF/WAVE header); convert it"),
        (b"", "not a WAV file"),
        (b"RIFF\x00\x00\x00\x00WAVE", "not a valid WAV file (no format or no audio data)"),
        (wav_bytes(6.0)[:30000], "the WAV file is cut short (29956 of 192000 bytes of audio)"),
        (
            b"RIFF\x00\x00\x00\x00WAVE" + chunk(b"data", b"\x00" * 10),
            "its data comes before its format",
        ),
        (
            b"RIFF\x00\x00\x00\x00WAVE"
            + chunk(b"fmt ", struct.pack("<HHIIHH", 0x55, 1, 8000, 1000, 1, 0))
            + chunk(b"data", b"\x00" * 100000),
            "a WAV file in format 0x0055, not PCM or float",
        ),
    ],
)
def test_what_cannot_be_cloned_from(data: bytes, problem: str) -> None:
    with pytest.raises(ClipProblem) as info:
        check_clone_clip(data)
    assert problem in str(info.value)
    assert "\n" not in str(info.value)
