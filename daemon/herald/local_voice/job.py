"""One blocking call of the local voice (a load or a sentence) in a trio worker thread.

Imports trio only, like `herald.local_voice.piper`, whose `PiperVoice` is its one user.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

import trio

__all__ = ["Job"]

T = TypeVar("T")


class Job(Generic[T]):
    """One blocking call in a trio worker thread, owned by no task.

    An async iterator cannot keep a nursery open across its yields (PEP 789), yet
    the voice must synthesize the next sentence while its consumer plays the last
    one, and a load must finish even when the task that asked for it is cancelled.
    So the call runs on trio's thread cache (`trio.lowlevel.start_thread_soon`, what
    `trio.to_thread.run_sync` is built on), holding its limiters' tokens on its own
    behalf, and comes back only through `TrioToken.run_sync_soon` with a callback
    that cannot raise. Any number of tasks may wait on `done`; cancelling them
    leaves the thread to finish its one call, whose result is then dropped.
    """

    def __init__(self, fn: Callable[[], T], on_done: Callable[[Job[T]], None]) -> None:
        self._fn = fn
        self._on_done = on_done  # runs in trio's thread; must not raise
        self.done = trio.Event()
        self.value: T | None = None
        self.error: BaseException | None = None

    async def start(self, limiters: Sequence[trio.CapacityLimiter]) -> None:
        """Wait for a token of every limiter, then start the thread."""
        held: list[trio.CapacityLimiter] = []
        try:
            for limiter in limiters:
                await limiter.acquire_on_behalf_of(self)
                held.append(limiter)
        except BaseException:
            for limiter in held:
                limiter.release_on_behalf_of(self)
            raise
        self._launch(held)

    def start_nowait(self, limiters: Sequence[trio.CapacityLimiter]) -> bool:
        """Start the thread if every limiter has a token free; False if one has not."""
        held: list[trio.CapacityLimiter] = []
        for limiter in limiters:
            try:
                limiter.acquire_on_behalf_of_nowait(self)
            except trio.WouldBlock:
                for taken in held:
                    taken.release_on_behalf_of(self)
                return False
            held.append(limiter)
        self._launch(held)
        return True

    def _launch(self, held: list[trio.CapacityLimiter]) -> None:
        token = trio.lowlevel.current_trio_token()

        def work() -> None:  # worker thread
            try:
                self.value = self._fn()
            except BaseException as exc:  # reported to the waiters, in trio
                self.error = exc

        def finish() -> None:  # trio thread
            for limiter in held:
                limiter.release_on_behalf_of(self)
            self._on_done(self)
            self.done.set()

        def deliver(_: object) -> None:  # worker thread, after work()
            # After trio.run has returned nobody is waiting: drop the result.
            with contextlib.suppress(trio.RunFinishedError):
                token.run_sync_soon(finish)

        trio.lowlevel.start_thread_soon(work, deliver, name="herald local voice")
