"""Sound clips: WAV files in a folder, and a built-in chime, as PCM at the player's rate.

A clip is named by its file name, with or without ``.wav``: ``doorbell`` and
``doorbell.wav`` are ``<folder>/doorbell.wav``. Names are 1 to 128 letters, digits,
``_``, ``.`` or ``-``, not starting with ``.`` (the rule `herald.commands.parse` applies to
a say's ``clip``), so a name can never leave the folder. ``chime`` is always there:
the folder's ``chime.wav`` if it has one, else the one built into herald.

WAV files are PCM, 8/16/24/32-bit integer or 32-bit float, any number of channels
(averaged to mono) at any rate (resampled with soxr, imported only when a clip needs
it). A clip is read once and kept in memory.
"""

from __future__ import annotations

import io
import re
import struct
import wave
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import trio

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

__all__ = ["BUILTIN_CHIME", "MAX_CLIP_BYTES", "ClipError", "Clips"]

BUILTIN_CHIME = "chime"
MAX_CLIP_BYTES = 64 * 1024 * 1024  # a minute of 7.1 at 48 kHz/32-bit is ~98 MB: plenty
_NAME = re.compile(r"[A-Za-z0-9_.-]{1,128}")
_NAME_RULE = "1 to 128 letters, digits, '_', '.' or '-', not starting with '.'"
_SUFFIX = ".wav"


class ClipError(Exception):
    """A clip cannot be played: the message names the clip and says why."""

    def __init__(self, name: str, reason: str) -> None:
        super().__init__(f"clip {name!r}: {reason}")
        self.name = name
        self.reason = reason


@dataclass(frozen=True, slots=True)
class _Wav:
    channels: int
    width: int  # bytes per sample
    rate: int
    is_float: bool
    frames: bytes  # whole frames only


class Clips:
    """The clips of ``folder`` (None: only the built-in chime) as pcm_s16le mono.

    `get` and `names` read the disk: from trio, use `fetch` (a worker thread when the
    clip is not cached yet).
    """

    def __init__(
        self,
        folder: Path | None,
        sample_rate: int,
        *,
        limiter: trio.CapacityLimiter | None = None,
    ) -> None:
        if sample_rate <= 0:
            raise ValueError(f"sample_rate must be positive, not {sample_rate}")
        self.folder = folder
        self.sample_rate = sample_rate
        self._limiter = limiter
        self._cache: dict[str, bytes] = {}

    def names(self) -> list[str]:
        """Sorted names of the playable clips (without ``.wav``), ``chime`` included."""
        found = {BUILTIN_CHIME}
        if self.folder is not None:
            try:
                entries = list(self.folder.iterdir())
            except OSError:
                entries = []
            for path in entries:
                stem, suffix = path.stem, path.suffix
                if suffix.lower() == _SUFFIX and _valid(stem) and path.is_file():
                    found.add(stem)
        return sorted(found)

    def get(self, name: str) -> bytes:
        """The clip as pcm_s16le mono at ``sample_rate``; raises `ClipError`."""
        stem = _stem(name)
        pcm = self._cache.get(stem)
        if pcm is None:
            pcm = self._cache[stem] = self._load(name, stem)
        return pcm

    async def fetch(self, name: str) -> bytes:
        """`get`, with the first read of a clip in a worker thread."""
        pcm = self._cache.get(_stem(name))
        if pcm is not None:
            await trio.lowlevel.checkpoint()
            return pcm
        return await trio.to_thread.run_sync(self.get, name, limiter=self._limiter)

    def _load(self, name: str, stem: str) -> bytes:
        data = self._read_file(name, stem)
        if data is None:
            if stem != BUILTIN_CHIME:
                where = (
                    f"{self.folder / (stem + _SUFFIX)} does not exist"
                    if self.folder is not None
                    else "no clips folder is configured"
                )
                raise ClipError(name, f"no such clip ({where})")
            data = resources.files("herald").joinpath("data").joinpath("chime.wav").read_bytes()
        try:
            wav = _parse_wav(data)
        except _BadWav as exc:
            raise ClipError(name, f"not a playable WAV file: {exc}") from None
        return _to_pcm16_mono(wav, self.sample_rate)

    def _read_file(self, name: str, stem: str) -> bytes | None:
        if self.folder is None:
            return None
        for suffix in (_SUFFIX, _SUFFIX.upper()):
            path = self.folder / (stem + suffix)
            try:
                size = path.stat().st_size
                if not path.is_file():
                    raise ClipError(name, f"{path} is not a file")
                if size > MAX_CLIP_BYTES:
                    raise ClipError(
                        name, f"{path} is too big ({size} bytes; at most {MAX_CLIP_BYTES})"
                    )
                return path.read_bytes()
            except FileNotFoundError:
                continue
            except OSError as exc:
                raise ClipError(name, f"cannot read {path}: {exc.strerror or exc}") from None
        return None


def _valid(stem: str) -> bool:
    return _NAME.fullmatch(stem) is not None and not stem.startswith(".")


def _stem(name: str) -> str:
    """The clip's name without ``.wav``; raises `ClipError` for a name that is not allowed."""
    if not _valid(name):
        raise ClipError(name, f"not a valid clip name ({_NAME_RULE})")
    stem = name[: -len(_SUFFIX)] if name.lower().endswith(_SUFFIX) else name
    if not _valid(stem):
        raise ClipError(name, f"not a valid clip name ({_NAME_RULE})")
    return stem


class _BadWav(Exception):
    pass


_PCM, _FLOAT, _EXTENSIBLE = 0x0001, 0x0003, 0xFFFE


def _parse_wav(data: bytes) -> _Wav:
    """Read with the stdlib `wave`; plain RIFF for float and WAVE_FORMAT_EXTENSIBLE."""
    try:
        with wave.open(io.BytesIO(data), "rb") as reader:
            channels, width, rate = (
                reader.getnchannels(),
                reader.getsampwidth(),
                reader.getframerate(),
            )
            frames = reader.readframes(reader.getnframes())
        wav: _Wav | None = _Wav(channels, width, rate, False, frames)
    except wave.Error as exc:
        # Python 3.11's wave knows only format 1 ("unknown format: 3"); 3.12 adds
        # EXTENSIBLE, not float ("unknown extended format: 00000003-...", 3.13).
        if not str(exc).startswith(("unknown format", "unknown extended format")):
            raise _BadWav(str(exc)) from None
        wav = None
    except EOFError:
        raise _BadWav("truncated") from None
    except (RuntimeError, ValueError, OverflowError, struct.error):
        # The stdlib's wave seeks by a chunk's stated length and raises RuntimeError
        # when it points past the data; a clip is a file anyone may drop in the folder.
        raise _BadWav("a chunk's length runs past the end of the file") from None
    if wav is None:
        try:
            wav = _parse_riff(data)
        except struct.error:
            raise _BadWav("a chunk is shorter than its format needs") from None
    if wav.channels < 1:
        raise _BadWav("no channels")
    if wav.rate < 1:
        raise _BadWav(f"sample rate {wav.rate}")
    if wav.is_float and wav.width != 4:
        raise _BadWav(f"{8 * wav.width}-bit float samples (only 32-bit float)")
    if not wav.is_float and wav.width not in (1, 2, 3, 4):
        raise _BadWav(f"{8 * wav.width}-bit samples (8, 16, 24 or 32-bit only)")
    block = wav.channels * wav.width
    usable = len(wav.frames) - len(wav.frames) % block
    if usable != len(wav.frames):
        wav = _Wav(wav.channels, wav.width, wav.rate, wav.is_float, wav.frames[:usable])
    return wav


def _parse_riff(data: bytes) -> _Wav:
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise _BadWav("not a RIFF/WAVE file")
    fmt: bytes | None = None
    frames: bytes | None = None
    pos = 12
    while pos + 8 <= len(data) and frames is None:
        chunk_id = data[pos : pos + 4]
        (size,) = struct.unpack_from("<I", data, pos + 4)
        body = data[pos + 8 : pos + 8 + size]
        if chunk_id == b"fmt ":
            fmt = body
        elif chunk_id == b"data":
            if fmt is None:
                raise _BadWav("data before fmt chunk")
            frames = body
        pos += 8 + size + (size & 1)
    if fmt is None or len(fmt) < 16:
        raise _BadWav("no fmt chunk")
    if frames is None:
        raise _BadWav("no data chunk")
    tag, channels, rate, _, _, bits = struct.unpack_from("<HHIIHH", fmt)
    if tag == _EXTENSIBLE:
        if len(fmt) < 40:
            raise _BadWav("short WAVE_FORMAT_EXTENSIBLE header")
        (tag,) = struct.unpack_from("<H", fmt, 24)  # first two bytes of the sub-format GUID
    if tag not in (_PCM, _FLOAT):
        raise _BadWav(f"format {tag:#06x} (only PCM or float)")
    if bits % 8:
        raise _BadWav(f"{bits}-bit samples")
    return _Wav(channels, bits // 8, rate, tag == _FLOAT, frames)


def _to_pcm16_mono(wav: _Wav, rate: int) -> bytes:
    if wav.channels == 1 and wav.width == 2 and not wav.is_float and wav.rate == rate:
        return wav.frames  # already what the player plays: no numpy
    import numpy as np

    mono = _decode(wav).reshape(-1, wav.channels).mean(axis=1, dtype=np.float32)
    if wav.rate != rate and mono.size:
        import soxr  # type: ignore[import-untyped]

        mono = soxr.resample(mono, wav.rate, rate, quality="HQ")
    pcm: npt.NDArray[np.int16] = np.clip(np.rint(mono * 32768.0), -32768, 32767).astype("<i2")
    return pcm.tobytes()


def _decode(wav: _Wav) -> npt.NDArray[np.float32]:
    """Interleaved samples as float32 in [-1, 1)."""
    import numpy as np

    raw = wav.frames
    samples: npt.NDArray[Any]
    if wav.is_float:
        floats: npt.NDArray[np.float32] = np.nan_to_num(np.frombuffer(raw, "<f4"))
        return floats.astype(np.float32)
    if wav.width == 1:  # unsigned
        samples = np.frombuffer(raw, np.uint8).astype(np.float32) - 128.0
    elif wav.width == 2:
        samples = np.frombuffer(raw, "<i2")
    elif wav.width == 3:
        padded = np.zeros((len(raw) // 3, 4), np.uint8)
        padded[:, 1:] = np.frombuffer(raw, np.uint8).reshape(-1, 3)
        samples = padded.view("<i4").ravel() >> 8
    else:
        samples = np.frombuffer(raw, "<i4")
    scale = float(1 << (8 * wav.width - 1))
    decoded: npt.NDArray[np.float32] = samples.astype(np.float32) / np.float32(scale)
    return decoded
