"""The Emulator: one TCP port serving /tts/websocket and the REST endpoints."""

from __future__ import annotations

import datetime as dt
import ssl

import h11
import trio
import trio_websocket
import wsproto.utilities

from .faults import Faults
from .http_head import RequestHead, read_head
from .http_server import serve_http
from .models import SERVICE_DATE
from .records import Handshake, Received
from .rest import RestApi
from .streams import ReplayStream, TcpStream
from .voices import PRONUNCIATION_DICTS, Catalogue
from .ws_session import Session, serve_websocket

HOST = "127.0.0.1"
# Errors that only mean "this client's connection is gone or broken". The
# wsproto one includes a trio-websocket bug: a ping arriving after our close
# frame makes its reader try to pong in LOCAL_CLOSING and raise; the client has
# our close frame by then, so ending the connection there is harmless.
_LINK_ERRORS = (
    trio.BrokenResourceError,
    trio.ClosedResourceError,
    trio_websocket.ConnectionClosed,
    h11.ProtocolError,
    wsproto.utilities.ProtocolError,
    ssl.SSLError,
)


class Emulator:
    """A local stand-in for Cartesia's TTS API, faithful enough for the official SDK.

    Start it with ``port = await nursery.start(emu.serve)``; it serves until
    cancelled. Only 127.0.0.1 is bound. All timing is trio time, so tests may
    run it under ``MockClock(autojump_threshold=0)``.
    """

    def __init__(
        self,
        api_keys: frozenset[str] = frozenset({"sk_car_test"}),
        ssl_context: ssl.SSLContext | None = None,
        faults: Faults | None = None,
        *,
        port: int = 0,
    ) -> None:
        self.api_keys = api_keys
        self.ssl_context = ssl_context
        self.faults = faults if faults is not None else Faults()
        self.port = port
        # The voices: the built-in ones, then those cloned through POST /voices/clone.
        self.catalogue = Catalogue()
        # The pronunciation dictionary ids the account owns; tests add their own.
        self.pronunciation_dicts: set[str] = set(PRONUNCIATION_DICTS)
        # The day the emulated service lives in: it decides which models are sunset
        # (models.py). Tests may move it, even while the emulator serves.
        self.today: dt.date = SERVICE_DATE
        self.received: list[Received] = []
        self.handshakes: list[Handshake] = []
        # context_id -> trio time its first chunk went out: with the first request's
        # time in `received`, a benchmark measures the emulator's real time to first
        # byte (its synthesis and scheduling included) and subtracts exactly that.
        self.first_chunk_sent: dict[str, float] = {}
        self.connections_opened = 0
        self.active_contexts = 0
        self.sessions: set[Session] = set()
        self._links: set[TcpStream] = set()
        self._conn_counter = 0
        self._listening = False

    @property
    def ws_url(self) -> str:
        scheme = "wss" if self.ssl_context else "ws"
        return f"{scheme}://{HOST}:{self._bound_port()}/tts/websocket"

    @property
    def http_url(self) -> str:
        scheme = "https" if self.ssl_context else "http"
        return f"{scheme}://{HOST}:{self._bound_port()}"

    @property
    def active_connections(self) -> int:
        """WebSocket connections currently open."""
        return len(self.sessions)

    def _bound_port(self) -> int:
        if not self._listening:
            raise RuntimeError("the emulator is not serving yet")
        return self.port

    def next_conn(self) -> int:
        """Number the next WebSocket handshake (1, 2, ...), accepted or rejected."""
        self._conn_counter += 1
        return self._conn_counter

    async def serve(self, *, task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED) -> None:
        """Listen on 127.0.0.1; report the port via ``task_status``; serve until cancelled."""
        listeners = await trio.open_tcp_listeners(self.port, host=HOST)
        self.port = listeners[0].socket.getsockname()[1]
        self._listening = True
        async with trio.open_nursery() as nursery:
            await nursery.start(trio.serve_listeners, self._handle, listeners)
            task_status.started(self.port)

    async def close_all(self, code: int = 1000, reason: str = "") -> None:
        """Cleanly close every open WebSocket (close frame, then wait for the client's)."""
        async with trio.open_nursery() as nursery:
            for session in list(self.sessions):
                nursery.start_soon(session.close, code, reason)

    def cut_all(self) -> None:
        """Drop every TCP connection at once: RST, no close frame."""
        for link in list(self._links):
            link.cut()

    async def _handle(self, sock: trio.SocketStream) -> None:
        link = TcpStream(sock, lambda: self.faults)
        if self.faults.refuse:
            link.cut()
            await trio.lowlevel.checkpoint()
            return
        stream: trio.abc.Stream = link
        if self.ssl_context is not None:
            stream = trio.SSLStream(link, self.ssl_context, server_side=True, https_compatible=True)
        self._links.add(link)
        try:
            with trio.CancelScope() as scope:
                link.scope = scope
                await self._dispatch(stream, link)
        except* _LINK_ERRORS:
            pass
        finally:
            self._links.discard(link)
            await trio.aclose_forcefully(stream)

    async def _dispatch(self, stream: trio.abc.Stream, link: TcpStream) -> None:
        initial = await read_head(stream)
        if not initial:
            return
        head = RequestHead.parse(initial)
        if head.is_upgrade:
            await serve_websocket(self, ReplayStream(stream, initial), head, link)
        else:
            await serve_http(stream, initial, RestApi(self, link).handle)
