"""HTTP/1.1 plumbing for the REST endpoints, on h11."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

import h11
import trio

from .auth import Target

MAX_BODY = 16 * 1024 * 1024  # a voice clip to clone is the largest body


@dataclass
class HttpRequest:
    method: str
    target: Target
    headers: dict[str, str]  # lower-cased names
    body: bytes


@dataclass
class HttpResponse:
    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes | AsyncIterator[bytes] = b""


Handler = Callable[[HttpRequest], Awaitable[HttpResponse]]


async def _next_request(conn: h11.Connection, stream: trio.abc.Stream) -> HttpRequest | None:
    request: h11.Request | None = None
    body = bytearray()
    while True:
        event = conn.next_event()
        if event is h11.NEED_DATA:
            if conn.they_are_waiting_for_100_continue:
                go_on = h11.InformationalResponse(status_code=100, headers=[])
                await stream.send_all(conn.send(go_on) or b"")
            conn.receive_data(bytes(await stream.receive_some()))
        elif isinstance(event, h11.Request):
            request = event
        elif isinstance(event, h11.Data):
            body += event.data
            if len(body) > MAX_BODY:
                raise h11.RemoteProtocolError("body too large", error_status_hint=413)
        elif isinstance(event, h11.EndOfMessage):
            assert request is not None
            headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in request.headers}
            target = Target.parse(request.target.decode("latin-1"))
            return HttpRequest(request.method.decode("ascii"), target, headers, bytes(body))
        elif isinstance(event, h11.ConnectionClosed) or event is h11.PAUSED:
            return None


async def _send(conn: h11.Connection, stream: trio.abc.Stream, event: h11.Event) -> None:
    data = conn.send(event)
    if data:
        await stream.send_all(data)


async def _respond(conn: h11.Connection, stream: trio.abc.Stream, response: HttpResponse) -> None:
    headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in response.headers]
    headers.append((b"server", b"cartesia-emulator"))
    if isinstance(response.body, bytes):
        headers.append((b"content-length", str(len(response.body)).encode()))
        await _send(conn, stream, h11.Response(status_code=response.status, headers=headers))
        if response.body:
            await _send(conn, stream, h11.Data(data=response.body))
    else:
        # No length: h11 streams the body with chunked transfer encoding.
        await _send(conn, stream, h11.Response(status_code=response.status, headers=headers))
        async for part in response.body:
            await _send(conn, stream, h11.Data(data=part))
    await _send(conn, stream, h11.EndOfMessage())


async def serve_http(stream: trio.abc.Stream, initial: bytes, handler: Handler) -> None:
    """Answer requests on one connection (keep-alive) until either side closes it."""
    conn = h11.Connection(h11.SERVER)
    conn.receive_data(initial)
    while True:
        try:
            request = await _next_request(conn, stream)
        except h11.RemoteProtocolError as exc:
            if conn.our_state in (h11.IDLE, h11.SEND_RESPONSE):
                status = exc.error_status_hint
                reply = HttpResponse(status, [("content-type", "text/plain")], str(exc).encode())
                await _respond(conn, stream, reply)
            return
        if request is None:
            return
        await _respond(conn, stream, await handler(request))
        if conn.our_state is not h11.DONE or conn.their_state is not h11.DONE:
            return
        conn.start_next_cycle()
