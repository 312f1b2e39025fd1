"""One Cartesia context on the shared socket: one say, or one leg of a failed-over say."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from types import TracebackType
from typing import Protocol

import trio

from herald.cartesia.errors import CartesiaError
from herald.cartesia.protocol import (
    Audio,
    Done,
    Event,
    Failed,
    Ignored,
    Words,
    cancel_request,
    generation_request,
)
from herald.text import ready_for_first_push
from herald.voice import VoiceParams

log = logging.getLogger("herald.cartesia")


class _Owner(Protocol):
    """What a context needs of the client that holds the socket (`CartesiaClient`)."""

    async def send_for(self, context: Context | None, message: bytes) -> None: ...

    def forget(self, context: Context) -> None: ...


_BYTES_PER_FRAME = {"pcm_s16le": 2, "pcm_f32le": 4, "pcm_mulaw": 1, "pcm_alaw": 1}


class Context:
    """Push text in, iterate audio and word timestamps out.

    Use as ``async with await client.open_context(params) as context``: leaving the
    block before ``done`` cancels the context, and whatever the server still sends
    for it is dropped by the client's router.
    """

    def __init__(
        self,
        client: _Owner,
        context_id: str,
        params: VoiceParams,
        *,
        first_push_words: int,
        queue_limit: int,
    ) -> None:
        self.context_id = context_id
        self.params = params
        self._client = client
        self._first_push_words = first_push_words
        self._send_events, self._events = trio.open_memory_channel[Event](queue_limit)
        self._pending = ""  # text held back until the first push is long enough
        self._opened = False  # a generation request has gone out
        self._input_closed = False
        self._ended = False  # done, failed or cancelled: nothing more will come
        self._error: CartesiaError | None = None
        # Requests are kept until the first audio arrives, so that a socket that
        # closes before any audio (the 5-minute idle close racing a new say) can be
        # replayed on the next socket instead of failing the utterance.
        self._unanswered: list[bytes] | None = []
        self.awaiting_replay = False
        self._carry = b""
        self._frame_bytes = _BYTES_PER_FRAME.get(params.encoding, 1)

    # --- input -----------------------------------------------------------

    async def push(self, text: str) -> None:
        """Add text; it is concatenated verbatim, so callers supply spaces."""
        if self._input_closed:
            raise RuntimeError("push after finish")
        self._pending += text
        if not self._opened and not ready_for_first_push(self._pending, self._first_push_words):
            return
        if self._pending:
            await self._send_text(more=True)

    async def finish(self, text: str = "") -> None:
        """No more text after ``text``: the server completes the audio, then sends ``done``.

        The last text goes out with the close, in one message.
        """
        if self._input_closed:
            return
        self._pending += text
        if not self._opened and not self._pending.strip():
            # An empty first transcript is a 400 from Cartesia; never send one.
            raise ValueError("an utterance needs some text")
        self._input_closed = True
        await self._send_text(more=False)

    async def cancel(self) -> None:
        """Stop the context now; late frames for it are dropped."""
        if self._ended:
            return
        self._end()
        if self._opened:
            await self._client.send_for(None, cancel_request(self.context_id))

    async def _send_text(self, *, more: bool) -> None:
        message = generation_request(self.context_id, self.params, self._pending, more=more)
        self._pending = ""
        self._opened = True
        if self._unanswered is not None:
            self._unanswered.append(message)
        if self.awaiting_replay:
            return
        await self._client.send_for(self, message)

    @property
    def opened(self) -> bool:
        """A request has gone out: the context exists at the server (or awaits a replay)."""
        return self._opened

    @property
    def input_closed(self) -> bool:
        """`finish` was called: no more text will be sent."""
        return self._input_closed

    def take_replay(self) -> list[bytes]:
        """The requests to resend on a new socket (called by the client)."""
        self.awaiting_replay = False
        return list(self._unanswered or ())

    @property
    def replayable(self) -> bool:
        return self._unanswered is not None and not self._ended

    # --- output ----------------------------------------------------------

    def deliver(self, event: Event) -> None:
        """Called by the client's reader; never blocks."""
        if self._ended:
            return
        if isinstance(event, Audio):
            self._unanswered = None
        elif isinstance(event, Ignored):
            return
        try:
            self._send_events.send_nowait(event)
        except trio.WouldBlock:
            self.fail(CartesiaError(None, "audio arrived faster than it was consumed"))
            return
        except (trio.ClosedResourceError, trio.BrokenResourceError):
            return
        if isinstance(event, Done | Failed):
            self._end()

    def fail(self, error: CartesiaError) -> None:
        """End the utterance with ``error`` (connection lost, overflow)."""
        if self._ended:
            return
        self._error = error
        self._end()

    def _end(self) -> None:
        self._ended = True
        self._send_events.close()
        self._client.forget(self)

    async def receive(self) -> Audio | Words | None:
        """The next audio or timestamps; None once ``done``. Raises the context's error."""
        while True:
            try:
                event = await self._events.receive()
            except trio.EndOfChannel:
                # Closed after done (already returned) or by cancel: nothing more.
                if self._error is not None:
                    raise self._error from None
                return None
            if isinstance(event, Done):
                self._error = None
                self._flush_carry_check()
                return None
            if isinstance(event, Failed):
                raise event.error
            if isinstance(event, Audio):
                audio = self._align(event.data)
                if not audio:
                    continue
                return audio
            if isinstance(event, Words):
                return event

    def _align(self, data: bytes) -> Audio | None:
        # Never hand on half a sample: keep the odd bytes for the next chunk.
        if self._carry:
            data = self._carry + data
            self._carry = b""
        cut = len(data) - len(data) % self._frame_bytes
        if cut != len(data):
            self._carry = data[cut:]
            data = data[:cut]
        return Audio(data) if data else None

    def _flush_carry_check(self) -> None:
        if self._carry:
            log.warning(
                "context %s ended with %d stray bytes (half a sample)",
                self.context_id,
                len(self._carry),
            )
            self._carry = b""

    def __aiter__(self) -> AsyncIterator[Audio | Words]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[Audio | Words]:
        while (item := await self.receive()) is not None:
            yield item

    async def __aenter__(self) -> Context:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if not self._ended:
            # Shielded and short: a cancel must reach the server even when the
            # caller is being cancelled (an interrupt), or it keeps generating.
            with trio.CancelScope(shield=True) as scope:
                scope.deadline = trio.current_time() + 1.0
                await self.cancel()
        await self._events.aclose()
