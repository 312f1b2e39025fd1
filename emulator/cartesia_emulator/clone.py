"""POST /voices/clone: a multipart form in, a new voice out (notes §6).

The form per version (FERN, PY4 ``voice_clone_params.py``): ``clip`` (a file),
``name`` and ``language`` (required), ``description`` and ``base_voice_id``
(optional); ``enhance`` and ``mode`` up to 2025-era versions, ``accent`` from
2026-08-14. The emulator checks what a client can get wrong: the content type, each
field, unknown fields, and the clip: a WAV file (the one container it can measure)
of at least ``MIN_CLIP_SECONDS``, "about 5 seconds" being Cartesia's advice.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass

from .errors import ApiError, invalid_request
from .models import SUPPORTED_LANGUAGES as LANGUAGES
from .versions import NEW_VOICE_SHAPE, since
from .voices import Catalogue, Voice

MIN_CLIP_SECONDS = 5.0
_OLD_ONLY = frozenset({"enhance", "mode"})
_NEW_ONLY = frozenset({"accent"})
_ALWAYS = frozenset({"clip", "name", "language", "description", "base_voice_id"})


@dataclass(frozen=True)
class Part:
    name: str
    filename: str | None  # None: a plain form field
    data: bytes


def clone_voice(catalogue: Catalogue, content_type: str, body: bytes, version: str) -> Voice:
    """Validate the form and add the voice; raise ApiError(400) like the API would."""
    parts = parse_multipart(content_type, body)
    fields: dict[str, Part] = {}
    allowed = _ALWAYS | (_NEW_ONLY if since(version, NEW_VOICE_SHAPE) else _OLD_ONLY)
    for part in parts:
        if part.name not in allowed:
            raise invalid_request(f"Unknown field {part.name!r}.", "invalid_field")
        if part.name in fields:
            raise invalid_request(f"The field {part.name!r} is given twice.", "invalid_field")
        fields[part.name] = part
    clip = fields.get("clip")
    if clip is None or clip.filename is None:
        raise invalid_request("clip is required: an audio file.", "invalid_clip")
    name = _text(fields, "name").strip()
    if not name:
        raise invalid_request("name is required.", "invalid_name")
    language = _text(fields, "language")
    if language not in LANGUAGES:
        raise invalid_request(
            f"language must be a supported language code, got {language!r}.", "invalid_language"
        )
    base = _text(fields, "base_voice_id")
    if base and base not in catalogue:
        raise ApiError(404, "Voice not found", f"No voice with id {base!r}.", "voice_not_found")
    seconds = clip_seconds(clip.data)
    if seconds < MIN_CLIP_SECONDS:
        raise invalid_request(
            f"The clip is {seconds:.1f} seconds long; at least {MIN_CLIP_SECONDS:g} are needed.",
            "clip_too_short",
        )
    return catalogue.add_clone(name, _text(fields, "description"), language)


def _text(fields: dict[str, Part], name: str) -> str:
    part = fields.get(name)
    if part is None:
        return ""
    if part.filename is not None:
        raise invalid_request(f"{name} must be a text field, not a file.", "invalid_field")
    try:
        return part.data.decode("utf-8")
    except UnicodeDecodeError:
        raise invalid_request(f"{name} is not valid UTF-8.", "invalid_field") from None


# --- multipart/form-data (RFC 7578) --------------------------------------------------

_BOUNDARY = re.compile(r';\s*boundary=(?:"([^"]+)"|([^;\s]+))', re.IGNORECASE)
_DISPOSITION_PARAM = re.compile(
    r';\s*(name|filename)="((?:[^"\\]|\\.)*)"|;\s*(name|filename)=([^;\s]+)'
)


def parse_multipart(content_type: str, body: bytes) -> list[Part]:
    """The parts of a multipart/form-data body. Raises ApiError(400) on anything else."""
    match = _BOUNDARY.search(content_type)
    if not content_type.lower().startswith("multipart/form-data") or match is None:
        raise invalid_request("The request body must be multipart/form-data.", "invalid_body")
    boundary = (match.group(1) or match.group(2)).encode("latin-1")
    # Each delimiter starts a line, so the CRLF before it is not part of the data.
    chunks = (b"\r\n" + body).split(b"\r\n--" + boundary)
    if len(chunks) < 2 or not chunks[-1].startswith(b"--"):
        raise invalid_request("The multipart body is malformed (no closing boundary).")
    parts: list[Part] = []
    for chunk in chunks[1:-1]:
        head, sep, data = chunk.removeprefix(b"\r\n").partition(b"\r\n\r\n")
        if not sep:
            raise invalid_request("The multipart body is malformed (a part has no headers).")
        parts.append(_part(head.decode("latin-1"), data))
    return parts


def _part(head: str, data: bytes) -> Part:
    disposition = ""
    for line in head.split("\r\n"):
        key, _, value = line.partition(":")
        if key.strip().lower() == "content-disposition":
            disposition = value.strip()
    if not disposition.lower().startswith("form-data"):
        raise invalid_request("Each part needs Content-Disposition: form-data.")
    params: dict[str, str] = {}
    for m in _DISPOSITION_PARAM.finditer(disposition):
        key = (m.group(1) or m.group(3)).lower()
        params[key] = m.group(2) if m.group(1) else m.group(4)
    if "name" not in params:
        raise invalid_request("A part has no name.")
    return Part(params["name"], params.get("filename"), data)


# --- the clip ------------------------------------------------------------------------


def clip_seconds(data: bytes) -> float:
    """Seconds of audio in a WAV file (PCM or float). Raises ApiError(400) otherwise."""
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise _undecodable()
    fmt: bytes | None = None
    pos = 12
    while pos + 8 <= len(data):
        chunk_id, size = data[pos : pos + 4], struct.unpack_from("<I", data, pos + 4)[0]
        if chunk_id == b"fmt ":
            fmt = data[pos + 8 : pos + 8 + size]
        elif chunk_id == b"data" and fmt is not None and len(fmt) >= 16:
            tag, channels, rate, _, block_align, _ = struct.unpack_from("<HHIIHH", fmt)
            if tag == 0xFFFE and len(fmt) >= 26:
                tag = struct.unpack_from("<H", fmt, 24)[0]
            if tag not in (1, 3) or not channels or not rate or not block_align:
                raise _undecodable()
            available = len(data) - pos - 8
            frames: int = min(size, available) // block_align
            return frames / int(rate)
        pos += 8 + size + (size & 1)
    raise _undecodable()


def _undecodable() -> ApiError:
    return invalid_request(
        "The clip could not be decoded as audio (the emulator reads WAV: PCM or float).",
        "invalid_clip",
    )
