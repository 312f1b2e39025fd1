"""What the emulator saw, for tests to assert on."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Received:
    """One WebSocket message as received.

    ``msg`` is the parsed JSON object, or ``{"_invalid": text}`` for anything else.
    """

    conn: int
    msg: dict[str, object]
    time: float


@dataclass(frozen=True)
class Handshake:
    """One WebSocket upgrade request and how it was answered (101 or the rejection)."""

    conn: int
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    status: int
