"""WAV recordings for the voice cloning tests: any length, format and layout."""

from __future__ import annotations

import io
import math
import struct
import wave


def wav_bytes(seconds: float, rate: int = 16000, channels: int = 1, width: int = 2) -> bytes:
    """A PCM WAV file of a 220 Hz tone (stdlib `wave`)."""
    frames = round(seconds * rate)
    peak = (1 << (8 * width - 1)) - 1
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(width)
        w.setframerate(rate)
        samples = bytearray()
        for i in range(frames):
            value = round(0.3 * peak * math.sin(2 * math.pi * 220 * i / rate))
            if width == 1:
                sample = bytes([value + 128])
            else:
                sample = value.to_bytes(width, "little", signed=True)
            samples += sample * channels
        w.writeframes(bytes(samples))
    return out.getvalue()


def float_wav_bytes(seconds: float, rate: int = 24000, *, extensible: bool = False) -> bytes:
    """A 32-bit float mono WAV (format 3, or WAVE_FORMAT_EXTENSIBLE with a float GUID)."""
    frames = round(seconds * rate)
    data = struct.pack(f"<{frames}f", *(0.25 * math.sin(i / 10) for i in range(frames)))
    if extensible:
        guid = struct.pack("<H", 3) + b"\x00\x00\x00\x00\x10\x00\x80\x00\x00\xaa\x00\x38\x9b\x71"
        fmt = struct.pack("<HHIIHHHHI", 0xFFFE, 1, rate, rate * 4, 4, 32, 22, 32, 4) + guid
    else:
        fmt = struct.pack("<HHIIHH", 3, 1, rate, rate * 4, 4, 32)
    body = b"WAVE" + chunk(b"fmt ", fmt) + chunk(b"data", data)
    return b"RIFF" + struct.pack("<I", len(body)) + body


def chunk(name: bytes, body: bytes) -> bytes:
    return name + struct.pack("<I", len(body)) + body + (b"\x00" if len(body) % 2 else b"")
