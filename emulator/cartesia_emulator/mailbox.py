"""A FIFO whose producers never block unless they ask to."""

from __future__ import annotations

from collections import deque
from typing import Generic, TypeVar

import trio

T = TypeVar("T")


class Mailbox(Generic[T]):
    """Unbounded for ``put_nowait``, bounded for ``put``.

    The WebSocket reader must never wait behind audio generation: a client that
    pushes all its text before reading (the PY4 sync quickstart) would otherwise
    deadlock with the server once socket buffers fill. So the reader posts with
    ``put_nowait``; generators, which may wait, use ``put`` and get backpressure.
    """

    def __init__(self, high_water: int = 16) -> None:
        self._items: deque[T] = deque()
        self._lot = trio.lowlevel.ParkingLot()
        self._high_water = high_water

    def __len__(self) -> int:
        return len(self._items)

    def put_nowait(self, item: T) -> None:
        self._items.append(item)
        self._lot.unpark_all()

    async def put(self, item: T) -> None:
        await trio.lowlevel.checkpoint_if_cancelled()
        while len(self._items) >= self._high_water:
            await self._lot.park()
        self.put_nowait(item)

    async def get(self) -> T:
        await trio.lowlevel.checkpoint_if_cancelled()
        while not self._items:
            await self._lot.park()
        item = self._items.popleft()
        self._lot.unpark_all()  # a bounded put may be waiting for room
        return item

    def clear(self) -> None:
        self._items.clear()
        self._lot.unpark_all()
