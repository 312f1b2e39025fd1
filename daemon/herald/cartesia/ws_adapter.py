"""The real WebSocket transport, on trio-websocket (the only module importing it)."""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from urllib.parse import urlsplit

import trio
import trio_websocket as tw

from herald.cartesia.transport import HandshakeRejected, TransportClosed, TransportError
from herald.secret import Secret

# A 16 KiB chunk is ~22 KiB of JSON; 4 MiB leaves room for anything Cartesia sends.
_MAX_MESSAGE = 4 * 1024 * 1024
# Handshake and close are bounded here; the client's own deadlines sit above.
_CONNECT_TIMEOUT = 10.0
_DISCONNECT_TIMEOUT = 1.0


class TrioWsConnection:
    def __init__(self, ws: tw.WebSocketConnection) -> None:
        self._ws = ws

    async def send(self, message: bytes) -> None:
        try:
            await self._ws.send_message(message.decode())
        except tw.ConnectionClosed as exc:
            raise _closed(exc) from None

    async def receive(self) -> str | bytes:
        try:
            return await self._ws.get_message()
        except tw.ConnectionClosed as exc:
            raise _closed(exc) from None

    async def ping(self) -> None:
        try:
            await self._ws.ping()
        except tw.ConnectionClosed as exc:
            raise _closed(exc) from None

    async def close(self) -> None:
        await self._ws.aclose(1000, "bye")


def _closed(exc: tw.ConnectionClosed) -> TransportClosed:
    reason = exc.reason
    if reason is None:
        return TransportClosed(1006, None)
    return TransportClosed(reason.code, reason.reason)


class TrioWsConnector:
    """Opens ``url`` with the key in ``X-API-Key`` and the version in ``Cartesia-Version``."""

    def __init__(
        self,
        url: str,
        api_key: Secret,
        version: str,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        if urlsplit(url).scheme not in ("ws", "wss"):
            raise ValueError(f"not a WebSocket URL: {url!r}")
        self._url = url
        self._key = api_key
        self._version = version
        self._ssl = ssl_context

    @asynccontextmanager
    async def connect(self) -> AsyncIterator[TrioWsConnection]:
        headers = [
            (b"X-API-Key", self._key.reveal().encode()),
            (b"Cartesia-Version", self._version.encode()),
            (b"User-Agent", b"herald"),
        ]
        try:
            ctx = tw.open_websocket_url(
                self._url,
                self._ssl,
                extra_headers=headers,
                # The client's reader drains frames at once into per-context queues.
                message_queue_size=64,
                max_message_size=_MAX_MESSAGE,
                connect_timeout=_CONNECT_TIMEOUT,
                disconnect_timeout=_DISCONNECT_TIMEOUT,
            )
            async with ctx as ws:
                yield TrioWsConnection(ws)
        except tw.ConnectionRejected as exc:
            body = exc.body if isinstance(exc.body, bytes) else b""
            raise HandshakeRejected(exc.status_code, _retry_after(exc.headers), body) from None
        except tw.ConnectionTimeout:
            raise TransportError("timed out connecting to Cartesia") from None
        except tw.DisconnectionTimeout:
            # The socket is gone either way; nothing more to do.
            pass
        except tw.HandshakeError as exc:
            raise TransportError(f"could not connect to Cartesia: {_cause(exc)}") from None
        except (OSError, trio.BrokenResourceError, ssl.SSLError) as exc:
            raise TransportError(f"connection to Cartesia failed: {_cause(exc)}") from None


def _retry_after(headers: object) -> float | None:
    if not isinstance(headers, list | tuple):
        return None
    for name, value in headers:
        if bytes(name).lower() == b"retry-after":
            try:
                return float(bytes(value).decode())
            except ValueError:
                return None
    return None


def _cause(exc: BaseException) -> str:
    # The handshake error wraps the OSError that says what actually happened.
    root: BaseException = exc
    while root.__cause__ is not None:
        root = root.__cause__
    return str(root) or type(root).__name__
