"""Observable: waiters and subscribers see every change, and only changes."""

from __future__ import annotations

import trio
import trio.testing

from herald.observable import Observable


def test_subscribers_are_called_on_each_change_until_they_end_it() -> None:
    value = Observable(1)
    calls: list[int] = []
    end = value.subscribe(lambda: calls.append(value.value))
    value.set(2)
    value.set(2)  # the same value is not a change
    value.set(3)
    end()
    value.set(4)
    assert calls == [2, 3]


async def test_one_event_wakes_a_task_for_any_of_many_values() -> None:
    a, b = Observable("a"), Observable(0)
    woken = trio.Event()
    for observable in (a, b):
        observable.subscribe(woken.set)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(woken.wait)
        await trio.testing.wait_all_tasks_blocked()
        b.set(1)
    assert woken.is_set()
