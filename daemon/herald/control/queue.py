"""What to speak next: priority, order, ttl and stop — plain synchronous logic."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Generic, TypeVar

T = TypeVar("T")


@dataclass(order=True)
class Queued(Generic[T]):
    """An utterance waiting its turn; ordered by (rank, seq)."""

    rank: int  # 0 for high priority, 1 for normal
    seq: int
    id: str = field(compare=False)
    deadline: float = field(compare=False)  # trio time after which it is dropped
    item: T = field(compare=False)


class SpeakQueue(Generic[T]):
    """High priority goes before queued normal ones; within a priority, first come first
    served. The queue is short (a handful of announcements), so a sorted list is
    simpler and faster than a heap with lazy deletion."""

    def __init__(self) -> None:
        self._items: list[Queued[T]] = []
        self._seq = itertools.count()

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[Queued[T]]:
        return iter(self._items)

    def push(
        self, id: str, item: T, *, high: bool, deadline: float, front: bool = False
    ) -> Queued[T]:
        """Queue ``item``; ``front`` puts it before everything (an interrupt)."""
        rank = -1 if front else (0 if high else 1)
        entry = Queued(rank, next(self._seq), id, deadline, item)
        self._items.append(entry)
        self._items.sort()
        return entry

    def pop(self) -> Queued[T] | None:
        return self._items.pop(0) if self._items else None

    def expire(self, now: float) -> list[Queued[T]]:
        """Remove and return the entries whose deadline has passed."""
        expired = [e for e in self._items if e.deadline <= now]
        if expired:
            self._items = [e for e in self._items if e.deadline > now]
        return expired

    def next_deadline(self) -> float | None:
        return min((e.deadline for e in self._items), default=None)

    def remove(self, id: str) -> list[Queued[T]]:
        removed = [e for e in self._items if e.id == id]
        if removed:
            self._items = [e for e in self._items if e.id != id]
        return removed

    def remove_where(self, predicate: Callable[[T], bool]) -> list[Queued[T]]:
        removed = [e for e in self._items if predicate(e.item)]
        if removed:
            self._items = [e for e in self._items if not predicate(e.item)]
        return removed

    def clear(self) -> list[Queued[T]]:
        removed, self._items = self._items, []
        return removed

    def has(self, id: str) -> bool:
        return any(e.id == id for e in self._items)
