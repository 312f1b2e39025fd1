"""The WebSocket boundary the client talks through (one real adapter: ws_adapter)."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from typing import Protocol


class TransportError(Exception):
    """The socket failed (refused, reset, TLS error, handshake timeout...)."""


class HandshakeRejected(TransportError):
    """The server answered the upgrade with an HTTP error status."""

    def __init__(
        self, status_code: int, retry_after: float | None = None, body: bytes = b""
    ) -> None:
        super().__init__(f"handshake rejected with HTTP {status_code}")
        self.status_code = status_code
        self.retry_after = retry_after
        self.body = body[:4096]  # Cartesia's error (either shape); bounded


class TransportClosed(TransportError):
    """The socket closed; ``code`` is the close code (1006 when there was no close frame)."""

    def __init__(self, code: int, reason: str | None) -> None:
        super().__init__(f"closed with {code} {reason or ''}".strip())
        self.code = code
        self.reason = reason


class WsConnection(Protocol):
    async def send(self, message: bytes) -> None:
        """Send one text frame (UTF-8 JSON). Raises TransportClosed."""

    async def receive(self) -> str | bytes:
        """Next frame. Raises TransportClosed when the socket closes."""

    async def ping(self) -> None:
        """Send a ping and return when its pong arrives."""

    async def close(self) -> None:
        """Close with 1000; bounded by the caller's cancel scope."""


class WsConnector(Protocol):
    def connect(self) -> AbstractAsyncContextManager[WsConnection]:
        """Open a connection; raises HandshakeRejected or TransportError."""
