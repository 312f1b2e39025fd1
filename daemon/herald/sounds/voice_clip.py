"""Checking a recording before it is sent to Cartesia to clone a voice.

Cartesia clones a voice from "an audio clip about 5 seconds long" (the SDK's
`voices.clone`; "a minimum of roughly 5 seconds of clean speech"). herald checks what
it can locally, so a household gets a plain one-line answer instead of an upload and a
400: the file must be a WAV (PCM or float; the only container herald can measure
without a decoder) with at least `MIN_CLONE_SECONDS` of audio.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

__all__ = ["MIN_CLONE_SECONDS", "ClipInfo", "ClipProblem", "check_clone_clip", "wav_info"]

MIN_CLONE_SECONDS = 5.0
_PCM, _FLOAT, _EXTENSIBLE = 0x0001, 0x0003, 0xFFFE
_CONVERT = "convert it first, e.g. ffmpeg -i recording.m4a -ac 1 recording.wav"


class ClipProblem(ValueError):
    """Why a file cannot be cloned from, in plain words."""


@dataclass(frozen=True, slots=True)
class ClipInfo:
    seconds: float
    sample_rate: int
    channels: int
    bits: int


def wav_info(data: bytes) -> ClipInfo:
    """Format and length of a WAV file's bytes. Raises ClipProblem."""
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise ClipProblem(f"not a WAV file (no RIFF/WAVE header); {_CONVERT}")
    fmt: bytes | None = None
    pos = 12
    while pos + 8 <= len(data):
        chunk_id = data[pos : pos + 4]
        (size,) = struct.unpack_from("<I", data, pos + 4)
        body_at = pos + 8
        if chunk_id == b"fmt ":
            fmt = data[body_at : body_at + size]
        elif chunk_id == b"data":
            if fmt is None:
                raise ClipProblem("not a valid WAV file (its data comes before its format)")
            available = len(data) - body_at
            # Recorders that stream the file leave the size 0 or 0xFFFFFFFF.
            if size in (0, 0xFFFFFFFF):
                size = available
            elif size > available:
                raise ClipProblem(
                    f"the WAV file is cut short ({available} of {size} bytes of audio)"
                )
            return _info(fmt, size)
        pos = body_at + size + (size & 1)
    raise ClipProblem("not a valid WAV file (no format or no audio data)")


def _info(fmt: bytes, data_size: int) -> ClipInfo:
    if len(fmt) < 16:
        raise ClipProblem("not a valid WAV file (its format chunk is too short)")
    tag, channels, rate, _, block_align, bits = struct.unpack_from("<HHIIHH", fmt)
    if tag == _EXTENSIBLE and len(fmt) >= 26:
        (tag,) = struct.unpack_from("<H", fmt, 24)  # the sub-format GUID's first two bytes
    if tag not in (_PCM, _FLOAT):
        raise ClipProblem(f"a WAV file in format {tag:#06x}, not PCM or float; {_CONVERT}")
    if channels < 1 or rate < 1 or block_align < 1:
        raise ClipProblem("not a valid WAV file (no channels, rate or sample size)")
    return ClipInfo(data_size // block_align / rate, rate, channels, bits)


def check_clone_clip(data: bytes) -> ClipInfo:
    """`wav_info`, and at least MIN_CLONE_SECONDS of audio. Raises ClipProblem."""
    info = wav_info(data)
    if info.seconds < MIN_CLONE_SECONDS:
        raise ClipProblem(
            f"{info.seconds:.1f} s of audio; a clone needs at least {MIN_CLONE_SECONDS:g} s "
            "(5 to 10 s of one voice speaking clearly works best)"
        )
    return info
