"""The /tts/websocket door: handshake checks, then one Session per accepted socket."""

from __future__ import annotations

import json
import uuid
from typing import TYPE_CHECKING

import trio
import trio_websocket

from .audio import is_speakable
from .auth import Target, admit, api_version, credential
from .contexts import Context, Frame
from .errors import (
    ApiError,
    concurrency_limited,
    context_closed,
    empty_transcript,
    invalid_request,
    not_found,
    rest_error,
    ws_error,
)
from .faults import Faults
from .http_head import RequestHead
from .mailbox import Mailbox
from .records import Handshake, Received
from .streams import TcpStream
from .validation import flag, parse_synthesis

if TYPE_CHECKING:
    from .server import Emulator

WS_PATH = "/tts/websocket"
HANDSHAKE_TIMEOUT = 10.0
CLOSE_TIMEOUT = 5.0
# The longest the idle watcher sleeps before re-reading Faults.idle_timeout,
# which tests may shorten on a live connection.
IDLE_POLL = 1.0


def judge_handshake(
    emu: Emulator, head: RequestHead, target: Target
) -> tuple[str, ApiError | None]:
    """The version to speak, or the error to reject the upgrade with."""
    if target.path.rstrip("/") != WS_PATH:
        return "", not_found(f"The path {target.path}")
    try:
        return admit(head.headers, target.query, emu.api_keys, emu.faults.reject_status), None
    except ApiError as err:
        return "", err


async def serve_websocket(
    emu: Emulator, stream: trio.abc.Stream, head: RequestHead, tcp: TcpStream
) -> None:
    """Run the upgrade handshake and, if accepted, the session; returns when it ends."""
    conn = emu.next_conn()
    target = Target.parse(head.target)
    async with trio.open_nursery() as nursery:
        request = None
        with trio.move_on_after(HANDSHAKE_TIMEOUT):
            request = await trio_websocket.wrap_server_stream(nursery, stream)
        if request is None:
            nursery.cancel_scope.cancel()
            return
        version, err = judge_handshake(emu, head, target)
        status = 101 if err is None else err.status
        record = Handshake(conn, target.path, target.query, dict(head.headers), status)
        emu.handshakes.append(record)
        key = credential(head.headers, target.query)
        if err is not None:
            # An HTTP error like any REST one: JSON from 2026-03-01, else "Title: Message".
            if emu.faults.echo_api_key:
                err = err.echoing(key)
            content_type, body = rest_error(err, api_version(head.headers, target.query))
            headers = [(b"content-type", content_type.encode())]
            await request.reject(err.status, extra_headers=headers, body=body)
            nursery.cancel_scope.cancel()
            return
        ws = await request.accept(extra_headers=[(b"x-request-id", str(uuid.uuid4()).encode())])
        session = Session(emu, conn, ws, version, tcp, key)
        emu.sessions.add(session)
        emu.connections_opened += 1
        try:
            await session.run()
        finally:
            emu.sessions.discard(session)
            nursery.cancel_scope.cancel()


def _parse(raw: str | bytes) -> dict[str, object] | None:
    try:
        msg = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return None
    return msg if isinstance(msg, dict) else None


class Session:
    """One accepted socket: reads requests, runs a task per context, writes output.

    One writer task sends everything, in the order contexts emit it, so frames
    from interleaved contexts never tear and a cancel can drop queued frames.
    """

    def __init__(
        self,
        emu: Emulator,
        conn: int,
        ws: trio_websocket.WebSocketConnection,
        version: str,
        tcp: TcpStream,
        key: str | None = None,
    ) -> None:
        self._emu = emu
        self.conn = conn
        self._ws = ws
        self.version = version
        self._tcp = tcp
        self._key = key  # the credential it connected with (for the echo_api_key fault)
        self._contexts: dict[str, Context] = {}
        self._cancelled: set[str] = set()
        self._outbox: Mailbox[tuple[Context | None, Frame]] = Mailbox()
        self._chunks_sent = 0
        self._last_activity = trio.current_time()
        self._scope = trio.CancelScope()
        self._nursery: trio.Nursery | None = None
        self._closing = False
        self._closed = trio.Event()
        self._ended = False
        self._close_scopes: set[trio.CancelScope] = set()

    @property
    def faults(self) -> Faults:
        return self._emu.faults

    async def run(self) -> None:
        """Serve until the client closes, the server closes, or the TCP link drops."""
        try:
            with self._scope:
                async with trio.open_nursery() as nursery:
                    self._nursery = nursery
                    nursery.start_soon(self._write_loop)
                    nursery.start_soon(self._idle_watch)
                    await self._read_loop()
                    if self._closing:
                        # Our own close ended the read loop: trio-websocket's reader
                        # must live on until the client's close frame comes back.
                        with trio.move_on_after(CLOSE_TIMEOUT):
                            await self._closed.wait()
                    nursery.cancel_scope.cancel()
        finally:
            # A close() waiting elsewhere (close_all) has nothing left to wait for.
            self._ended = True
            for scope in self._close_scopes:
                scope.cancel()

    async def close(self, code: int, reason: str) -> None:
        """Send a close frame, wait (bounded) for the client's, then stop the session."""
        self._closing = True
        with trio.move_on_after(CLOSE_TIMEOUT) as scope:
            if self._ended:
                scope.cancel()
            self._close_scopes.add(scope)
            try:
                await self._ws.aclose(code, reason)
            finally:
                self._close_scopes.discard(scope)
        self._closed.set()
        self._scope.cancel()

    # -- the Output protocol used by contexts -------------------------------------

    async def emit(self, ctx: Context, msg: Frame) -> None:
        await self._outbox.put((ctx, msg))

    def fail(self, ctx: Context, err: ApiError) -> None:
        if self._contexts.get(ctx.id) is ctx:
            del self._contexts[ctx.id]
        self._outbox.put_nowait((ctx, ws_error(self._echo(err), self.version, ctx.id)))

    def _echo(self, err: ApiError) -> ApiError:
        return err.echoing(self._key) if self.faults.echo_api_key else err

    def finished(self, ctx: Context) -> None:
        if self._contexts.get(ctx.id) is ctx:
            del self._contexts[ctx.id]
        self._emu.active_contexts -= 1

    # -- tasks ---------------------------------------------------------------------

    async def _read_loop(self) -> None:
        while True:
            try:
                raw = await self._ws.get_message()
            except trio_websocket.ConnectionClosed:
                return
            msg = _parse(raw)
            record: dict[str, object] = msg if msg is not None else {"_invalid": raw}
            self._emu.received.append(Received(self.conn, record, trio.current_time()))
            if msg is None:
                self._error(invalid_request("Messages must be JSON objects."), None)
            elif "cancel" in msg:
                self._on_cancel(msg)
            else:
                self._on_generation(msg)

    async def _write_loop(self) -> None:
        while True:
            ctx, msg = await self._outbox.get()
            if ctx is not None and ctx.silenced:
                continue
            text = msg if isinstance(msg, str) else json.dumps(msg, separators=(",", ":"))
            try:
                await self._ws.send_message(text)
            except trio_websocket.ConnectionClosed:
                self._scope.cancel()
                return
            self._last_activity = trio.current_time()
            if not isinstance(msg, str) and msg["type"] == "chunk":
                if ctx is not None:
                    self._emu.first_chunk_sent.setdefault(ctx.id, self._last_activity)
                self._chunks_sent += 1
                limit = self.faults.cut_after_chunks
                only = self.faults.cut_only_connection
                if (
                    limit is not None
                    and self._chunks_sent >= limit
                    and (only is None or only == self.conn)
                ):
                    self._tcp.cut()

    async def _idle_watch(self) -> None:
        # Idle means no generation request and no output: pings do not count
        # (notes §4.3), but a socket busy streaming audio is not idle either.
        while True:
            now = trio.current_time()
            deadline = self._last_activity + self.faults.idle_timeout
            if now >= deadline:
                break
            await trio.sleep(min(deadline - now, IDLE_POLL))
        await self.close(1000, "connection idle timeout")

    # -- requests --------------------------------------------------------------------

    def _error(self, err: ApiError, context_id: str | None) -> None:
        self._outbox.put_nowait((None, ws_error(self._echo(err), self.version, context_id)))

    def _on_cancel(self, msg: dict[str, object]) -> None:
        cid = msg.get("context_id")
        if not isinstance(cid, str) or not cid:
            self._error(invalid_request("context_id is required."), None)
            return
        # Later input on a cancelled id is ignored: clients drop the id at cancel
        # time, and a late close (LiveKit's " ") must not reopen it as an error.
        self._cancelled.add(cid)
        ctx = self._contexts.get(cid)
        if ctx is None:
            return
        if self.faults.cancel_finishes_current:
            ctx.finish_current()
        else:
            del self._contexts[cid]
            ctx.silence()

    def _on_generation(self, msg: dict[str, object]) -> None:
        cid = msg.get("context_id")
        if not isinstance(cid, str) or not cid:
            self._error(invalid_request("context_id is required."), None)
            return
        if cid in self._cancelled:
            return
        self._last_activity = trio.current_time()
        try:
            transcript = msg.get("transcript")
            if not isinstance(transcript, str):
                raise invalid_request("transcript must be a string.")
            more = flag(msg, "continue")
            flush = flag(msg, "flush")
            ctx = self._contexts.get(cid)
            if ctx is None:
                ctx = self._open(cid, msg, transcript)
            elif ctx.input_closed:
                raise context_closed("Input arrived after the context's input was closed.")
            elif (
                transcript.strip()
                and parse_synthesis(msg, self.version, self._emu) != ctx.synthesis
            ):
                # Empty and whitespace-only control messages are not checked:
                # PY2 closed and flushed contexts with unrelated model/voice/format.
                raise context_closed(
                    "model_id, voice, language and output_format must not change within a context."
                )
        except ApiError as err:
            stale = self._contexts.pop(cid, None)
            if stale is not None:
                stale.scope.cancel()
            self._error(err, cid)
            return
        ctx.feed(transcript, more=more, flush=flush)

    def _open(self, cid: str, msg: dict[str, object], transcript: str) -> Context:
        if not is_speakable(transcript):
            raise empty_transcript()
        synthesis = parse_synthesis(msg, self.version, self._emu)
        timestamps = flag(msg, "add_timestamps")
        phonemes = flag(msg, "add_phoneme_timestamps")
        limit = self.faults.max_contexts
        if limit is not None and self._emu.active_contexts >= limit:
            raise concurrency_limited()
        ctx = Context(cid, synthesis, timestamps=timestamps, phonemes=phonemes)
        self._contexts[cid] = ctx
        self._emu.active_contexts += 1
        assert self._nursery is not None
        self._nursery.start_soon(ctx.run, self)
        return ctx
