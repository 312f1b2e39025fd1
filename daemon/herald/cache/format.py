"""The clip file format: a checked header, JSON metadata, then the raw PCM.

Layout (little-endian; version 1)::

    offset size
     0      8   magic b"HRLDCLIP"
     8      2   format version (1)
    10      2   reserved, 0
    12      4   sample rate (Hz)
    16     16   encoding, ASCII, NUL-padded ("pcm_s16le", "pcm_f32le", ...)
    32      4   metadata length M (bytes, at most 64 KiB)
    36      8   payload length N (bytes)
    44     32   sha256 of the payload
    76      4   crc32 of bytes 0-75 and of the metadata
    80      M   metadata: UTF-8 JSON {key, text, voice, model, language, source, created}
                (created: integer epoch seconds)
    80+M    N   payload: the PCM exactly as synthesized

A file is valid only if it is exactly 80 + M + N bytes long and both checksums
match; anything else raises `CorruptClip` with the reason. The header can be
checked on its own (`read_header`, for listings) without reading the payload.
"""

from __future__ import annotations

import hashlib
import io
import json
import struct
import time
import zlib
from dataclasses import dataclass, field
from typing import BinaryIO

from herald.cache.key import SOURCES, Source, normalize_text
from herald.voice import VoiceParams

__all__ = [
    "FIXED_HEADER_SIZE",
    "FORMAT_VERSION",
    "MAGIC",
    "MAX_META_BYTES",
    "MAX_PAYLOAD_BYTES",
    "Clip",
    "ClipMeta",
    "CorruptClip",
    "Header",
    "decode",
    "encode",
    "encode_meta",
    "pack_header",
    "read_clip",
    "read_header",
    "sample_width",
]

MAGIC = b"HRLDCLIP"
FORMAT_VERSION = 1
MAX_META_BYTES = 64 * 1024
# The longest say (5000 characters) is a few minutes of audio: ~20 MB at 48 kHz. A
# header that claims more is not a clip of ours, and is never read into memory.
MAX_PAYLOAD_BYTES = 64 * 1024 * 1024

_FIXED = struct.Struct("<8sHHI16sIQ32sI")
FIXED_HEADER_SIZE = _FIXED.size  # 80
_CRC_OFFSET = FIXED_HEADER_SIZE - 4

_SAMPLE_WIDTHS = {"pcm_s16le": 2, "pcm_f32le": 4, "pcm_mulaw": 1, "pcm_alaw": 1}


def sample_width(encoding: str) -> int:
    """Bytes per (mono) sample of a Cartesia raw encoding; 1 for one we do not know."""
    return _SAMPLE_WIDTHS.get(encoding, 1)


class CorruptClip(ValueError):
    """A clip file that must not be played; ``reason`` says what is wrong with it."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class ClipMeta:
    """What a clip is: the text and the voice settings it was made with."""

    text: str
    voice: str
    model: str
    language: str | None
    source: Source
    sample_rate: int
    encoding: str = "pcm_s16le"
    created: int = field(default_factory=lambda: int(time.time()))  # epoch seconds

    @classmethod
    def from_params(cls, text: str, params: VoiceParams, source: Source) -> ClipMeta:
        """The metadata of a clip of ``text`` synthesized with ``params``."""
        return cls(
            text=normalize_text(text),
            voice=params.voice,
            model=params.model,
            language=params.language,
            source=source,
            sample_rate=params.sample_rate,
            encoding=params.encoding,
        )


@dataclass(frozen=True, slots=True)
class Header:
    """A checked header: everything in a clip file but the payload."""

    key: str
    meta: ClipMeta
    payload_len: int
    payload_sha256: bytes
    size: int  # of the header and metadata; the payload starts here

    @property
    def duration(self) -> float:
        """Seconds of audio (mono)."""
        return _duration(self.payload_len, self.meta)


@dataclass(frozen=True, slots=True)
class Clip:
    """A verified clip: the PCM is bit-exact what was committed."""

    key: str
    meta: ClipMeta
    pcm: bytes

    @property
    def duration(self) -> float:
        """Seconds of audio (mono)."""
        return _duration(len(self.pcm), self.meta)


def _duration(payload_len: int, meta: ClipMeta) -> float:
    if meta.sample_rate <= 0:
        return 0.0
    return payload_len / sample_width(meta.encoding) / meta.sample_rate


def encode_meta(key: str, meta: ClipMeta) -> bytes:
    """The metadata block (sample rate and encoding live in the fixed header)."""
    body = {
        "key": key,
        "text": meta.text,
        "voice": meta.voice,
        "model": meta.model,
        "language": meta.language,
        "source": meta.source,
        "created": meta.created,
    }
    data = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    if len(data) > MAX_META_BYTES:
        raise ValueError(f"clip metadata is {len(data)} bytes, at most {MAX_META_BYTES}")
    return data


def pack_header(
    meta_bytes: bytes, sample_rate: int, encoding: str, payload_len: int, payload_sha256: bytes
) -> bytes:
    """The fixed header for ``meta_bytes`` and a payload of that length and digest."""
    enc = encoding.encode("ascii")
    if len(enc) > 16:
        raise ValueError(f"encoding {encoding!r}: at most 16 ASCII characters")
    fixed = _FIXED.pack(
        MAGIC,
        FORMAT_VERSION,
        0,
        sample_rate,
        enc,
        len(meta_bytes),
        payload_len,
        payload_sha256,
        0,
    )
    crc = zlib.crc32(meta_bytes, zlib.crc32(fixed[:_CRC_OFFSET]))
    return fixed[:_CRC_OFFSET] + struct.pack("<I", crc)


def encode(key: str, meta: ClipMeta, pcm: bytes) -> bytes:
    """A whole clip file."""
    meta_bytes = encode_meta(key, meta)
    digest = hashlib.sha256(pcm).digest()
    return pack_header(meta_bytes, meta.sample_rate, meta.encoding, len(pcm), digest) + (
        meta_bytes + pcm
    )


def _read_exact(f: BinaryIO, n: int) -> bytes:
    chunks = []
    while n > 0:
        chunk = f.read(n)
        if not chunk:
            break
        chunks.append(chunk)
        n -= len(chunk)
    return b"".join(chunks)


def read_header(f: BinaryIO, file_size: int, *, key: str | None = None) -> Header:
    """Read and check the header and metadata at the start of ``f``.

    ``file_size`` is the size of the whole file, checked against the lengths in the
    header (a truncated or overlong file is corrupt). With ``key``, the key recorded
    in the file must be that one. Raises `CorruptClip`; reads no payload.
    """
    fixed = _read_exact(f, FIXED_HEADER_SIZE)
    if len(fixed) < FIXED_HEADER_SIZE:
        raise CorruptClip(f"truncated header ({len(fixed)} of {FIXED_HEADER_SIZE} bytes)")
    magic, version, _reserved, rate, enc, meta_len, payload_len, digest, crc = _FIXED.unpack(fixed)
    if magic != MAGIC:
        raise CorruptClip(f"bad magic {magic!r}")
    if version != FORMAT_VERSION:
        raise CorruptClip(f"unsupported format version {version}")
    if meta_len > MAX_META_BYTES:
        raise CorruptClip(f"bad header: metadata length {meta_len} > {MAX_META_BYTES}")
    if payload_len > MAX_PAYLOAD_BYTES:
        raise CorruptClip(f"bad header: payload length {payload_len} > {MAX_PAYLOAD_BYTES}")
    meta_bytes = _read_exact(f, meta_len)
    if len(meta_bytes) < meta_len:
        raise CorruptClip(f"truncated metadata ({len(meta_bytes)} of {meta_len} bytes)")
    if zlib.crc32(meta_bytes, zlib.crc32(fixed[:_CRC_OFFSET])) != crc:
        raise CorruptClip("header checksum mismatch")
    size = FIXED_HEADER_SIZE + meta_len
    if file_size < size + payload_len:
        raise CorruptClip(f"truncated payload ({file_size - size} of {payload_len} bytes)")
    if file_size > size + payload_len:
        raise CorruptClip(f"{file_size - size - payload_len} bytes after the payload")
    meta_key, meta = _parse_meta(meta_bytes, rate, enc)
    if key is not None and meta_key != key:
        raise CorruptClip(f"holds key {meta_key[:12]}…, not {key[:12]}…")
    return Header(meta_key, meta, payload_len, digest, size)


def _parse_meta(data: bytes, sample_rate: int, enc: bytes) -> tuple[str, ClipMeta]:
    try:
        body = json.loads(data.decode("utf-8"))
        encoding = enc.rstrip(b"\0").decode("ascii")
        if not isinstance(body, dict):
            raise TypeError("not an object")
        key, source, created = body["key"], body["source"], body["created"]
        language = body["language"]
        text, voice, model = body["text"], body["voice"], body["model"]
        if not all(isinstance(v, str) for v in (key, text, voice, model)):
            raise TypeError("key, text, voice and model must be strings")
        if language is not None and not isinstance(language, str):
            raise TypeError("language must be a string or null")
        if not isinstance(created, int) or isinstance(created, bool):
            raise TypeError("created must be an integer")
        if source not in SOURCES:
            raise TypeError(f"unknown source {source!r}")
    except (ValueError, TypeError, KeyError, RecursionError) as exc:
        raise CorruptClip(f"bad metadata: {exc}") from exc
    meta = ClipMeta(text, voice, model, language, source, sample_rate, encoding, created)
    return key, meta


def read_clip(f: BinaryIO, file_size: int, *, key: str | None = None) -> Clip:
    """Read and verify a whole clip from ``f``; raises `CorruptClip`."""
    header = read_header(f, file_size, key=key)
    pcm = _read_exact(f, header.payload_len)
    if len(pcm) < header.payload_len:  # the file shrank while we read it
        raise CorruptClip(f"truncated payload ({len(pcm)} of {header.payload_len} bytes)")
    if hashlib.sha256(pcm).digest() != header.payload_sha256:
        raise CorruptClip("payload checksum mismatch")
    return Clip(header.key, header.meta, pcm)


def decode(data: bytes, *, key: str | None = None) -> Clip:
    """Verify and decode a whole clip file held in memory; raises `CorruptClip`."""
    return read_clip(io.BytesIO(data), len(data), key=key)
