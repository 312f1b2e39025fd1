"""A value that tasks can watch for changes (like trio-util's AsyncValue)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Generic, TypeVar

import trio

T = TypeVar("T")


class Observable(Generic[T]):
    """Holds a value; ``wait_change`` wakes every waiter when it changes, and every
    `subscribe` callback is called."""

    def __init__(self, value: T) -> None:
        self._value = value
        self._changed = trio.Event()
        self._listeners: list[Callable[[], None]] = []

    @property
    def value(self) -> T:
        return self._value

    def set(self, value: T) -> None:
        if value == self._value:
            return
        self._value = value
        self._changed.set()
        self._changed = trio.Event()
        for listener in self._listeners:
            listener()

    def subscribe(self, listener: Callable[[], None]) -> Callable[[], None]:
        """Call ``listener`` on every change, from `set` (so it must not block); returns
        what ends that. One task can watch many values with one Event this way, where
        waiting on each with `wait_change` takes a task per value, spawned and
        cancelled again on every change."""
        self._listeners.append(listener)
        return functools.partial(self._listeners.remove, listener)

    async def wait_change(self) -> T:
        """Wait for the next change and return the new value."""
        await self._changed.wait()
        return self._value

    async def wait_until(self, predicate: Callable[[T], bool]) -> T:
        """Return the value once ``predicate`` holds for it (at once if it already does)."""
        while not predicate(self._value):
            await self._changed.wait()
        return self._value
