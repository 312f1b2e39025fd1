"""Stream wrappers: the faultable accepted socket, and replay of sniffed bytes."""

from __future__ import annotations

import socket
import struct
from collections.abc import Callable

import trio

from .faults import Faults

# How often a stalled stream re-reads Faults.stall. Polling keeps Faults a plain
# dataclass that tests may mutate (or replace) from anywhere; under MockClock
# autojump the polls cost nothing in wall time.
STALL_POLL = 0.05


class TcpStream(trio.abc.Stream):
    """An accepted TCP connection that honours ``stall`` and can be cut.

    It sits below TLS, so a stall freezes the connection at the transport:
    nothing is read (pings stay unanswered) and nothing is written.
    """

    def __init__(self, inner: trio.SocketStream, faults: Callable[[], Faults]) -> None:
        self._inner = inner
        self._faults = faults
        self.scope: trio.CancelScope | None = None
        self.cut_done = False

    async def _wait_unstalled(self) -> None:
        while self._faults().stall and not self.cut_done:  # noqa: ASYNC110 (see STALL_POLL)
            await trio.sleep(STALL_POLL)

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        await self._wait_unstalled()
        await self._inner.send_all(data)

    async def wait_send_all_might_not_block(self) -> None:
        await self._inner.wait_send_all_might_not_block()

    async def receive_some(self, max_bytes: int | None = None) -> bytes | bytearray:
        await self._wait_unstalled()
        data = await self._inner.receive_some(max_bytes)
        # Bytes that arrived while stalled are held back, as if never read.
        await self._wait_unstalled()
        return data

    async def aclose(self) -> None:
        await self._inner.aclose()

    def cut(self) -> None:
        """Drop the connection now: RST (SO_LINGER 0), no close frame, no TLS alert.

        Closing the socket wakes any task blocked on it with ClosedResourceError;
        the connection's cancel scope then unwinds its tasks.
        """
        if self.cut_done:
            return
        self.cut_done = True
        sock = self._inner.socket
        if sock.fileno() != -1:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            sock.close()
        if self.scope is not None:
            self.scope.cancel()


class ReplayStream(trio.abc.Stream):
    """A stream that first yields bytes already read while sniffing the request head."""

    def __init__(self, inner: trio.abc.Stream, prefix: bytes) -> None:
        self._inner = inner
        self._prefix = prefix

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        await self._inner.send_all(data)

    async def wait_send_all_might_not_block(self) -> None:
        await self._inner.wait_send_all_might_not_block()

    async def receive_some(self, max_bytes: int | None = None) -> bytes | bytearray:
        if self._prefix:
            await trio.lowlevel.checkpoint()
            size = len(self._prefix) if max_bytes is None else max_bytes
            data, self._prefix = self._prefix[:size], self._prefix[size:]
            return data
        return await self._inner.receive_some(max_bytes)

    async def aclose(self) -> None:
        await self._inner.aclose()
