"""Sample encodings of the raw output formats, and the WAV header of /tts/bytes.

G.711 is implemented here in pure Python because ``audioop`` is gone in 3.13.
The encoders follow the Sun reference ``g711.c`` (as audioop did), so a
μ-law/A-law byte stream is exactly what Cartesia's telephony formats carry.
"""

from __future__ import annotations

import functools
import struct
import sys
from array import array

ENCODINGS = ("pcm_s16le", "pcm_f32le", "pcm_mulaw", "pcm_alaw")
BYTES_PER_SAMPLE = {"pcm_s16le": 2, "pcm_f32le": 4, "pcm_mulaw": 1, "pcm_alaw": 1}
# WAVE_FORMAT_* codes of the fmt chunk, and bits per sample.
_WAV_FORMAT = {"pcm_s16le": (1, 16), "pcm_f32le": (3, 32), "pcm_mulaw": (7, 8), "pcm_alaw": (6, 8)}

_ULAW_SEG_END = (0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF)
_ALAW_SEG_END = (0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF)


def _segment(value: int, ends: tuple[int, ...]) -> int:
    for seg, end in enumerate(ends):
        if value <= end:
            return seg
    return len(ends)


def linear_to_ulaw(sample: int) -> int:
    """One signed 16-bit sample to a μ-law byte."""
    value = sample >> 2
    if value < 0:
        value, mask = -value, 0x7F
    else:
        mask = 0xFF
    value = min(value, 8159) + 33
    seg = _segment(value, _ULAW_SEG_END)
    if seg >= 8:
        return 0x7F ^ mask
    return ((seg << 4) | ((value >> (seg + 1)) & 0xF)) ^ mask


def linear_to_alaw(sample: int) -> int:
    """One signed 16-bit sample to an A-law byte."""
    value = sample >> 3
    if value >= 0:
        mask = 0xD5
    else:
        mask, value = 0x55, -value - 1
    seg = _segment(value, _ALAW_SEG_END)
    if seg >= 8:
        return 0x7F ^ mask
    shift = 1 if seg < 2 else seg
    return ((seg << 4) | ((value >> shift) & 0xF)) ^ mask


def ulaw_to_linear(byte: int) -> int:
    """One μ-law byte to a signed 16-bit sample."""
    byte = ~byte & 0xFF
    value = (((byte & 0x0F) << 3) + 0x84) << ((byte & 0x70) >> 4)
    return 0x84 - value if byte & 0x80 else value - 0x84


def alaw_to_linear(byte: int) -> int:
    """One A-law byte to a signed 16-bit sample."""
    byte ^= 0x55
    value = (byte & 0x0F) << 4
    seg = (byte & 0x70) >> 4
    if seg == 0:
        value += 8
    elif seg == 1:
        value += 0x108
    else:
        value = (value + 0x108) << (seg - 1)
    return value if byte & 0x80 else -value


@functools.cache
def _encode_table(encoding: str) -> bytes:
    # Indexed by the sample as an unsigned 16-bit value, so encoding a whole
    # buffer is one C-speed map over a memoryview.
    convert = linear_to_ulaw if encoding == "pcm_mulaw" else linear_to_alaw
    return bytes(convert(u - 0x10000 if u >= 0x8000 else u) for u in range(0x10000))


def _samples(pcm_s16le: bytes) -> array[int]:
    if len(pcm_s16le) % 2:
        raise ValueError("pcm_s16le data must hold whole samples")
    samples = array("h", pcm_s16le)
    if sys.byteorder != "little":
        samples.byteswap()
    return samples


def encode_pcm(pcm_s16le: bytes, encoding: str) -> bytes:
    """Re-encode pcm_s16le mono audio as ``pcm_s16le``/``pcm_f32le``/``pcm_mulaw``/``pcm_alaw``."""
    if encoding == "pcm_s16le":
        _samples(pcm_s16le)
        return bytes(pcm_s16le)
    if encoding == "pcm_f32le":
        floats = array("f", (s / 32768.0 for s in _samples(pcm_s16le)))
        if sys.byteorder != "little":
            floats.byteswap()
        return floats.tobytes()
    if encoding in ("pcm_mulaw", "pcm_alaw"):
        table = _encode_table(encoding)
        unsigned = memoryview(_samples(pcm_s16le).tobytes()).cast("H")
        return bytes(map(table.__getitem__, unsigned))
    raise ValueError(f"unknown encoding {encoding!r}")


def decode_pcm(data: bytes, encoding: str) -> bytes:
    """Inverse of :func:`encode_pcm`, back to pcm_s16le (lossy for μ-law/A-law)."""
    if encoding == "pcm_s16le":
        return bytes(data)
    if encoding == "pcm_f32le":
        floats = array("f", data)
        if sys.byteorder != "little":
            floats.byteswap()
        out = array("h", (max(-32768, min(32767, round(f * 32768.0))) for f in floats))
    elif encoding in ("pcm_mulaw", "pcm_alaw"):
        convert = ulaw_to_linear if encoding == "pcm_mulaw" else alaw_to_linear
        out = array("h", (convert(b) for b in data))
    else:
        raise ValueError(f"unknown encoding {encoding!r}")
    if sys.byteorder != "little":
        out.byteswap()
    return out.tobytes()


def wav_header(encoding: str, sample_rate: int, data_bytes: int) -> bytes:
    """A 44-byte RIFF/WAVE header for mono audio of ``data_bytes`` bytes."""
    fmt_code, bits = _WAV_FORMAT[encoding]
    block = bits // 8
    return b"".join(
        (
            b"RIFF",
            struct.pack("<I", 36 + data_bytes),
            b"WAVEfmt ",
            struct.pack("<IHHIIHH", 16, fmt_code, 1, sample_rate, sample_rate * block, block, bits),
            b"data",
            struct.pack("<I", data_bytes),
        )
    )
