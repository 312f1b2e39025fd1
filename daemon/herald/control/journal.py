"""herald's own queue of says, on disk: so that a say can be acknowledged to the broker
as soon as it is queued, and still survive a crash.

Why: a QoS 1 say used to be acknowledged only once it had been spoken, so the broker
held every later message (a `stop` too) behind the ones in flight: with 500 says
queued, a stop waited half a minute. Now the router writes each accepted say here,
and acknowledges it to the broker once it is on disk; the broker then delivers what
follows at once. A say leaves the journal when it has ended (finished, interrupted,
dropped, failed). At start, what is still in it is queued again, its ttl counted from
when it first arrived.

A say that was playing when herald died is counted: one that was playing at two
unclean ends in a row is not tried a third time. It is answered `failed` ("it stopped
herald twice"), so one poison message cannot keep herald in a crash loop. A clean stop
(SIGTERM, SIGHUP) does not count.

The file is JSON lines, appended in batches by one writer task (fsync per batch, in a
worker thread, so a burst of says costs a few syncs, not one each), and rewritten
(compacted) at start and when it has grown past `COMPACT_BYTES`. Bounded: at most
`MAX_PENDING` entries (the speaker's queue is capped below that), and entries of
recently ended says are kept only as hashes, to recognise a broker's redelivery of a
message whose acknowledgement was lost in the crash.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import trio

from herald.atomic import atomic_write, read_small_file
from herald.control.hurry import Hurry

__all__ = ["MAX_PENDING", "Journal", "Replay"]

log = logging.getLogger("herald.journal")

MAX_PENDING = 512  # entries; the speaker's queue holds fewer, the rest is headroom
MAX_FILE_BYTES = 64 * 1024 * 1024  # a journal larger than this is not herald's
COMPACT_BYTES = 1024 * 1024  # appended past this: rewritten with only what is pending
RECENT_HASHES = 1024  # ended messages remembered, to spot a redelivery
POISON_STARTS = 2  # unclean ends while playing before a say is given up


def message_hash(topic: str, payload: bytes) -> str:
    return hashlib.sha256(topic.encode() + b"\0" + payload).hexdigest()[:32]


@dataclass(frozen=True, slots=True)
class Replay:
    """A say still in the journal at start: to queue again (or answer, if poison)."""

    entry: str
    topic: str
    payload: bytes
    arrived_wall: float  # epoch seconds when it first arrived
    starts: int  # unclean ends it was playing at

    @property
    def poison(self) -> bool:
        return self.starts >= POISON_STARTS


@dataclass
class _Pending:
    hash: str
    starts: int = 0
    line: bytes = b""  # its "add" record, for compaction


@dataclass
class _Batch:
    lines: list[bytes] = field(default_factory=list)
    after: list[Callable[[], None]] = field(default_factory=list)


class Journal:
    def __init__(
        self,
        path: Path | None,
        *,
        wall_clock: Callable[[], float] = time.time,
        hurry: Hurry | None = None,
    ) -> None:
        self._path = path
        self._wall = wall_clock
        self._hurry = hurry
        self._pending: dict[str, _Pending] = {}
        self._recent: OrderedDict[str, None] = OrderedDict()
        self._batch = _Batch()
        self._wake = trio.Event()
        self._written = 0  # bytes appended since the last compaction
        self._usable = path is not None
        self.replays: list[Replay] = []

    @property
    def enabled(self) -> bool:
        return self._usable

    def __len__(self) -> int:
        return len(self._pending)

    # --- start ---

    def load(self) -> list[Replay]:
        """Read the journal (sync: in a worker thread at start) and rewrite it with only
        what is pending. Counts an unclean end for the says that were playing."""
        if self._path is None:
            return []
        try:
            data = read_small_file(self._path, MAX_FILE_BYTES)
        except FileNotFoundError:
            data = b""
        except OSError as exc:
            log.error("queue journal %s unreadable (%s): starting empty", self._path, exc)
            data = b""
        adds: dict[str, dict[str, Any]] = {}
        starts: dict[str, int] = {}
        playing: str | None = None
        for raw in data.splitlines():
            record = _record(raw)
            if record is None:
                continue  # a torn last line (a crash mid-append), or garbage
            op, entry = record.get("op"), record.get("id")
            if op == "add" and isinstance(entry, str):
                adds[entry] = record
            elif op == "start" and isinstance(entry, str):
                playing = entry
            elif op == "halt":
                playing = None  # stopped cleanly: that start does not count
            elif op == "end" and isinstance(entry, str):
                if entry in adds:
                    self._remember(str(adds.pop(entry).get("h", "")))
                starts.pop(entry, None)
                if playing == entry:
                    playing = None
            elif op == "seen" and isinstance(record.get("h"), str):
                self._remember(record["h"])
            elif op == "crashed" and isinstance(entry, str):
                starts[entry] = starts.get(entry, 0) + 1
        if playing is not None and playing in adds:
            starts[playing] = starts.get(playing, 0) + 1  # it was playing when herald died
        replays = []
        for entry, record in list(adds.items())[-MAX_PENDING:]:
            try:
                payload = base64.b64decode(str(record["p"]), validate=True)
                replays.append(
                    Replay(
                        entry,
                        str(record["t"]),
                        payload,
                        float(record["at"]),
                        starts.get(entry, 0),
                    )
                )
            except (KeyError, ValueError, TypeError):
                continue
        for replay in replays:
            record = _add_record(replay.entry, replay.topic, replay.payload, replay.arrived_wall)
            line = _line(record)
            self._pending[replay.entry] = _Pending(
                message_hash(replay.topic, replay.payload), replay.starts, line
            )
        self._compact()
        self.replays = replays
        return replays

    # --- while running (synchronous, never blocking: the writer task persists) ---

    def redelivered(self, topic: str, payload: bytes) -> bool:
        """Whether a message the broker redelivers (DUP) is one the journal already
        has or had: its acknowledgement was lost in a crash."""
        digest = message_hash(topic, payload)
        return digest in self._recent or any(p.hash == digest for p in self._pending.values())

    def add(self, topic: str, payload: bytes, on_persisted: Callable[[], None]) -> str | None:
        """Record an accepted say; ``on_persisted`` runs once it is on disk (then the
        broker may forget it). None (and ``on_persisted`` not run) when the journal is
        off or full: the caller keeps the message unacknowledged instead."""
        if not self._usable or len(self._pending) >= MAX_PENDING:
            return None
        entry = uuid.uuid4().hex[:16]
        line = _line(_add_record(entry, topic, payload, self._wall()))
        self._pending[entry] = _Pending(message_hash(topic, payload), 0, line)
        self._append(line, on_persisted)
        return entry

    def started(self, entry: str) -> None:
        if entry in self._pending:
            self._append(_line({"op": "start", "id": entry}))

    def ended(self, entry: str) -> None:
        pending = self._pending.pop(entry, None)
        if pending is not None:
            self._remember(pending.hash)
            self._append(_line({"op": "end", "id": entry}))

    def halted(self) -> None:
        """A clean stop: the say playing now does not count as a crash."""
        self._append(_line({"op": "halt"}))

    def _remember(self, digest: str) -> None:
        if digest:
            self._recent[digest] = None
            while len(self._recent) > RECENT_HASHES:
                self._recent.popitem(last=False)

    def _append(self, line: bytes, after: Callable[[], None] | None = None) -> None:
        self._batch.lines.append(line)
        if after is not None:
            self._batch.after.append(after)
        self._wake.set()

    # --- the writer ---

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        task_status.started()
        while True:
            await self._wake.wait()
            # A say on its way to its first sound first: its fsync can come after its
            # request (its acknowledgement waits for the fsync, the listener does not).
            if self._hurry is not None:
                await self._hurry.wait_clear()
            self._wake = trio.Event()
            await self.flush()

    async def flush(self) -> None:
        """Write what is waiting, then run the acknowledgements it held back."""
        batch, self._batch = self._batch, _Batch()
        if not batch.lines and not batch.after:
            return
        if self._usable:
            ok = await trio.to_thread.run_sync(self._write, batch.lines)
            if not ok:
                self._usable = False
        for after in batch.after:
            after()
        if self._written > COMPACT_BYTES:
            await trio.to_thread.run_sync(self._compact)

    def _write(self, lines: Sequence[bytes]) -> bool:
        assert self._path is not None
        data = b"".join(lines)
        try:
            fd = os.open(self._path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
            try:
                os.write(fd, data)
                os.fsync(fd)
            finally:
                os.close(fd)
        except OSError as exc:
            log.error(
                "queue journal %s cannot be written (%s): says are acknowledged only "
                "once spoken from now on",
                self._path,
                exc.strerror or exc,
            )
            return False
        self._written += len(data)
        return True

    def _compact(self) -> None:
        if self._path is None:
            return
        lines = [p.line for p in self._pending.values()]
        lines += [
            _line({"op": "crashed", "id": entry})
            for entry, pending in self._pending.items()
            for _ in range(pending.starts)
        ]
        lines += [_line({"op": "seen", "h": h}) for h in self._recent]
        try:
            self._path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write(self._path, b"".join(lines))
        except OSError as exc:
            log.error("queue journal %s cannot be rewritten: %s", self._path, exc.strerror or exc)
            self._usable = False
            return
        self._written = 0


def _add_record(entry: str, topic: str, payload: bytes, arrived: float) -> dict[str, Any]:
    return {
        "op": "add",
        "id": entry,
        "t": topic,
        "p": base64.b64encode(payload).decode(),
        "at": round(arrived, 3),
        "h": message_hash(topic, payload),
    }


def _line(record: dict[str, Any]) -> bytes:
    return json.dumps(record, separators=(",", ":")).encode() + b"\n"


def _record(raw: bytes) -> dict[str, Any] | None:
    try:
        record = json.loads(raw)
    except (ValueError, RecursionError):
        return None
    return record if isinstance(record, dict) else None
