"""Clips: the built-in chime and WAV files of any common shape, as PCM at the player's rate."""

from __future__ import annotations

import contextlib
import math
import struct
import sys
import tempfile
import wave
from array import array
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from herald.sounds.clips import ClipError, Clips


def samples(pcm: bytes) -> array[int]:
    out = array("h", pcm)
    if sys.byteorder != "little":
        out.byteswap()
    return out


def rms(values: array[int]) -> float:
    return math.sqrt(sum(v * v for v in values) / max(len(values), 1))


def sine(rate: int, seconds: float, freq: float = 440.0) -> list[float]:
    return [math.sin(2 * math.pi * freq * i / rate) for i in range(round(rate * seconds))]


def encode(values: list[float], width: int) -> bytes:
    """Little-endian PCM samples of ``width`` bytes (8-bit unsigned, the rest signed)."""
    full = 1 << (8 * width - 1)
    out = bytearray()
    for v in values:
        n = max(-full, min(full - 1, round(v * full)))
        if width == 1:
            out.append(n + 128)
        else:
            out += n.to_bytes(width, "little", signed=True)
    return bytes(out)


def stereo(left: list[float], right: list[float]) -> list[float]:
    return [s for pair in zip(left, right, strict=True) for s in pair]


def write_wav(path: Path, values: list[float], *, channels: int, width: int, rate: int) -> None:
    with wave.open(str(path), "wb") as out:
        out.setnchannels(channels)
        out.setsampwidth(width)
        out.setframerate(rate)
        out.writeframes(encode(values, width))


def write_riff(
    path: Path, data: bytes, *, tag: int, channels: int, bits: int, rate: int, extensible: bool
) -> None:
    """A WAV file the stdlib cannot write: float, or WAVE_FORMAT_EXTENSIBLE."""
    block = channels * bits // 8
    head_tag = 0xFFFE if extensible else tag
    head = struct.pack("<HHIIHH", head_tag, channels, rate, rate * block, block, bits)
    if extensible:
        guid_tail = b"\x00\x00\x00\x00\x10\x00\x80\x00\x00\xaa\x00\x38\x9b\x71"
        head += struct.pack("<HHIH", 22, bits, 3, tag) + guid_tail
    fmt = b"fmt " + struct.pack("<I", len(head)) + head
    body = b"WAVE" + fmt + b"data" + struct.pack("<I", len(data)) + data
    path.write_bytes(b"RIFF" + struct.pack("<I", len(body)) + body)


def test_builtin_chime_is_always_there() -> None:
    clips = Clips(None, 24000)
    assert clips.names() == ["chime"]
    chime = samples(clips.get("chime"))
    assert len(chime) == 14400  # 0.6 s at 24 kHz, as generated
    assert chime[0] == 0
    assert chime[-1] == 0  # no click at either end
    assert rms(chime) > 1000
    assert clips.get("chime.wav") is clips.get("chime")  # cached, one name


def test_builtin_chime_at_16k() -> None:
    chime = samples(Clips(None, 16000).get("chime"))
    assert abs(len(chime) - 9600) <= 2
    assert rms(chime) > 1000
    assert max(abs(v) for v in chime[:5] + chime[-5:]) < 50


def test_a_folder_chime_overrides_the_builtin(tmp_path: Path) -> None:
    write_wav(tmp_path / "chime.wav", [0.25] * 100, channels=1, width=2, rate=24000)
    assert Clips(tmp_path, 24000).get("chime") == encode([0.25] * 100, 2)


def test_names_lists_the_folder(tmp_path: Path) -> None:
    for name in ("doorbell.wav", "Alarm-2.WAV", "notes.txt", ".hidden.wav", "bad name.wav"):
        (tmp_path / name).write_bytes(b"")
    (tmp_path / "dir.wav").mkdir()
    assert Clips(tmp_path, 24000).names() == ["Alarm-2", "chime", "doorbell"]
    assert Clips(tmp_path / "missing", 24000).names() == ["chime"]


def test_16_bit_mono_at_the_player_rate_is_played_as_is(tmp_path: Path) -> None:
    values = sine(24000, 0.1)
    write_wav(tmp_path / "beep.wav", values, channels=1, width=2, rate=24000)
    clips = Clips(tmp_path, 24000)
    assert clips.get("beep") == encode(values, 2)
    assert clips.get("beep.wav") == encode(values, 2)


def test_stereo_44k1_24_bit_is_downmixed_and_resampled(tmp_path: Path) -> None:
    left = [0.6 * v for v in sine(44100, 0.5)]
    right = [0.2 * v for v in sine(44100, 0.5)]
    write_wav(tmp_path / "door.wav", stereo(left, right), channels=2, width=3, rate=44100)
    for rate in (24000, 16000):
        pcm = samples(Clips(tmp_path, rate).get("door"))
        assert abs(len(pcm) - rate // 2) <= 2
        # The mean of the channels: a 440 Hz sine at 0.4 of full scale.
        middle = pcm[len(pcm) // 10 : -len(pcm) // 10]
        assert rms(middle) == pytest.approx(0.4 * 32768 / math.sqrt(2), rel=0.02)
        assert max(middle) == pytest.approx(0.4 * 32768, rel=0.02)


@pytest.mark.parametrize("width", [1, 2, 3, 4])
def test_every_pcm_width(tmp_path: Path, width: int) -> None:
    values = [0.5 * v for v in sine(22050, 0.2)]
    write_wav(tmp_path / "tone.wav", values, channels=1, width=width, rate=22050)
    pcm = samples(Clips(tmp_path, 24000).get("tone"))
    assert abs(len(pcm) - 4800) <= 2
    middle = pcm[480:-480]
    assert rms(middle) == pytest.approx(0.5 * 32768 / math.sqrt(2), rel=0.03)


@pytest.mark.parametrize(
    ("tag", "bits", "extensible"), [(1, 24, True), (3, 32, False), (3, 32, True)]
)
def test_float_and_extensible_wavs(tmp_path: Path, tag: int, bits: int, extensible: bool) -> None:
    values = [0.5 * v for v in stereo(sine(48000, 0.2), sine(48000, 0.2))]
    data = struct.pack(f"<{len(values)}f", *values) if tag == 3 else encode(values, bits // 8)
    path = tmp_path / "x.wav"
    write_riff(path, data, tag=tag, channels=2, bits=bits, rate=48000, extensible=extensible)
    pcm = samples(Clips(tmp_path, 24000).get("x"))
    assert abs(len(pcm) - 4800) <= 2
    assert rms(pcm[480:-480]) == pytest.approx(0.5 * 32768 / math.sqrt(2), rel=0.03)


def test_a_bad_wav_names_the_clip(tmp_path: Path) -> None:
    (tmp_path / "broken.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk")
    (tmp_path / "text.wav").write_text("hello, I am not a sound")
    clips = Clips(tmp_path, 24000)
    for name in ("broken", "text.wav"):
        with pytest.raises(ClipError, match=f"clip '{name}': not a playable WAV file") as info:
            clips.get(name)
        assert info.value.name == name


def test_a_chunk_that_runs_past_the_file_is_a_bad_wav_not_a_crash(tmp_path: Path) -> None:
    # Python's wave raises RuntimeError when a chunk's length points past the data
    # (found by bench/hostile.py: the say failed with "internal error (ExceptionGroup)").
    (tmp_path / "long.wav").write_bytes(b"RIFF\x10\x00\x00\x00WAVEjunk\xff\xff\x00\x00abc")
    with pytest.raises(ClipError, match="clip 'long': not a playable WAV file"):
        Clips(tmp_path, 24000).get("long")


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_any_bytes_after_a_riff_header_are_a_clip_error(tail: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        header = b"RIFF" + struct.pack("<I", 4 + len(tail)) + b"WAVE"
        (Path(tmp) / "x.wav").write_bytes(header + tail)
        with contextlib.suppress(ClipError):  # anything else fails the test
            Clips(Path(tmp), 24000).get("x")


def test_a_missing_clip_names_it(tmp_path: Path) -> None:
    with pytest.raises(ClipError, match=r"clip 'doorbell': no such clip \(.*doorbell.wav does"):
        Clips(tmp_path, 24000).get("doorbell")
    with pytest.raises(ClipError, match="no clips folder is configured"):
        Clips(None, 24000).get("doorbell")


@pytest.mark.parametrize(
    "name", ["../secret", "a/b", "..", ".hidden", "a\\b", "", "/etc/passwd", ".wav", "x" * 129]
)
def test_names_that_could_leave_the_folder_are_rejected(tmp_path: Path, name: str) -> None:
    folder = tmp_path / "clips"
    folder.mkdir()
    write_wav(tmp_path / "secret.wav", [0.5] * 10, channels=1, width=2, rate=24000)
    with pytest.raises(ClipError, match="not a valid clip name") as info:
        Clips(folder, 24000).get(name)
    assert info.value.name == name


async def test_fetch_reads_in_a_thread_then_from_memory(tmp_path: Path) -> None:
    write_wav(tmp_path / "beep.wav", sine(8000, 0.1), channels=1, width=2, rate=8000)
    clips = Clips(tmp_path, 24000)
    first = await clips.fetch("beep")
    assert abs(len(first) // 2 - 2400) <= 2
    assert await clips.fetch("beep") is first
    with pytest.raises(ClipError, match="'nope'"):
        await clips.fetch("nope")
