"""Talking to the emulator's WebSocket directly, for the emulator's own tests."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from urllib.parse import urlencode

import trio_websocket
from trio_websocket import ConnectionClosed, open_websocket

from cartesia_emulator import (
    Emulator,
)

KEY = "sk_car_test"
VOICE = "a0e99841-438c-4a64-b679-ae501e7d6091"
OTHER_VOICE = "f786b574-daa5-4673-aa0c-cbe3e8534c02"
RAW = {"container": "raw", "encoding": "pcm_s16le", "sample_rate": 24000}
NEW = "2026-08-14"  # structured errors (>= 2026-03-01)
OLD = "2024-11-13"  # legacy errors
TEXT = "Hello there, welcome to the emulator. How are you today?"
Msg = dict[str, object]


@asynccontextmanager
async def connect(
    emu: Emulator,
    *,
    version: str | None = NEW,
    key: str | None = KEY,
    query: dict[str, str] | None = None,
    headers: list[tuple[bytes, bytes]] | None = None,
) -> AsyncIterator[trio_websocket.WebSocketConnection]:
    extra = list(headers or [])
    if key is not None:
        extra.append((b"X-API-Key", key.encode()))
    if version is not None:
        extra.append((b"Cartesia-Version", version.encode()))
    resource = "/tts/websocket" + ("?" + urlencode(query) if query else "")
    async with open_websocket(
        "127.0.0.1", emu.port, resource, use_ssl=False, extra_headers=extra
    ) as ws:
        yield ws


def gen(cid: str, transcript: str, *, more: bool = True, **extra: object) -> Msg:
    msg: Msg = {
        "context_id": cid,
        "model_id": "sonic-3",
        "transcript": transcript,
        "voice": {"mode": "id", "id": VOICE},
        "output_format": RAW,
        "continue": more,
    }
    return msg | extra


async def send(ws: trio_websocket.WebSocketConnection, *msgs: Msg) -> None:
    for msg in msgs:
        await ws.send_message(json.dumps(msg))


async def recv(ws: trio_websocket.WebSocketConnection) -> Msg:
    msg = json.loads(await ws.get_message())
    assert isinstance(msg, dict)
    return msg


async def until_end(ws: trio_websocket.WebSocketConnection, *cids: str) -> dict[str, list[Msg]]:
    """Read until every context in ``cids`` got done or error; return messages per context."""
    got: dict[str, list[Msg]] = {cid: [] for cid in cids}
    open_ = set(cids)
    while open_:
        msg = await recv(ws)
        cid = msg.get("context_id")
        assert isinstance(cid, str), msg
        got.setdefault(cid, []).append(msg)
        if msg["type"] in ("done", "error"):
            open_.discard(cid)
    return got


def close_of(exc: ConnectionClosed) -> tuple[int, str | None]:
    assert exc.reason is not None
    return exc.reason.code, exc.reason.reason


def audio_of(msgs: list[Msg]) -> bytes:
    return b"".join(base64.b64decode(str(m["data"])) for m in msgs if m["type"] == "chunk")


# -- audio, tokenising ------------------------------------------------------------------
