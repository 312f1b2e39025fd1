"""A small real HTTP/1.1 server on loopback for the media tests (trio + h11).

Each route answers one way: a body (with Content-Length, or chunked without it, as
Home Assistant's ffmpeg proxy streams), a status, or a stall (headers never sent, or
sent and then the body stops), so the fetcher meets real sockets and real HTTP.
"""

from __future__ import annotations

from dataclasses import dataclass

import h11
import trio


@dataclass(frozen=True)
class Route:
    body: bytes = b""
    status: int = 200
    content_type: str = "audio/x-wav"
    chunked: bool = False  # no Content-Length, the body in pieces
    chunk_size: int = 4096
    stall_before_headers: bool = False
    stall_after: int | None = None  # body bytes sent before stalling
    content_length: int | None = None  # a declared length other than the body's


class MediaServer:
    def __init__(self, routes: dict[str, Route]) -> None:
        self.routes = routes
        self.port = 0
        self.requests: list[str] = []

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    async def serve(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
        self.port = listeners[0].socket.getsockname()[1]
        task_status.started()
        await trio.serve_listeners(self._handle, listeners)

    async def _handle(self, stream: trio.SocketStream) -> None:
        conn = h11.Connection(h11.SERVER)
        try:
            while True:
                event = conn.next_event()
                if event is h11.NEED_DATA:
                    data = await stream.receive_some(65536)
                    if not data:
                        return
                    conn.receive_data(data)
                    continue
                if isinstance(event, h11.Request):
                    path = event.target.decode()
                    self.requests.append(path)
                    await self._respond(stream, conn, self.routes.get(path, Route(status=404)))
                    return
                if isinstance(event, h11.ConnectionClosed):
                    return
        except (trio.BrokenResourceError, h11.RemoteProtocolError):
            return
        finally:
            await trio.aclose_forcefully(stream)

    async def _respond(self, stream: trio.SocketStream, conn: h11.Connection, route: Route) -> None:
        if route.stall_before_headers:
            await trio.sleep_forever()
        headers = [("Content-Type", route.content_type), ("Connection", "close")]
        body = route.body if route.status < 400 else b"not here"
        if route.chunked:
            headers.append(("Transfer-Encoding", "chunked"))
        else:
            length = route.content_length if route.content_length is not None else len(body)
            headers.append(("Content-Length", str(length)))
        await stream.send_all(conn.send(h11.Response(status_code=route.status, headers=headers)))
        sent = 0
        for i in range(0, len(body), route.chunk_size):
            piece = body[i : i + route.chunk_size]
            if route.stall_after is not None and sent + len(piece) > route.stall_after:
                piece = piece[: route.stall_after - sent]
                if piece:
                    await stream.send_all(conn.send(h11.Data(data=piece)))
                await trio.sleep_forever()
            await stream.send_all(conn.send(h11.Data(data=piece)))
            sent += len(piece)
        if route.content_length is None or route.content_length == len(body):
            await stream.send_all(conn.send(h11.EndOfMessage()))
