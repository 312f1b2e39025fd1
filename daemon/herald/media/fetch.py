"""Fetching a media URL with httpx2: streamed, bounded in size and time.

The only module of herald.media that imports httpx2 (lazily: only a run that plays
a URL loads it). Every failure is a `MediaError` whose message names the URL (cut to
`URL_LOG_MAX` characters, without its query string, which may hold a token) and
what went wrong: refused, HTTP status, too large, too slow.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol
from urllib.parse import urlsplit

import trio

if TYPE_CHECKING:
    import httpx2

__all__ = [
    "FetchLimits",
    "HttpMedia",
    "MediaError",
    "MediaFormatError",
    "MediaHttpError",
    "MediaSource",
    "MediaTimeout",
    "MediaTooLarge",
    "MediaUnreachable",
    "describe_url",
]

log = logging.getLogger("herald.media")

URL_LOG_MAX = 120


def describe_url(url: str) -> str:
    """The URL for a log line: no query or fragment (Home Assistant's proxy URLs carry
    no secret there, but other URLs may), at most URL_LOG_MAX characters."""
    try:
        parts = urlsplit(url)
        text = f"{parts.scheme}://{parts.netloc}{parts.path}" if parts.scheme else url
    except ValueError:
        text = url
    text = "".join(c if c.isprintable() else "?" for c in text)
    return text if len(text) <= URL_LOG_MAX else text[: URL_LOG_MAX - 1] + "…"


class MediaError(Exception):
    """A media URL could not be played; the message says which and why."""

    def __init__(self, url: str, reason: str) -> None:
        super().__init__(f"media {describe_url(url)}: {reason}")
        self.url = url
        self.reason = reason


class MediaUnreachable(MediaError):
    """Refused, no such host, TLS failure, connection dropped, not an http(s) URL."""


class MediaHttpError(MediaError):
    def __init__(self, url: str, status: int) -> None:
        super().__init__(url, f"HTTP {status}")
        self.status = status


class MediaTooLarge(MediaError):
    pass


class MediaTimeout(MediaError):
    pass


class MediaFormatError(MediaError):
    """Not audio herald can decode (not WAV)."""


@dataclass(frozen=True, slots=True)
class FetchLimits:
    max_bytes: int = 32 * 1024 * 1024  # 11 min of 24 kHz mono 16-bit WAV
    connect_s: float = 5.0
    read_s: float = 10.0  # the longest gap between two chunks (ffmpeg may be starting)
    total_s: float = 900.0  # the whole transfer
    max_redirects: int = 5


class MediaSource(Protocol):
    def open(self, url: str) -> AbstractAsyncContextManager[AsyncIterator[bytes]]:
        """An async context manager giving the body's chunks; raises MediaError (also
        from the iteration)."""
        ...


class HttpMedia:
    """Fetches http:// and https:// URLs (the system's CAs for https)."""

    def __init__(self, limits: FetchLimits | None = None, *, user_agent: str = "herald") -> None:
        self.limits = limits or FetchLimits()
        self._user_agent = user_agent

    @asynccontextmanager
    async def open(self, url: str) -> AsyncIterator[AsyncIterator[bytes]]:
        scheme = urlsplit(url).scheme.lower() if url else ""
        if scheme not in ("http", "https"):
            raise MediaUnreachable(url, "not an http:// or https:// URL")
        import httpx2

        lim = self.limits
        timeout = httpx2.Timeout(lim.read_s, connect=lim.connect_s)
        try:
            with trio.fail_after(lim.total_s):
                async with (
                    httpx2.AsyncClient(
                        timeout=timeout,
                        follow_redirects=True,
                        max_redirects=lim.max_redirects,
                        headers={"User-Agent": self._user_agent},
                    ) as client,
                    client.stream("GET", url) as response,
                ):
                    if response.status_code >= 400:
                        raise MediaHttpError(url, response.status_code)
                    length = response.headers.get("content-length")
                    if length is not None and length.isdigit() and int(length) > lim.max_bytes:
                        raise MediaTooLarge(url, f"{int(length)} bytes (at most {lim.max_bytes})")
                    yield _bounded(url, response, lim.max_bytes)
        except trio.TooSlowError:
            raise MediaTimeout(url, f"not complete within {lim.total_s:g} s") from None
        except httpx2.TimeoutException as exc:
            raise MediaTimeout(url, _timeout_reason(exc, lim)) from None
        except httpx2.TooManyRedirects:
            raise MediaUnreachable(url, f"more than {lim.max_redirects} redirects") from None
        except httpx2.HTTPError as exc:
            raise MediaUnreachable(url, _cause(exc)) from None


def _timeout_reason(exc: httpx2.TimeoutException, lim: FetchLimits) -> str:
    import httpx2

    if isinstance(exc, httpx2.ConnectTimeout):
        return f"no connection within {lim.connect_s:g} s"
    return f"no data for {lim.read_s:g} s"


async def _bounded(url: str, response: httpx2.Response, max_bytes: int) -> AsyncIterator[bytes]:
    total = 0
    async for chunk in response.aiter_bytes():
        total += len(chunk)
        if total > max_bytes:
            raise MediaTooLarge(url, f"more than {max_bytes} bytes")
        yield chunk


def _cause(exc: BaseException) -> str:
    root: BaseException = exc
    while root.__cause__ is not None or root.__context__ is not None:
        nxt = root.__cause__ or root.__context__
        assert nxt is not None
        root = nxt
    text = str(root) or type(root).__name__
    return "".join(c if c.isprintable() else "?" for c in text)[:200]
