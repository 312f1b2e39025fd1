"""The streaming WAV decoder: pure logic, fed in every possible split."""

from __future__ import annotations

import io
import re
import struct
import wave
from array import array

import numpy as np
import pytest
import soxr  # type: ignore[import-untyped]

from herald.media.wav import MAX_HEADER, WavDecoder, WavError


def tone(frames: int, start: int = 0) -> array[int]:
    """No zero sample, every sample telling its position."""
    return array("h", [((i + start) * 37) % 30000 - 15000 or 1 for i in range(frames)])


def wav_bytes(pcm: bytes, rate: int, channels: int = 1, width: int = 2) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(width)
        w.setframerate(rate)
        w.writeframes(pcm)
    return out.getvalue()


def riff(
    fmt_body: bytes, data: bytes, *, data_size: int | None = None, extra: bytes = b""
) -> bytes:
    size = len(data) if data_size is None else data_size
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt_body)) + fmt_body + extra
    body += b"data" + struct.pack("<I", size) + data
    return b"RIFF" + struct.pack("<I", len(body)) + body


def fmt(tag: int, channels: int, rate: int, bits: int) -> bytes:
    block = channels * bits // 8
    return struct.pack("<HHIIHH", tag, channels, rate, rate * block, block, bits)


def decode(data: bytes, rate: int, step: int | None = None) -> bytes:
    dec = WavDecoder(rate)
    out = bytearray()
    step = step or len(data) or 1
    for i in range(0, len(data), step):
        out += dec.feed(data[i : i + step])
    out += dec.finish()
    return bytes(out)


def test_s16_mono_at_the_rate_passes_bit_exact_in_any_split() -> None:
    pcm = tone(3001).tobytes()
    data = wav_bytes(pcm, 24000)
    for step in (1, 2, 3, 7, 44, 45, 1000, len(data)):
        assert decode(data, 24000, step) == pcm, step


def test_unknown_length_data_as_ffmpeg_writes_to_a_pipe() -> None:
    pcm = tone(500).tobytes()
    for size in (0, 0xFFFFFFFF):
        data = riff(fmt(1, 1, 16000, 16), pcm, data_size=size)
        assert decode(data, 16000, 100) == pcm


def test_bytes_after_a_sized_data_chunk_are_not_audio() -> None:
    pcm = tone(100).tobytes()
    data = riff(fmt(1, 1, 16000, 16), pcm) + b"LIST" + struct.pack("<I", 4) + b"abcd"
    assert decode(data, 16000, 5) == pcm


def test_chunks_before_the_audio_are_skipped() -> None:
    pcm = tone(64).tobytes()
    extra = b"LIST" + struct.pack("<I", 5) + b"hello" + b"\x00"  # odd size: padded
    data = riff(fmt(1, 1, 8000, 16), pcm, extra=extra)
    assert decode(data, 8000, 3) == pcm


def test_stereo_is_averaged_to_mono() -> None:
    left = np.array([1000, -2000, 30000, -32768], dtype="<i2")
    right = np.array([3000, -4000, 30000, -32768], dtype="<i2")
    inter = np.stack([left, right], axis=1).ravel().tobytes()
    out = np.frombuffer(decode(wav_bytes(inter, 8000, channels=2), 8000), "<i2")
    assert list(out) == [2000, -3000, 30000, -32768]


@pytest.mark.parametrize("width", [1, 3, 4])
def test_other_integer_widths(width: int) -> None:
    values = [0.5, -0.25, 0.0, -1.0]
    if width == 1:
        raw = bytes(round(v * 128) + 128 for v in values)
    else:
        scale = 1 << (8 * width - 1)
        raw = b"".join(round(v * scale).to_bytes(width, "little", signed=True) for v in values)
    out = np.frombuffer(decode(wav_bytes(raw, 8000, width=width), 8000, 1), "<i2")
    assert list(out) == [16384, -8192, 0, -32768]


def test_float32_and_its_clipping() -> None:
    raw = np.array([0.5, -0.25, 2.0, float("nan")], dtype="<f4").tobytes()
    out = np.frombuffer(decode(riff(fmt(3, 1, 8000, 32), raw), 8000), "<i2")
    assert list(out) == [16384, -8192, 32767, 0]


def test_extensible_pcm() -> None:
    body = fmt(0xFFFE, 1, 8000, 16) + struct.pack("<HHI", 22, 16, 4) + b"\x01\x00" + bytes(14)
    pcm = tone(10).tobytes()
    assert decode(riff(body, pcm), 8000) == pcm


def test_resampling_streams_like_one_shot() -> None:
    rate_in, rate_out = 48000, 24000
    signal = (np.sin(np.arange(48000) * 2 * np.pi * 440 / rate_in) * 0.5).astype(np.float32)
    pcm = np.rint(signal * 32768).astype("<i2").tobytes()
    out = np.frombuffer(decode(wav_bytes(pcm, rate_in), rate_out, 4096), "<i2")
    # One second in, one second out (the streaming resampler flushes its tail).
    assert abs(len(out) - rate_out) <= 2
    expected = soxr.resample(signal, rate_in, rate_out, quality="HQ")
    n = min(len(out), len(expected))
    assert np.max(np.abs(out[:n] / 32768 - expected[:n])) < 2e-3


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"ID3\x04" + bytes(100), "not a WAV file (it starts with b'ID3\\x04')"),
        (b"RIFF" + bytes(4) + b"AVI " + bytes(100), "not a WAV file"),
        (riff(fmt(0x55, 1, 8000, 16), bytes(10)), "audio format 0x0055 (only PCM or float WAV)"),
        (riff(fmt(1, 9, 8000, 16), bytes(18)), "9 channels (1 to 8)"),
        (riff(fmt(1, 1, 8000, 12), bytes(18)), "12-bit samples (8, 16, 24 or 32)"),
        (riff(fmt(1, 1, 0, 16), bytes(18)), "a sample rate of 0 Hz"),
        (b"RIFF" + bytes(4) + b"WAVEdata" + bytes(8), "no fmt chunk"),
    ],
)
def test_bad_files_are_named(data: bytes, message: str) -> None:
    with pytest.raises(WavError, match=re.escape(message)):
        decode(data, 8000, 7)


def test_a_huge_header_is_refused_before_it_is_buffered() -> None:
    extra = b"LIST" + struct.pack("<I", MAX_HEADER) + bytes(100)
    data = b"RIFF" + bytes(4) + b"WAVE" + b"fmt " + struct.pack("<I", 16) + fmt(1, 1, 8000, 16)
    with pytest.raises(WavError, match="more than"):
        WavDecoder(8000).feed(data + extra)


def test_truncated_and_empty() -> None:
    dec = WavDecoder(8000)
    dec.feed(b"RIFF\x00\x00")
    with pytest.raises(WavError, match="ended inside the WAV header"):
        dec.finish()
    with pytest.raises(WavError, match="empty"):
        WavDecoder(8000).finish()
