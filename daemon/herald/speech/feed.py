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

import bisect
import collections

import trio

from herald.text import CJK_STOPS, CLOSERS, STOPS

__all__ = [
    "FIRST_PUSH_WORDS",
    "MAX_PENDING_WORDS",
    "MAX_STREAM_CHARS",
    "PAUSE",
    "StreamIdle",
    "TextAggregator",
    "TextFeed",
]

FIRST_PUSH_WORDS = 4
# A streamed say's whole text, at most (four times a say's): an answer longer than this
# is cut here, and what came is spoken.
MAX_STREAM_CHARS = 20_000
# Text without any clause end (a long list, a run-on sentence) goes out anyway
# once this many words wait, so the audio cannot run dry behind it.
MAX_PENDING_WORDS = 20
# Seconds without a chunk after which the writer counts as pausing (LLMs send
# tokens every 10-100 ms while they write).
PAUSE = 0.3

# Where a piece may end: a stop or clause mark (optionally closed by quotes or
# brackets) with the whitespace after it, or a line break. The whitespace must
# have arrived: "3." may yet become "3.5", and "Mr." is rarely followed by a break.
# CJK marks need no space after them. When the writer pauses, a stop at the very end
# is taken as the end of a clause: "3." of "3.5" is written without a pause, a
# sentence before a pause (an LLM's tool call, say) should not wait for the text
# after it.
_MARKS = frozenset(".!?…;:,—")
_CLOSERS = frozenset("\"'”’)]»")
_CJK_MARKS = frozenset("。！？；：，、")
_CJK_CLOSERS = frozenset("」』”’)）")
_SENTENCE_STOPS = STOPS | CJK_STOPS

# The scanner's modes: what the last characters were, for where a boundary ends.
_PLAIN, _IN_MARKS, _IN_CLOSERS, _AFTER_CJK, _IN_SPACE = range(5)


class TextAggregator:
    """Decides which part of the streamed text to push, and when.

    ``add`` returns the text to push now ("" for nothing yet); ``close`` returns
    the rest. Everything returned, joined, is everything added.

    Each character is looked at once, when it arrives (a small state machine records
    where boundaries, words and sentence ends are), so a stream costs time in
    proportion to its length, whatever it holds: no rescans, no regular expressions
    that backtrack (`bench/hostile.py` feeds it 5,000 "?" at a time).
    """

    def __init__(
        self, first_push_words: int = FIRST_PUSH_WORDS, max_pending_words: int = MAX_PENDING_WORDS
    ) -> None:
        self._first_push_words = first_push_words
        self._max_pending_words = max_pending_words
        self._chunks: list[str] = []  # the pending text, joined only when released
        self._base = 0  # where the pending text starts in everything added
        self._end = 0  # everything added so far
        self._started = False  # something was released: the first-push rule is met
        self._closed = False
        # What the scan has found, as offsets into everything added:
        self._mode = _PLAIN
        self._prev_space = True  # the text starts as if after a space
        self._boundary = 0  # the end of the last boundary
        self._space_end = 0  # just after the last whitespace: where the open word starts
        self._completions: collections.deque[int] = collections.deque()  # word-ending spaces
        # Only until the first release (the first-push rule):
        self._first_alnum: int | None = None
        self._word_starts: list[int] = []
        self._sentence_ends: list[tuple[int, int]] = []  # (lo, hi): cuts that end one
        self._sentence = 0  # 0: none open; 1 after a stop; 2 after closers; 3 after spaces

    @property
    def pending(self) -> str:
        """Text received but not released yet."""
        if len(self._chunks) > 1:
            self._chunks = ["".join(self._chunks)]
        return self._chunks[0] if self._chunks else ""

    def add(self, text: str) -> str:
        if self._closed:
            raise RuntimeError("TextAggregator.add() after close()")
        if text:
            self._chunks.append(text)
            self._scan(text)
        return self._release(self._cut(at_pause=False))

    def pause(self) -> str:
        """The writer has paused: what may go now that a stop at the end counts."""
        return self._release(self._cut(at_pause=True))

    def close(self) -> str:
        self._closed = True
        piece = self.pending
        self._chunks = []
        self._base = self._end
        return piece

    def _release(self, cut: int) -> str:
        """Release everything up to ``cut`` (an offset into everything added)."""
        if cut <= self._base:
            return ""
        pending = self.pending
        piece = pending[: cut - self._base]
        rest = pending[cut - self._base :]
        self._chunks = [rest] if rest else []
        self._base = cut
        while self._completions and self._completions[0] < cut:
            self._completions.popleft()
        if cut == self._end:
            # All of it went (a stop at a pause): what follows starts a text of its own,
            # as if after a space, so a space next is not the end of that stop.
            self._mode, self._prev_space = _PLAIN, True
        if not self._started:
            self._started = True
            self._word_starts, self._sentence_ends = [], []
        return piece

    def _scan(self, text: str) -> None:
        i = self._end
        for ch in text:
            space = ch.isspace()
            # words
            if space:
                if not self._prev_space:
                    self._completions.append(i)
                self._space_end = i + 1
            elif self._prev_space and not self._started:
                self._word_starts.append(i)
            self._prev_space = space
            if not self._started:
                if self._first_alnum is None and ch.isalnum():
                    self._first_alnum = i
                self._track_sentence(ch, space, i)
            # boundaries
            mode = self._mode
            if mode == _IN_MARKS:
                if ch in _MARKS:
                    pass
                elif ch in _CLOSERS:
                    mode = _IN_CLOSERS
                elif space:
                    mode, self._boundary = _IN_SPACE, i + 1
                else:
                    mode = _PLAIN
            elif mode == _IN_CLOSERS:
                if ch in _CLOSERS:
                    pass
                elif space:
                    mode, self._boundary = _IN_SPACE, i + 1
                else:
                    mode = _PLAIN
            elif mode == _AFTER_CJK:
                if ch in _CJK_MARKS or ch in _CJK_CLOSERS:
                    self._boundary = i + 1
                elif space:
                    mode, self._boundary = _IN_SPACE, i + 1
                else:
                    mode = _PLAIN
            elif mode == _IN_SPACE:
                if space:
                    self._boundary = i + 1
                else:
                    mode = _PLAIN
            if mode == _PLAIN:
                if ch in _MARKS:
                    mode = _IN_MARKS
                elif ch in _CJK_MARKS:
                    mode, self._boundary = _AFTER_CJK, i + 1
                elif ch == "\n":
                    mode, self._boundary = _IN_SPACE, i + 1
            self._mode = mode
            i += 1
        self._end = i

    def _track_sentence(self, ch: str, space: bool, i: int) -> None:
        """Where a cut would end a sentence: after a stop, its closers, then spaces
        (what `herald.text.ready_for_first_push` calls a sentence end)."""
        state = self._sentence
        if ch in _SENTENCE_STOPS:
            self._sentence_ends.append((i + 1, i + 1))
            self._sentence = 1
        elif state in (1, 2) and ch in CLOSERS:
            self._extend_sentence(i + 1)
            self._sentence = 2
        elif state and space:
            self._extend_sentence(i + 1)
            self._sentence = 3
        else:
            self._sentence = 0

    def _extend_sentence(self, hi: int) -> None:
        lo, _ = self._sentence_ends[-1]
        self._sentence_ends[-1] = (lo, hi)

    def _ready(self, cut: int) -> bool:
        """`ready_for_first_push` of the text up to ``cut``, from what the scan found."""
        if self._first_alnum is None or self._first_alnum >= cut:
            return False
        at = bisect.bisect_right(self._sentence_ends, (cut, self._end + 1)) - 1
        if at >= 0 and self._sentence_ends[at][0] <= cut <= self._sentence_ends[at][1]:
            return True
        return bisect.bisect_left(self._word_starts, cut) >= self._first_push_words

    def _cut(self, *, at_pause: bool) -> int:
        """Where to cut (an offset into everything added); ``self._base`` for nowhere."""
        at_end = at_pause and self._mode in (_IN_MARKS, _IN_CLOSERS)
        boundary = self._end if at_end else self._boundary
        words_end = self._space_end
        if not self._started:
            # Cartesia's own rule decides, so whatever is released here, the context
            # sends at once instead of holding it back again.
            for cut in sorted({words_end, boundary}, reverse=True):
                if cut > self._base and self._ready(cut):
                    return cut
            return self._base
        if boundary > self._base:
            return boundary
        if len(self._completions) >= self._max_pending_words:
            return words_end
        return self._base


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
        self._length = 0
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

    @property
    def length(self) -> int:
        return self._length

    def add(self, text: str) -> None:
        """One chunk, verbatim (the caller's spaces are kept). Raises after `close`."""
        if self._closed:
            raise RuntimeError("TextFeed.add() after close()")
        self._chunks.append(text)
        self._length += len(text)
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
