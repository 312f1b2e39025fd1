"""A say on its way to its first sound goes first; herald's bookkeeping waits for it.

Why: from a say's arrival to its request on Cartesia's socket, every task that became
runnable with it runs at each of that path's schedule points (a lock in the WebSocket,
the TLS layer, the socket): the say's `queued` event and the state on their way to
the broker, the queue journal's write and fsync. Nobody waits for those; a listener
waits for the say. On a small CPU each costs about a millisecond, on the system test's
emulated VM they were 4 ms of the 17 from a say's arrival to its request.

So the speaker `hold`s while a say is on that path: from its arrival (or its turn, for
one that was queued) until its first request is out or its first audio is fed, and the
publisher's and the journal's loops `wait_clear` before each piece of work. A hold is
honoured for `BOUND_S` from when it began, not per wait: a say whose request cannot go
out (the cloud down, its local voice loading) delays the bookkeeping by that much once,
never a burst of events by that much each.
"""

from __future__ import annotations

from collections.abc import Callable

import trio

__all__ = ["BOUND_S", "Hurry"]

BOUND_S = 0.25  # the longest a hold makes the bookkeeping wait


class Hurry:
    def __init__(self) -> None:
        self._holds = 0
        self._until = 0.0  # when the holds stop being honoured
        self._clear = trio.Event()
        self._clear.set()

    @property
    def held(self) -> bool:
        return self._holds > 0

    def hold(self) -> Callable[[], None]:
        """Hold until the function returned is called (once; again does nothing)."""
        if self._holds == 0:
            self._clear = trio.Event()
            self._until = trio.current_time() + BOUND_S
        self._holds += 1
        released = False

        def release() -> None:
            nonlocal released
            if released:
                return
            released = True
            self._holds -= 1
            if self._holds == 0:
                self._clear.set()

        return release

    async def wait_clear(self) -> None:
        """Return once no say is on its way (at once, with no checkpoint, if none is),
        or once the holds began BOUND_S ago."""
        if self._holds == 0 or trio.current_time() >= self._until:
            return
        with trio.move_on_at(self._until):
            await self._clear.wait()
