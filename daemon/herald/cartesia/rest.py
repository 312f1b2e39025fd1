"""Cartesia's REST API on httpx2: voices (list, get, clone) and one-shot synthesis.

httpx2 is imported lazily: only the CLI and the doctor use REST, never the
idle daemon.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

import msgspec

from herald.cartesia.errors import CartesiaError, error_from_body
from herald.cartesia.protocol import request_body
from herald.secret import Secret
from herald.voice import VoiceParams

if TYPE_CHECKING:
    import httpx2


@dataclass(frozen=True, slots=True)
class VoiceInfo:
    id: str
    name: str
    language: str
    description: str


class _Locale(msgspec.Struct):
    locale: str = ""


class _Voice(msgspec.Struct):
    id: str
    name: str = ""
    description: str | None = None
    tagline: str | None = None  # 2026-08-14 shape
    language: str | None = None
    # 2026-08-14 shape: [{"locale": "en-US", "is_native": true}, ...]
    locales: list[_Locale | str] | None = None


class _VoicePage(msgspec.Struct):
    data: list[_Voice]
    has_more: bool = False


class CartesiaRest:
    def __init__(
        self,
        api_url: str,
        api_key: Secret,
        version: str,
        *,
        verify: ssl.SSLContext | bool = True,
        timeout: float = 15.0,
    ) -> None:
        self._base = api_url.rstrip("/")
        self._key = api_key
        self._version = version
        self._verify = verify
        self._timeout = timeout

    def _client(self) -> httpx2.AsyncClient:
        import httpx2

        return httpx2.AsyncClient(
            base_url=self._base,
            headers={
                "X-API-Key": self._key.reveal(),
                "Cartesia-Version": self._version,
                "User-Agent": "herald",
            },
            verify=self._verify,
            timeout=self._timeout,
        )

    async def list_voices(self, page_size: int = 100) -> list[VoiceInfo]:
        """Every voice, following the cursor until an empty page."""
        voices: list[VoiceInfo] = []
        seen: set[str] = set()
        params: dict[str, Any] = {"limit": page_size}
        async with self._client() as client:
            while True:
                response = await self._request(client, "GET", "/voices", params=params)
                page = _decode(response.content, _VoicePage, "voice list")
                fresh = [v for v in page.data if v.id not in seen]
                # Stop on an empty page (the SDK's rule) or on a server that repeats.
                if not fresh:
                    return voices
                for v in fresh:
                    seen.add(v.id)
                    voices.append(_voice_info(v))
                params = {"limit": page_size, "starting_after": fresh[-1].id}

    async def get_voice(self, voice_id: str) -> VoiceInfo:
        """One voice (raises RequestRejected, 404 from 2026-03-01, for an unknown id)."""
        import urllib.parse

        path = "/voices/" + urllib.parse.quote(voice_id, safe="")
        async with self._client() as client:
            response = await self._request(client, "GET", path)
        voice = _decode(response.content, _Voice, "voice")
        return _voice_info(voice)

    async def clone_voice(
        self,
        clip: bytes,
        *,
        filename: str,
        name: str,
        language: str,
        description: str | None = None,
    ) -> VoiceInfo:
        """A new voice cloned from ``clip`` (a WAV file's bytes): POST /voices/clone.

        Multipart, the fields every API version takes: ``clip``, ``name``,
        ``language``, and ``description`` when given.
        """
        form = {"name": name, "language": language}
        if description:
            form["description"] = description
        files = {"clip": (filename, clip, "audio/wav")}
        async with self._client() as client:
            response = await self._request(client, "POST", "/voices/clone", data=form, files=files)
        return _voice_info(_decode(response.content, _Voice, "new voice"))

    async def tts_bytes(self, transcript: str, params: VoiceParams) -> bytes:
        body = request_body(params) | {"transcript": transcript}
        async with self._client() as client:
            response = await self._request(client, "POST", "/tts/bytes", json=body)
            return response.content

    async def check_key(self) -> None:
        """One cheap authenticated call; raises KeyRejected on a bad key."""
        async with self._client() as client:
            await self._request(client, "GET", "/voices", params={"limit": 1})

    async def _request(
        self, client: httpx2.AsyncClient, method: str, path: str, **kwargs: Any
    ) -> httpx2.Response:
        import httpx2

        try:
            response = await client.request(method, path, **kwargs)
        except httpx2.HTTPError as exc:
            raise CartesiaError(None, f"cannot reach Cartesia at {self._base}: {exc}") from None
        if response.status_code >= 400:
            raise error_from_body(response.status_code, response.content)
        return response


def _voice_info(v: _Voice) -> VoiceInfo:
    first = v.locales[0] if v.locales else ""
    language = v.language or (first if isinstance(first, str) else first.locale)
    return VoiceInfo(v.id, v.name, language, v.description or v.tagline or "")


_T = TypeVar("_T")


def _decode(content: bytes, kind: type[_T], what: str) -> _T:
    try:
        return msgspec.json.decode(content, type=kind)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise CartesiaError(None, f"unreadable {what} from Cartesia: {exc}") from None
