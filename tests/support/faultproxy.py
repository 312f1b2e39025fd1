"""A TCP proxy on loopback that injects network faults: cut (RST), half-close, stall, delay.

Put it between herald and the emulator or the broker (``proxy = FaultProxy(port)``,
``await nursery.start(proxy.serve)``, then point herald at ``proxy.port``). It sees
bytes, not messages (the WebSocket runs over TLS through it), so faults are placed by
time or by byte counts:

- ``delay``: seconds added to every byte in each direction (a round trip gains twice
  that); order is kept and throughput is not limited, as on a long, fat link. With
  ``connect_rtt`` (the default) a new connection's first bytes also wait the round
  trip its TCP handshake would have taken over such a link, which the kernel here
  completes at once: a client that connects per request pays for it as it would.
- ``stalled``: nothing more is read or written in either direction; connections stay
  open and nothing tells either end (a dead Wi-Fi link, a pulled cable upstream).
- `cut_all`: RST both sides of every connection at once (SO_LINGER 0): no FIN, no close
  frame, no TLS alert.
- `half_close_all`: a FIN to the client (it reads end of file) while what it still
  sends is passed on, as from a server that shut down its write side.
- `arm`: one of these actions, fired after ``after`` more bytes went one way, with the
  bytes before that point forwarded first: "cut 37 kB into the audio of this reply".
- ``refuse``: accept new connections and reset them at once.

The shape follows Shopify's toxiproxy (latency, timeout with 0 = stall, reset_peer,
limit_data); it is in-process trio so a test can place faults between two awaits.
"""

from __future__ import annotations

import contextlib
import math
import socket
import struct
from dataclasses import dataclass, field
from typing import Literal

import trio

__all__ = ["Action", "Direction", "FaultProxy", "Link", "Trigger"]

Direction = Literal["up", "down"]  # up: client -> target; down: target -> client
Action = Literal["cut", "half_close", "stall"]
_READ = 65536
_GONE = (trio.BrokenResourceError, trio.ClosedResourceError, OSError)
# How often a stalled pump re-reads ``stalled``: a plain attribute that tests flip from
# anywhere keeps the proxy simple; the poll only runs while stalled.
_STALL_POLL = 0.01


@dataclass
class Trigger:
    """A fault armed to fire after ``after`` more bytes in ``direction``."""

    direction: Direction
    after: int
    action: Action
    seen: int = 0
    fired_at: float | None = None  # trio time the action took effect
    fired: trio.Event = field(default_factory=trio.Event)


# What a pump hands its deliverer: bytes, a fault to fire, or None for end of file;
# with the trio time it is due at the other side.
_Item = tuple["bytes | Trigger | None", float]


def _reset(sock: trio.socket.SocketType) -> None:
    # SO_LINGER with a zero timeout makes close() send RST and drop unsent data.
    if sock.fileno() != -1:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.close()


class Link:
    """One proxied connection: the accepted client side and the target side."""

    def __init__(self, proxy: FaultProxy, client: trio.SocketStream, number: int) -> None:
        self.proxy = proxy
        self.client = client
        self.server: trio.SocketStream | None = None
        self.number = number
        self.accepted_at = trio.current_time()
        self.up = 0  # bytes forwarded client -> target
        self.down = 0  # bytes forwarded target -> client
        self.closed = False
        self.scope = trio.CancelScope()
        self._half_closed = False

    def cut(self) -> None:
        """RST both sides now."""
        if self.closed:
            return
        self.closed = True
        _reset(self.client.socket)
        if self.server is not None:
            _reset(self.server.socket)
        self.scope.cancel()

    def half_close(self) -> None:
        """End the stream toward the client (FIN); keep passing what it sends."""
        self._half_closed = True
        # On the raw socket: the deliverer may be inside send_all on the stream.
        with contextlib.suppress(OSError):
            self.client.socket.shutdown(socket.SHUT_WR)

    def _due(self, direction: Direction) -> float:
        due = trio.current_time() + self.proxy.delay
        if direction == "up" and self.proxy.connect_rtt:
            # The client's connect() returned at once (the kernel accepted it here), but
            # over the link it would have taken a round trip: its first bytes leave
            # then and arrive one delay later, so everything after is timed as there.
            due = max(due, self.accepted_at + 3 * self.proxy.delay)
        return due

    async def _pump(self, direction: Direction, channel: trio.MemorySendChannel[_Item]) -> None:
        src = self.client if direction == "up" else self.server
        assert src is not None
        proxy = self.proxy
        while True:
            try:
                data = await src.receive_some(_READ)
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                data = b""
            # What arrives during a stall waits here, as if the link had not carried it.
            while proxy.stalled:
                await trio.sleep(_STALL_POLL)
            if not data:
                await channel.send((None, self._due(direction)))
                return
            for trigger in list(proxy._triggers):
                if trigger.direction != direction:
                    continue
                room = trigger.after - trigger.seen
                if len(data) < room:
                    trigger.seen += len(data)
                    continue
                proxy._triggers.remove(trigger)
                trigger.seen = trigger.after
                if room:
                    await channel.send((data[:room], self._due(direction)))
                data = data[room:]
                # The deliverer fires it after the bytes before it, so they pass first.
                await channel.send((trigger, self._due(direction)))
                if trigger.action == "stall":
                    await trigger.fired.wait()
                    while proxy.stalled:
                        await trio.sleep(_STALL_POLL)
            if data:
                await channel.send((data, self._due(direction)))

    async def _deliver(
        self, direction: Direction, channel: trio.MemoryReceiveChannel[_Item]
    ) -> None:
        dst = self.server if direction == "up" else self.client
        assert dst is not None
        async for item, due in channel:
            await trio.sleep_until(due)
            if isinstance(item, Trigger):
                item.fired_at = trio.current_time()
                item.fired.set()
                if item.action == "cut":
                    self.cut()
                    return
                if item.action == "stall":
                    self.proxy.stalled = True
                else:
                    self.half_close()
                continue
            while self.proxy.stalled:
                await trio.sleep(_STALL_POLL)
            if item is None:
                with contextlib.suppress(*_GONE):
                    await dst.send_eof()
                return
            if direction == "down" and self._half_closed:
                continue  # the client was told the stream ended
            try:
                await dst.send_all(item)
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                return
            if direction == "up":
                self.up += len(item)
            else:
                self.down += len(item)

    async def run(self) -> None:
        proxy = self.proxy
        with self.scope:
            try:
                self.server = await trio.open_tcp_stream(proxy.target_host, proxy.target_port)
            except OSError:
                self.cut()
                return
            if self.closed:  # cut while connecting
                _reset(self.server.socket)
                return
            try:
                async with trio.open_nursery() as nursery:
                    for direction in ("up", "down"):
                        send, receive = trio.open_memory_channel[_Item](math.inf)
                        nursery.start_soon(self._pump, direction, send)
                        nursery.start_soon(self._deliver, direction, receive)
            except* (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
                pass
        if not self.closed:
            self.closed = True
            await trio.aclose_forcefully(self.client)
            if self.server is not None:
                await trio.aclose_forcefully(self.server)


class FaultProxy:
    """Listens on 127.0.0.1 (``port`` once serving) and forwards to the target."""

    def __init__(
        self,
        target_port: int,
        target_host: str = "127.0.0.1",
        *,
        delay: float = 0.0,
        connect_rtt: bool = True,
    ) -> None:
        self.target_host = target_host
        self.target_port = target_port
        self.delay = delay
        self.connect_rtt = connect_rtt
        self.stalled = False
        self.refuse = False
        self.port = 0
        self.links: list[Link] = []  # open ones
        self.opened = 0  # connections accepted so far (refused ones included)
        self._triggers: list[Trigger] = []

    async def serve(self, *, task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED) -> None:
        """Listen; report the port via ``task_status``; serve until cancelled."""
        listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
        self.port = listeners[0].socket.getsockname()[1]
        async with trio.open_nursery() as nursery:
            await nursery.start(trio.serve_listeners, self._handle, listeners)
            task_status.started(self.port)

    async def _handle(self, client: trio.SocketStream) -> None:
        self.opened += 1
        if self.refuse:
            _reset(client.socket)
            await trio.lowlevel.checkpoint()
            return
        link = Link(self, client, self.opened)
        self.links.append(link)
        try:
            await link.run()
        finally:
            self.links.remove(link)

    def arm(self, direction: Direction, after: int, action: Action) -> Trigger:
        """Fire ``action`` once ``after`` more bytes went ``direction`` (0: before the next)."""
        trigger = Trigger(direction, after, action)
        self._triggers.append(trigger)
        return trigger

    def disarm(self) -> None:
        self._triggers.clear()

    def cut_all(self) -> None:
        for link in list(self.links):
            link.cut()

    def half_close_all(self) -> None:
        for link in list(self.links):
            link.half_close()

    def bytes_down(self) -> int:
        """Bytes forwarded to clients so far over the open connections."""
        return sum(link.down for link in self.links)
