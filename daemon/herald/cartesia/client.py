"""The persistent Cartesia connection: one socket for the daemon's whole life.

One reader task routes frames by ``context_id`` to the utterance that owns the
context; frames for contexts nobody owns (cancelled, finished, never ours) are
dropped, so a stale ``done`` can never end the next utterance. A heartbeat ping
notices a dead socket within ``ping_interval + ping_timeout`` seconds. The socket
is reopened with capped exponential backoff after errors *and* after clean
closes, since Cartesia closes idle sockets with 1000 after five minutes.
"""

from __future__ import annotations

import contextlib
import enum
import logging
import random
import uuid
from dataclasses import dataclass
from typing import TypeVar, cast

import trio

from herald.backoff import Backoff
from herald.cartesia.context import Context
from herald.cartesia.errors import CloudOffline, ConnectionLost, KeyRejected, error_from_body
from herald.cartesia.protocol import Failed, MalformedFrame, parse_frame
from herald.cartesia.transport import (
    HandshakeRejected,
    TransportClosed,
    TransportError,
    WsConnection,
    WsConnector,
)
from herald.observable import Observable
from herald.voice import VoiceParams

log = logging.getLogger("herald.cartesia")


class CloudState(enum.StrEnum):
    CONNECTING = "connecting"
    ONLINE = "online"
    OFFLINE = "offline"  # unreachable, or refusing for now (402, 429): retried
    # Refused in a way no retry can fix (a rejected key, a handshake 4xx): nothing is
    # retried until the config changes (SIGHUP builds a new client).
    ERROR = "error"


@dataclass(frozen=True, slots=True)
class CloudStatus:
    state: CloudState
    reason: str = ""

    @property
    def online(self) -> bool:
        return self.state is CloudState.ONLINE

    @property
    def down(self) -> bool:
        """No socket to speak on, and none on its way (offline, or refused for good)."""
        return self.state in (CloudState.OFFLINE, CloudState.ERROR)


@dataclass(frozen=True, slots=True)
class Tuning:
    ping_interval: float = 2.0
    ping_timeout: float = 2.5  # dead socket noticed within 4.5 s
    backoff_initial: float = 0.5
    backoff_cap: float = 30.0
    # 402 and 429 are about the account, not the network: retry, but slowly.
    slow_backoff_initial: float = 15.0
    slow_backoff_cap: float = 300.0
    # A connection that lived this long was healthy: its end resets the backoff.
    stable_after: float = 10.0
    # How long a new utterance waits for a socket that is being (re)opened.
    connect_grace: float = 2.0
    first_push_words: int = 4
    queue_limit: int = 8192


@dataclass(frozen=True, slots=True)
class _Ending:
    kind: str  # "closed", "dead", "rejected", "error"
    detail: str
    lived: float
    clean: bool = False
    status: int | None = None
    retry_after: float | None = None
    body: bytes = b""


class CartesiaClient:
    """Holds the socket; ``run`` is the service, ``open_context`` the API."""

    def __init__(
        self,
        connector: WsConnector | None,
        *,
        tuning: Tuning | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self._connector = connector
        self.tuning = tuning or Tuning()
        rng = rng or random.Random()
        t = self.tuning
        self._backoff = Backoff(t.backoff_initial, t.backoff_cap, rng=rng)
        self._slow_backoff = Backoff(t.slow_backoff_initial, t.slow_backoff_cap, rng=rng)
        self.status: Observable[CloudStatus] = Observable(
            CloudStatus(CloudState.OFFLINE, "not started")
        )
        self._conn: WsConnection | None = None
        self._contexts: dict[str, Context] = {}
        self._closing = trio.Event()
        self._retry_now = trio.Event()
        self.connections = 0  # sockets opened so far, for state and tests

    # --- service ---------------------------------------------------------

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Keep a socket open until cancelled or ``aclose`` is called."""
        if self._connector is None:
            self._set(CloudState.OFFLINE, "no Cartesia API key configured")
            task_status.started()
            await _idle_forever()
            return
        self._set(CloudState.CONNECTING, "starting")
        task_status.started()
        while not self._closing.is_set():
            ending = await self._session()
            if self._closing.is_set():
                break
            delay = self._after(ending)
            if delay is None:
                await self._retry_now.wait()
                self._retry_now = trio.Event()
                continue
            if delay > 0:
                await trio.sleep(delay)
            # A failed attempt during an outage stays "offline": a say arriving now
            # should fall back at once, not wait on a connect that may hang.
            if self.status.value.state is not CloudState.OFFLINE:
                self._set(CloudState.CONNECTING, "reconnecting")
        self._set(CloudState.OFFLINE, "shut down")

    async def aclose(self) -> None:
        """Close the socket cleanly (code 1000); ``run`` then returns."""
        self._closing.set()
        self._retry_now.set()
        conn = self._conn
        if conn is not None:
            with trio.move_on_after(1.0):
                await conn.close()

    def retry_now(self) -> None:
        """Try again at once (after a 401, once the key has been fixed)."""
        self._retry_now.set()

    async def _session(self) -> _Ending:
        assert self._connector is not None
        started: float | None = None
        dead: list[str] = []

        def lived() -> float:
            return 0.0 if started is None else trio.current_time() - started

        ending: _Ending | None = None
        try:
            with trio.CancelScope() as scope:
                async with self._connector.connect() as conn:
                    started = trio.current_time()
                    self.connections += 1
                    await self._replay(conn)
                    self._conn = conn
                    self._set(CloudState.ONLINE)
                    log.info("cartesia connected (socket %d)", self.connections)
                    async with trio.open_nursery() as nursery:
                        nursery.start_soon(self._heartbeat, conn, scope, dead)
                        await self._read(conn)
        except* TransportClosed as group:
            closed = _first(group, TransportClosed)
            detail = f"closed {closed.code} {closed.reason or ''}".strip()
            ending = _Ending("closed", detail, lived(), clean=closed.code in (1000, 1001))
        except* HandshakeRejected as group:
            rej = _first(group, HandshakeRejected)
            ending = _Ending(
                "rejected",
                str(rej),
                lived(),
                status=rej.status_code,
                retry_after=rej.retry_after,
                body=rej.body,
            )
        except* TransportError as group:
            ending = _Ending("error", str(_first(group, TransportError)), lived())
        finally:
            self._conn = None
        if ending is not None:
            return ending
        return _Ending("dead", dead[0] if dead else "socket abandoned", lived())

    async def _replay(self, conn: WsConnection) -> None:
        for context in list(self._contexts.values()):
            if context.awaiting_replay:
                for message in context.take_replay():
                    await conn.send(message)

    async def _read(self, conn: WsConnection) -> None:
        while True:
            raw = await conn.receive()
            try:
                frame = parse_frame(raw)
            except MalformedFrame as exc:
                log.warning("%s", exc)
                continue
            except Exception:  # a frame must cost itself, never the connection or herald
                log.exception("cartesia: a frame that could not be read was dropped")
                continue
            context = self._contexts.get(frame.context_id) if frame.context_id else None
            if context is not None:
                context.deliver(frame.event)
            elif isinstance(frame.event, Failed) and frame.context_id is None:
                log.warning("cartesia error without a context: %s", frame.event.error)

    async def _heartbeat(
        self, conn: WsConnection, scope: trio.CancelScope, dead: list[str]
    ) -> None:
        t = self.tuning
        while True:
            await trio.sleep(t.ping_interval)
            with trio.move_on_after(t.ping_timeout) as ping:
                try:
                    await conn.ping()
                except TransportClosed:
                    return  # the reader sees the close too and reports it
            if ping.cancelled_caught:
                dead.append(f"no pong within {t.ping_timeout:g} s")
                # Fail in-flight utterances now, before the slow socket teardown,
                # so their fallback starts at once.
                self._drop_contexts(ConnectionLost(dead[0]), replay=False)
                self._set(CloudState.OFFLINE, dead[0])
                scope.cancel()
                return

    def _after(self, ending: _Ending) -> float | None:
        """Decide what follows a session; None means wait for ``retry_now``."""
        t = self.tuning
        healthy = ending.lived >= t.stable_after
        if healthy:
            self._backoff.reset()
            self._slow_backoff.reset()
        if ending.kind == "rejected" and ending.status is not None:
            status = ending.status
            error = error_from_body(status, ending.body)
            self._drop_contexts(error, replay=False)
            if isinstance(error, KeyRejected):
                reason = (
                    "Cartesia rejected the API key (401); fix cartesia.api_key_file "
                    "(or the cartesia_api_key credential) and reload"
                )
                log.error("%s", reason)
                self._set(CloudState.ERROR, reason)
                return None
            if 400 <= status < 500 and status not in (402, 408, 429):
                # The version, the URL or the account: the same handshake would get the
                # same answer, so nothing is retried until the config changes.
                reason = f"Cartesia refused the connection ({error}); check the [cartesia] section"
                log.error("%s", reason)
                self._set(CloudState.ERROR, reason)
                return None
            if status in (402, 429):
                delay = self._slow_backoff.next_delay()
                if ending.retry_after is not None:
                    delay = max(delay, ending.retry_after)
                what = "out of credits (402)" if status == 402 else "rate limited (429)"
                reason = f"Cartesia says {what}; retrying in {delay:.0f} s"
                log.warning("%s", reason)
                self._set(CloudState.OFFLINE, reason)
                return delay
        if ending.kind == "closed" and ending.clean and healthy:
            # The idle close after five quiet minutes: reopen at once, and let an
            # utterance that raced the close be replayed on the new socket.
            log.info("cartesia socket %s; reopening", ending.detail)
            self._drop_contexts(ConnectionLost(ending.detail), replay=True)
            self._set(CloudState.CONNECTING, "reopening after " + ending.detail)
            return 0.0
        delay = self._backoff.next_delay()
        reason = f"{ending.detail}; retrying in {delay:.1f} s"
        log.warning("cartesia %s", reason)
        self._drop_contexts(ConnectionLost(ending.detail), replay=False)
        self._set(CloudState.OFFLINE, reason)
        return delay

    def _drop_contexts(self, error: Exception, *, replay: bool) -> None:
        for context in list(self._contexts.values()):
            if replay and context.replayable:
                context.awaiting_replay = True
            else:
                context.fail(
                    error if isinstance(error, ConnectionLost) else ConnectionLost(str(error))
                )

    def _set(self, state: CloudState, reason: str = "") -> None:
        old = self.status.value
        self.status.set(CloudStatus(state, reason))
        if old.state is not state:
            log.info("cloud %s%s", state.value, f" ({reason})" if reason else "")

    # --- context API -----------------------------------------------------

    async def open_context(self, params: VoiceParams, *, context_id: str | None = None) -> Context:
        """A new context on the socket. Raises CloudOffline when there is none."""
        if self.status.value.state is CloudState.CONNECTING:
            with trio.move_on_after(self.tuning.connect_grace):
                await self.status.wait_until(lambda s: s.state is not CloudState.CONNECTING)
        status = self.status.value
        if self._conn is None or not status.online:
            raise CloudOffline(status.reason or status.state.value)
        context = Context(
            self,
            context_id or str(uuid.uuid4()),
            params,
            first_push_words=self.tuning.first_push_words,
            queue_limit=self.tuning.queue_limit,
        )
        self._contexts[context.context_id] = context
        return context

    async def send_for(self, context: Context | None, message: bytes) -> None:
        """Send for an utterance (or a cancel, with None), never raising on a closed socket."""
        conn = self._conn
        if conn is None:
            if context is not None:
                context.fail(ConnectionLost("no socket"))
            return
        # On a close the reader sees it too, and the session's end decides whether
        # the utterance is replayed or failed.
        with contextlib.suppress(TransportClosed):
            await conn.send(message)

    def forget(self, context: Context) -> None:
        if self._contexts.get(context.context_id) is context:
            del self._contexts[context.context_id]

    @property
    def active_contexts(self) -> int:
        return len(self._contexts)


_E = TypeVar("_E", bound=BaseException)


def _first(group: BaseExceptionGroup[_E], kind: type[_E]) -> _E:
    # A nursery wraps even a single error in a group; the first leaf is the cause.
    for exc in group.exceptions:
        if isinstance(exc, BaseExceptionGroup):
            return _first(cast(BaseExceptionGroup[_E], exc), kind)
        if isinstance(exc, kind):
            return exc
    raise group  # pragma: no cover


async def _idle_forever() -> None:
    # Without a key there is nothing to connect; the service just stays offline.
    await trio.sleep_forever()
