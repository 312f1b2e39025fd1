"""The speaking queue's policy, tested directly (no trio, no I/O)."""

from __future__ import annotations

from herald.control.queue import SpeakQueue


def ids(q: SpeakQueue[str]) -> list[str]:
    return [e.id for e in q]


def test_high_goes_before_queued_normal_ones_fifo_within_a_priority() -> None:
    q: SpeakQueue[str] = SpeakQueue()
    q.push("n1", "x", high=False, deadline=60)
    q.push("n2", "x", high=False, deadline=60)
    q.push("h1", "x", high=True, deadline=60)
    q.push("n3", "x", high=False, deadline=60)
    q.push("h2", "x", high=True, deadline=60)
    assert ids(q) == ["h1", "h2", "n1", "n2", "n3"]
    popped = q.pop()
    assert popped is not None and popped.id == "h1"


def test_an_interrupt_goes_first_even_before_high() -> None:
    q: SpeakQueue[str] = SpeakQueue()
    q.push("h1", "x", high=True, deadline=60)
    q.push("i1", "x", high=False, deadline=60, front=True)
    q.push("i2", "x", high=False, deadline=60, front=True)
    assert ids(q) == ["i1", "i2", "h1"]


def test_expire_removes_only_past_deadlines() -> None:
    q: SpeakQueue[str] = SpeakQueue()
    q.push("a", "x", high=False, deadline=10)
    q.push("b", "x", high=False, deadline=5)
    q.push("c", "x", high=False, deadline=20)
    assert q.next_deadline() == 5
    assert [e.id for e in q.expire(9.9)] == ["b"]
    assert ids(q) == ["a", "c"]
    assert [e.id for e in q.expire(20)] == ["a", "c"]
    assert len(q) == 0
    assert q.next_deadline() is None


def test_remove_and_clear() -> None:
    q: SpeakQueue[str] = SpeakQueue()
    for name in "abc":
        q.push(name, "x", high=False, deadline=60)
    assert [e.id for e in q.remove("b")] == ["b"]
    assert q.remove("zz") == []
    assert not q.has("b") and q.has("a")
    assert [e.id for e in q.clear()] == ["a", "c"]
    assert q.pop() is None
