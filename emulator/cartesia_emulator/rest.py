"""The REST endpoints: POST /tts/bytes, GET /voices, GET /voices/{id},
POST /voices/clone, GET /; and the answer to the endpoints discontinued in 2026."""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

import trio

from .audio import is_speakable, synth_pcm
from .auth import admit, api_version, credential
from .clone import clone_voice
from .codecs import encode_pcm, wav_header
from .errors import ApiError, invalid_request, not_found, rest_error
from .http_server import HttpRequest, HttpResponse
from .streams import TcpStream
from .validation import parse_synthesis
from .versions import NEW_VOICE_SHAPE, since
from .voices import Voice, clone_json, voice_json

if TYPE_CHECKING:
    from .server import Emulator

# Fields only the WebSocket (or SSE) accepts; /tts/bytes answered 400 to
# add_timestamps (LK issue #2941), so the emulator rejects them all.
WS_ONLY_FIELDS = (
    "add_timestamps",
    "add_phoneme_timestamps",
    "use_normalized_timestamps",
    "use_original_timestamps",
    "context_id",
    "continue",
    "flush",
    "max_buffer_delay_ms",
)
_GENDERS = ("masculine", "feminine", "gender_neutral")

# Discontinued on 2026-06-01 for every version [C-changes]: Voice Embedding
# (POST /voices/clone/clip), Mix Voices (POST /voices/mix), Create Voice from an
# embedding (POST /voices). The docs only say such requests "return an error". The
# one observed answer of the service to an endpoint a version has no schema for is
# 404 (cartesia-js #101), so these are 404 in the caller's version's shape, naming
# the replacement; neither 405 nor 410 has any source.
DISCONTINUED = {
    ("POST", "/voices/clone/clip"): "Use POST /voices/clone, which returns a voice id.",
    ("POST", "/voices/mix"): "Mixing voices has no replacement.",
    ("POST", "/voices"): "Use POST /voices/clone, which returns a voice id.",
}


def _json(status: int, body: object) -> HttpResponse:
    return HttpResponse(status, [("content-type", "application/json")], json.dumps(body).encode())


class RestApi:
    """REST handlers for one TCP connection (chunk counts for cut_after_chunks are per link)."""

    def __init__(self, emu: Emulator, tcp: TcpStream) -> None:
        self._emu = emu
        self._tcp = tcp
        self._chunks_sent = 0

    async def handle(self, request: HttpRequest) -> HttpResponse:
        query = request.target.query
        version = api_version(request.headers, query)
        if request.target.path == "/" and request.method == "GET":
            return _json(200, {"ok": True, "version": version or ""})
        try:
            admitted = admit(
                request.headers, query, self._emu.api_keys, self._emu.faults.reject_status
            )
            return await self._route(request, admitted)
        except ApiError as err:
            if self._emu.faults.echo_api_key:
                err = err.echoing(credential(request.headers, query))
            return self._error(err, version)

    def _error(self, err: ApiError, version: str | None) -> HttpResponse:
        content_type, body = rest_error(err, version)
        return HttpResponse(err.status, [("content-type", content_type)], body)

    async def _route(self, request: HttpRequest, version: str) -> HttpResponse:
        path = request.target.path.rstrip("/")
        if (instead := DISCONTINUED.get((request.method, path))) is not None:
            raise ApiError(
                404,
                "Not found",
                f"{request.method} {path} was discontinued on 2026-06-01. {instead}",
                "not_found",
            )
        if path == "/tts/bytes":
            if request.method != "POST":
                raise ApiError(405, "Method not allowed", "Use POST.")
            return await self._tts_bytes(request, version)
        if path == "/voices":
            if request.method != "GET":
                raise ApiError(405, "Method not allowed", "Use GET.")
            return self._list_voices(request, version)
        if path == "/voices/clone":
            if request.method != "POST":
                raise ApiError(405, "Method not allowed", "Use POST.")
            content_type = request.headers.get("content-type", "")
            made = clone_voice(self._emu.catalogue, content_type, request.body, version)
            return _json(200, clone_json(made, version))
        if path.startswith("/voices/") and path.count("/") == 2:
            if request.method != "GET":
                raise ApiError(405, "Method not allowed", "Use GET.")
            voice = self._emu.catalogue.get(path.removeprefix("/voices/"))
            if voice is None:
                raise not_found("The voice")
            return _json(200, voice_json(voice, version))
        raise not_found(f"The path {request.target.path}")

    async def _tts_bytes(self, request: HttpRequest, version: str) -> HttpResponse:
        try:
            body = json.loads(request.body)
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise invalid_request("The request body must be a JSON object.")
        for name in WS_ONLY_FIELDS:
            if name in body:
                raise invalid_request(f"{name} is not supported on /tts/bytes.", "invalid_field")
        transcript = body.get("transcript")
        if not isinstance(transcript, str) or not is_speakable(transcript):
            raise invalid_request("transcript must contain speakable text.", "transcript_empty")
        if since(version, NEW_VOICE_SHAPE) and body.get("language") and body.get("locale"):
            raise invalid_request("Set language or locale, not both.")
        synthesis = parse_synthesis(body, version, self._emu, containers=("raw", "wav", "mp3"))
        fmt = synthesis.output_format
        audio = encode_pcm(synth_pcm(transcript, fmt.sample_rate), fmt.encoding)
        headers = [("content-type", "audio/wav" if fmt.container == "wav" else "audio/pcm")]
        if body.get("save") is True:
            headers.append(("cartesia-file-id", f"file_{uuid.uuid4().hex}"))
        prefix = b""
        if fmt.container == "wav":
            prefix = wav_header(fmt.encoding, fmt.sample_rate, len(audio))
        await trio.sleep(self._emu.faults.ttfb)
        return HttpResponse(200, headers, self._stream(prefix, audio, fmt.encoding))

    async def _stream(self, prefix: bytes, audio: bytes, encoding: str) -> AsyncIterator[bytes]:
        # Chunked like the WS (chunk_samples per chunk), paced by chunk_delay.
        faults = self._emu.faults
        rng = random.Random(f"{faults.seed}:rest")
        step = max(1, faults.chunk_samples) * len(encode_pcm(b"\x01\x00", encoding))
        for i, start in enumerate(range(0, len(audio), step)):
            faults = self._emu.faults
            if i:
                jitter = rng.uniform(0.0, faults.chunk_jitter) if faults.chunk_jitter else 0.0
                await trio.sleep(faults.chunk_delay + jitter)
            yield (prefix if i == 0 else b"") + audio[start : start + step]
            self._chunks_sent += 1
            limit = faults.cut_after_chunks
            if limit is not None and self._chunks_sent >= limit:
                self._tcp.cut()
                await trio.lowlevel.checkpoint()

    def _list_voices(self, request: HttpRequest, version: str) -> HttpResponse:
        query = request.target.query
        try:
            limit = int(query.get("limit", "10"))
        except ValueError:
            limit = 0
        if not 1 <= limit <= 100:
            raise invalid_request("limit must be an integer between 1 and 100.")
        after, before = query.get("starting_after"), query.get("ending_before")
        if after and before:
            raise invalid_request("Use starting_after or ending_before, not both.")
        catalogue = self._emu.catalogue
        items = [v for v in catalogue if _matches(v, query)]
        cursor = after or before
        if cursor:
            anchor = catalogue.get(cursor)
            if anchor is None:
                raise invalid_request(f"Unknown cursor {cursor!r}.", "invalid_cursor")
            position = catalogue.position(anchor)
            if after:
                items = [v for v in items if catalogue.position(v) > position]
            else:
                items = [v for v in items if catalogue.position(v) < position]
        cap = self._emu.faults.page_cap
        size = min(limit, cap) if cap is not None else limit
        page = items[-size:] if before else items[:size]
        has_more = len(items) > size
        expand = request.target.multi.get("expand[]", []) + request.target.multi.get("expand", [])
        data = [voice_json(v, version) for v in page]
        if "preview_file_url" in expand and since(version, NEW_VOICE_SHAPE):
            for shape in data:
                shape["preview_file_url"] = None  # the emulator has no previews
        next_page = page[-1].id if has_more and page else None
        return _json(200, {"data": data, "has_more": has_more, "next_page": next_page})


def _matches(voice: Voice, query: dict[str, str]) -> bool:
    q = query.get("q", "").lower()
    if q and not any(q in s.lower() for s in (voice.name, voice.description, voice.id)):
        return False
    gender = query.get("gender")
    if gender in _GENDERS and voice.gender != gender:
        return False
    language = query.get("language")
    if language and voice.language != language:
        return False
    is_owner = query.get("is_owner", "").lower()
    return not (is_owner in ("true", "false") and voice.is_owner != (is_owner == "true"))
