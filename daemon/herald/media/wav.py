"""A streaming WAV decoder to what the player plays: s16le mono at ``audio.sample_rate``.

Pure logic, no I/O: `WavDecoder.feed` takes bytes as they arrive and returns PCM as
soon as whole frames are there, so playback starts before the download ends. WAV
from Home Assistant's ffmpeg proxy is written to a pipe and so has no length in its
header (the data size is 0 or 0xFFFFFFFF): that means "until the end of the stream".

Accepted: PCM 8/16/24/32-bit integer and 32/64-bit float, plain or
WAVE_FORMAT_EXTENSIBLE, 1 to `MAX_CHANNELS` channels (averaged to mono), any rate
from 1 Hz to `MAX_RATE` (resampled with soxr's streaming resampler, high quality).
16-bit mono at the target rate passes through unchanged: bit-exact, and no numpy.
Chunks before the audio (LIST, fact...) may add up to `MAX_HEADER` bytes.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

__all__ = ["MAX_CHANNELS", "MAX_HEADER", "MAX_RATE", "WavDecoder", "WavError", "WavFormat"]

MAX_HEADER = 1024 * 1024
MAX_CHANNELS = 8
MAX_RATE = 384_000
_PCM, _FLOAT, _EXTENSIBLE = 0x0001, 0x0003, 0xFFFE
_UNKNOWN_SIZES = (0, 0xFFFFFFFF)


class WavError(Exception):
    """Not a WAV file herald can play; the message says what is wrong with it."""


@dataclass(frozen=True, slots=True)
class WavFormat:
    channels: int
    rate: int
    width: int  # bytes per sample
    is_float: bool

    @property
    def frame_bytes(self) -> int:
        return self.channels * self.width

    def __str__(self) -> str:
        kind = "float" if self.is_float else "bit"
        return f"{self.rate} Hz, {self.channels} channel(s), {8 * self.width}-{kind}"


class WavDecoder:
    """Feed WAV bytes in, get s16le mono at ``rate`` out."""

    def __init__(self, rate: int) -> None:
        if rate <= 0:
            raise ValueError(f"rate must be positive, not {rate}")
        self._rate = rate
        self._buf = bytearray()
        self._header_seen = 0
        self.format: WavFormat | None = None
        self._remaining: int | None = None  # data bytes still expected; None: to the end
        self._resampler: Any = None
        self._finished = False

    @property
    def passthrough(self) -> bool:
        f = self.format
        return f is not None and f == WavFormat(1, self._rate, 2, False)

    def feed(self, data: bytes) -> bytes:
        """PCM for the whole frames received so far; raises WavError."""
        if self._finished:
            raise RuntimeError("WavDecoder.feed() after finish()")
        if self.format is None:
            self._buf += data
            self._header_seen += len(data)
            if self._parse_header() is None:
                return b""
            data, self._buf = bytes(self._buf), bytearray()
        if self._remaining is not None:
            data = data[: self._remaining]  # anything after the data chunk is not audio
            self._remaining -= len(data)
        return self._convert(data, last=False)

    def finish(self) -> bytes:
        """The end of the input: the resampler's tail. Raises WavError for a stream that
        ended before its audio began."""
        self._finished = True
        if self.format is None:
            raise WavError("the stream ended inside the WAV header" if self._buf else "empty")
        tail = self._convert(b"", last=True)
        if self._buf:
            self._buf.clear()  # half a frame at the end: dropped
        return tail

    # --- header ---------------------------------------------------------------------

    def _parse_header(self) -> WavFormat | None:
        """Sets `format` once the data chunk begins (and returns it); None until then."""
        buf = self._buf
        if len(buf) >= 12 and (buf[:4] != b"RIFF" or buf[8:12] != b"WAVE"):
            raise WavError(f"not a WAV file (it starts with {bytes(buf[:4])!r})")
        if len(buf) < 12:
            if len(buf) >= 4 and buf[:4] != b"RIFF":
                raise WavError(f"not a WAV file (it starts with {bytes(buf[:4])!r})")
            return None
        pos = 12
        fmt: WavFormat | None = None
        while pos + 8 <= len(buf):
            chunk_id = bytes(buf[pos : pos + 4])
            (size,) = struct.unpack_from("<I", buf, pos + 4)
            if chunk_id == b"data":
                if fmt is None:
                    raise WavError("the audio comes before its format (no fmt chunk)")
                self.format = fmt
                self._remaining = None if size in _UNKNOWN_SIZES else size
                del buf[: pos + 8]
                return fmt
            end = pos + 8 + size + (size & 1)
            if end > MAX_HEADER:
                raise WavError(f"more than {MAX_HEADER} bytes before the audio")
            if len(buf) < end:
                return None  # the rest of this chunk is still on its way
            if chunk_id == b"fmt ":
                fmt = _parse_fmt(bytes(buf[pos + 8 : pos + 8 + size]))
            pos = end
        # The header is parsed again from the start with each chunk: it is small, and
        # bounded here.
        if self._header_seen > MAX_HEADER:
            raise WavError(f"more than {MAX_HEADER} bytes before the audio")
        return None

    # --- conversion -----------------------------------------------------------------

    def _convert(self, data: bytes, *, last: bool) -> bytes:
        f = self.format
        assert f is not None
        if self._buf:
            data = bytes(self._buf) + data
            self._buf.clear()
        usable = len(data) - len(data) % f.frame_bytes
        if usable < len(data):
            self._buf += data[usable:]
            data = data[:usable]
        if self.passthrough:
            return data
        import numpy as np

        mono = _to_float(data, f).reshape(-1, f.channels).mean(axis=1, dtype=np.float32)
        if f.rate != self._rate:
            if self._resampler is None:
                import soxr  # type: ignore[import-untyped]

                self._resampler = soxr.ResampleStream(
                    f.rate, self._rate, 1, dtype="float32", quality="HQ"
                )
            mono = self._resampler.resample_chunk(mono, last=last)
        pcm: npt.NDArray[np.int16] = np.clip(np.rint(mono * 32768.0), -32768, 32767).astype("<i2")
        return pcm.tobytes()


def _parse_fmt(body: bytes) -> WavFormat:
    if len(body) < 16:
        raise WavError(f"a fmt chunk of {len(body)} bytes (at least 16)")
    tag, channels, rate, _, _, bits = struct.unpack_from("<HHIIHH", body)
    if tag == _EXTENSIBLE:
        if len(body) < 26:
            raise WavError("a short WAVE_FORMAT_EXTENSIBLE header")
        (tag,) = struct.unpack_from("<H", body, 24)  # the sub-format GUID's first two bytes
    if tag not in (_PCM, _FLOAT):
        raise WavError(f"audio format {tag:#06x} (only PCM or float WAV)")
    if not 1 <= channels <= MAX_CHANNELS:
        raise WavError(f"{channels} channels (1 to {MAX_CHANNELS})")
    if not 1 <= rate <= MAX_RATE:
        raise WavError(f"a sample rate of {rate} Hz (1 to {MAX_RATE})")
    is_float = tag == _FLOAT
    if is_float and bits not in (32, 64):
        raise WavError(f"{bits}-bit float samples (32 or 64)")
    if not is_float and bits not in (8, 16, 24, 32):
        raise WavError(f"{bits}-bit samples (8, 16, 24 or 32)")
    return WavFormat(channels, rate, bits // 8, is_float)


def _to_float(raw: bytes, f: WavFormat) -> npt.NDArray[np.float32]:
    """Interleaved samples as float32 in [-1, 1)."""
    import numpy as np

    samples: npt.NDArray[Any]
    if f.is_float:
        floats = np.nan_to_num(np.frombuffer(raw, "<f4" if f.width == 4 else "<f8"))
        clipped: npt.NDArray[np.float32] = np.clip(floats, -1.0, 1.0).astype(np.float32)
        return clipped
    if f.width == 1:  # unsigned
        samples = np.frombuffer(raw, np.uint8).astype(np.float32) - 128.0
    elif f.width == 2:
        samples = np.frombuffer(raw, "<i2")
    elif f.width == 3:
        padded = np.zeros((len(raw) // 3, 4), np.uint8)
        padded[:, 1:] = np.frombuffer(raw, np.uint8).reshape(-1, 3)
        samples = padded.view("<i4").ravel() >> 8
    else:
        samples = np.frombuffer(raw, "<i4")
    scale = float(1 << (8 * f.width - 1))
    decoded: npt.NDArray[np.float32] = samples.astype(np.float32) / np.float32(scale)
    return decoded
