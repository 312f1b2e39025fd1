"""Text that is still being written (an LLM's tokens), cut into pieces for Cartesia.

A streamed say is spoken as continuations of one Cartesia context. Tokens are
too small to push one by one: the first push waits for four words or a sentence
end (Cartesia's advice for prosody), later ones go at sentence or clause ends.
A stop counts once the whitespace after it has arrived, or once the writer
pauses. Pieces are slices of the text, never edited, so the pushes concatenate
to exactly what arrived (Cartesia joins continuations verbatim).

`TextAggregator` makes those decisions (pure, synchronous); `TextFeed` hands the
text from the router, which is synchronous, to the producer, which awaits it.
"""

from __future__ import annotations

import re

import trio

from herald.cartesia.context import ready_for_first_push

__all__ = [
    "FIRST_PUSH_WORDS",
    "MAX_PENDING_WORDS",
    "PAUSE",
    "StreamIdle",
    "TextAggregator",
    "TextFeed",
]

FIRST_PUSH_WORDS = 4
# Text without any clause end (a long list, a run-on sentence) goes out anyway
# once this many words wait, so the audio cannot run dry behind it.
MAX_PENDING_WORDS = 20
# Seconds without a chunk after which the writer counts as pausing (LLMs send
# tokens every 10-100 ms while they write).
PAUSE = 0.3

# Where a piece may end: a stop or clause mark (optionally closed by quotes or
# brackets) with the whitespace after it, or a line break. The whitespace must
# have arrived: "3." may yet become "3.5", and "Mr." is rarely followed by a break.
# CJK marks need no space after them.
_BOUNDARY = re.compile(
    r"[.!?…;:,—]+[\"'”’)\]»]*\s+"
    r"|\n\s*"
    r"|[。！？；：，、]+[」』”’)）]*\s*"
)
# When the writer pauses, a stop at the very end is taken as the end of a clause:
# "3." of "3.5" is written without a pause, a sentence before a pause (an LLM's
# tool call, say) should not wait for the text after it.
_STOP_AT_END = re.compile(r"[.!?…;:,—]+[\"'”’)\]»]*\Z")
_COMPLETE_WORD = re.compile(r"\S+(?=\s)")
_OPEN_WORD = re.compile(r"\S*\Z")


class TextAggregator:
    """Decides which part of the streamed text to push, and when.

    ``add`` returns the text to push now ("" for nothing yet); ``close`` returns
    the rest. Everything returned, joined, is everything added.
    """

    def __init__(
        self, first_push_words: int = FIRST_PUSH_WORDS, max_pending_words: int = MAX_PENDING_WORDS
    ) -> None:
        self._first_push_words = first_push_words
        self._max_pending_words = max_pending_words
        self._pending = ""
        self._started = False  # something was released: the first-push rule is met
        self._closed = False

    @property
    def pending(self) -> str:
        """Text received but not released yet."""
        return self._pending

    def add(self, text: str) -> str:
        if self._closed:
            raise RuntimeError("TextAggregator.add() after close()")
        self._pending += text
        return self._release(self._cut(at_pause=False))

    def pause(self) -> str:
        """The writer has paused: what may go now that a stop at the end counts."""
        return self._release(self._cut(at_pause=True))

    def close(self) -> str:
        self._closed = True
        piece, self._pending = self._pending, ""
        return piece

    def _release(self, cut: int) -> str:
        piece, self._pending = self._pending[:cut], self._pending[cut:]
        if piece:
            self._started = True
        return piece

    def _cut(self, *, at_pause: bool) -> int:
        text = self._pending
        if at_pause and _STOP_AT_END.search(text):
            boundary = len(text)
        else:
            boundary = max((m.end() for m in _BOUNDARY.finditer(text)), default=0)
        # The start of a word still being written: whitespace has not followed it.
        open_word = _OPEN_WORD.search(text)
        words_end = open_word.start() if open_word else len(text)
        if not self._started:
            # Cartesia's own rule decides, so whatever is released here, the context
            # sends at once instead of holding it back again.
            for cut in sorted({words_end, boundary}, reverse=True):
                if cut and ready_for_first_push(text[:cut], self._first_push_words):
                    return cut
            return 0
        if boundary:
            return boundary
        if len(_COMPLETE_WORD.findall(text)) >= self._max_pending_words:
            return words_end
        return 0


class StreamIdle(Exception):
    """No chunk of a streamed text arrived for ``idle_timeout`` seconds, and no final one."""

    def __init__(self, idle_timeout: float) -> None:
        super().__init__(f"the streamed text was idle for {idle_timeout:g} s")
        self.idle_timeout = idle_timeout


class TextFeed:
    """A streamed say's text: the router adds chunks, the producer awaits pieces.

    ``add`` and ``close`` are synchronous and never block (call them from the trio
    thread). Idle time counts from the last chunk (from creation before the
    first), on trio's clock; so does the ``pause`` after which a stop at the very
    end of the text is released without waiting for the whitespace after it.
    """

    def __init__(
        self,
        idle_timeout: float,
        *,
        first_push_words: int = FIRST_PUSH_WORDS,
        pause: float = PAUSE,
    ) -> None:
        self.idle_timeout = idle_timeout
        self.pause = pause
        self._paused = False  # the pause since the last chunk has been acted on
        self._aggregator = TextAggregator(first_push_words)
        self._chunks: list[str] = []
        self._ready = ""  # released by the aggregator, not yet handed out
        self._taken = 0  # characters handed out by next_piece
        self._closed = False
        self._last_chunk_at = trio.current_time()
        self._wakeup = trio.Event()

    @property
    def text(self) -> str:
        """All the text added so far, verbatim."""
        if len(self._chunks) > 1:
            self._chunks = ["".join(self._chunks)]
        return self._chunks[0] if self._chunks else ""

    @property
    def closed(self) -> bool:
        """The final chunk has arrived."""
        return self._closed

    @property
    def taken(self) -> int:
        """How much of `text` `next_piece` has handed out: ``text[:taken]``."""
        return self._taken

    @property
    def exhausted(self) -> bool:
        """Closed, and every piece has been handed out by `next_piece`."""
        return self._closed and not self._ready

    def add(self, text: str) -> None:
        """One chunk, verbatim (the caller's spaces are kept). Raises after `close`."""
        if self._closed:
            raise RuntimeError("TextFeed.add() after close()")
        self._chunks.append(text)
        self._last_chunk_at = trio.current_time()
        self._paused = False
        self._ready += self._aggregator.add(text)
        self._wakeup.set()

    def close(self) -> None:
        """The final chunk has been added. Idempotent."""
        if self._closed:
            return
        self._closed = True
        self._ready += self._aggregator.close()
        self._wakeup.set()

    async def next_piece(self) -> str | None:
        """The text to push next (all released so far, as one piece), or None once
        everything has been handed out. Raises StreamIdle."""
        await trio.lowlevel.checkpoint()
        while not self._ready:
            if self._closed:
                return None
            await self._wait_for_chunk()
        piece, self._ready = self._ready, ""
        self._taken += len(piece)
        return piece

    async def complete(self) -> str:
        """Wait for the final chunk; return the whole text. Raises StreamIdle."""
        await trio.lowlevel.checkpoint()
        while not self._closed:
            await self._wait_for_chunk()
        return self.text

    async def _wait_for_chunk(self) -> None:
        """Wait for a chunk, the close, or the pause (then what it releases is ready)."""
        now = trio.current_time()
        idle_at = self._last_chunk_at + self.idle_timeout
        if now >= idle_at:
            raise StreamIdle(self.idle_timeout)
        pause_at = self._last_chunk_at + self.pause
        if not self._paused and now >= pause_at:
            self._paused = True
            self._ready += self._aggregator.pause()
            await trio.lowlevel.checkpoint()
            return
        self._wakeup = trio.Event()
        with trio.move_on_at(idle_at if self._paused else min(idle_at, pause_at)):
            await self._wakeup.wait()
