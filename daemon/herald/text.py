"""The one tokenizer: sentences, words, the first-push rule, and where a resume starts.

Shared by the Cartesia context (which holds a context's first input back until it
follows Cartesia's advice for prosody), the speech layer (which pushes sentences and
resumes a failed-over say) and the stream aggregator, so that they agree on what a
sentence end is. Text is never edited: pieces are slices that concatenate back to
the text, because Cartesia joins continuations verbatim and needs the spaces.

Every function here is a single pass over the text (no regular expression that can
backtrack), so a hostile 5,000-character say costs microseconds, not seconds.
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = [
    "CJK_STOPS",
    "CLOSERS",
    "STOPS",
    "WordMatcher",
    "is_speakable",
    "ready_for_first_push",
    "split_sentences",
]

STOPS = frozenset(".!?…")  # end a sentence when whitespace (or the end) follows
CJK_STOPS = frozenset("。！？")  # end a sentence on their own: CJK puts no space after them
CLOSERS = frozenset("\"'”’)]»」』")  # may follow the stop: 'He said "Hi." ' ends one


def _sentence_end(text: str, i: int) -> int:
    """If a sentence ends with the stop at ``text[i]``, the index after it (its
    closers and the whitespace after them included); else -1."""
    n = len(text)
    cjk = False
    j = i
    while j < n and (text[j] in STOPS or text[j] in CJK_STOPS):
        cjk = cjk or text[j] in CJK_STOPS
        j += 1
    while j < n and text[j] in CLOSERS:
        j += 1
    if j < n and not text[j].isspace() and not cjk:
        return -1  # "3.14", "e.g.x": not an end
    while j < n and text[j].isspace():
        j += 1
    return j


def split_sentences(text: str) -> list[str]:
    """``"A. B? C"`` → ``["A. ", "B? ", "C"]``; ``"".join`` of the result is ``text``.

    A sentence ends at ``. ! ? …`` (optionally closed by quotes or brackets) followed
    by whitespace or the end, or at ``。！？`` whatever follows. The whitespace after a
    sentence stays with it.
    """
    parts: list[str] = []
    start = i = 0
    n = len(text)
    while i < n:
        ch = text[i]
        if ch in STOPS or ch in CJK_STOPS:
            end = _sentence_end(text, i)
            if end > 0:
                parts.append(text[start:end])
                start = i = end
                continue
            # Skip the whole run of stops: each would fail the same way.
            while i < n and (text[i] in STOPS or text[i] in CJK_STOPS):
                i += 1
            continue
        i += 1
    if start < n:
        parts.append(text[start:])
    return parts


def is_speakable(text: str) -> bool:
    """Whether ``text`` has something to say: a letter or a digit (in any script).

    Cartesia refuses a context whose first input is punctuation alone, and "..." or a
    zero-width space would speak nothing.
    """
    return any(ch.isalnum() for ch in text)


def _ends_sentence(text: str) -> bool:
    """Whether ``text`` ends with a sentence end (trailing whitespace allowed)."""
    j = len(text) - 1
    while j >= 0 and text[j].isspace():
        j -= 1
    while j >= 0 and text[j] in CLOSERS:
        j -= 1
    return j >= 0 and (text[j] in STOPS or text[j] in CJK_STOPS)


def ready_for_first_push(text: str, min_words: int) -> bool:
    """Cartesia's advice: a context's first input holds at least ``min_words`` words
    (3-4) or a whole sentence, and something speakable."""
    if not is_speakable(text):
        return False
    return _ends_sentence(text) or len(text.split(None, min_words)) >= min_words


class WordMatcher:
    """Follows Cartesia's word timestamps through the text that was sent, to know where
    the heard part of a context ends: a failover resumes there.

    Cartesia's "words" are substrings of the text, in order: words between spaces for
    most languages, single characters for Chinese, Japanese and Korean. Each is looked
    for from where the last one ended, skipping only what is not spoken (spaces,
    punctuation, markup such as ``<break time="1s"/>``). A word that is not there (a
    normalized number, say) stops the matching: the heard part then ends at the last
    word found, which is where the audio is cut too, so the listener still hears every
    word once.
    """

    def __init__(self, text: str = "") -> None:
        self._text = text
        self._end = 0  # where the last matched word ends
        self._lost = False

    @property
    def text(self) -> str:
        return self._text

    def extend(self, more: str) -> None:
        """More text was sent on the same context (a stream's next piece)."""
        self._text += more

    def heard(self, words: Iterable[str]) -> bool:
        """Advance over ``words`` (their audio has fully arrived). False once a word
        could not be matched: the position stays where the last match ended."""
        for word in words:
            if self._lost:
                return False
            word = word.strip()
            if not word:
                continue
            at = self._text.find(word, self._end)
            if at < 0 or not _unspoken(self._text, self._end, at):
                self._lost = True
                return False
            self._end = at + len(word)
        return not self._lost

    @property
    def heard_until(self) -> int:
        """The offset in the text where the heard words end."""
        return self._end

    @property
    def resume_at(self) -> int:
        """Where speech resumes: the first character after the heard words that is not
        whitespace (a new context must not start with a space)."""
        i = self._end
        while i < len(self._text) and self._text[i].isspace():
            i += 1
        return i


def _unspoken(text: str, start: int, end: int) -> bool:
    """Whether ``text[start:end]`` holds nothing that is spoken: whitespace,
    punctuation and whole markup tags only."""
    i = start
    while i < end:
        ch = text[i]
        if ch == "<":
            close = text.find(">", i, end)
            if close < 0:
                return False
            i = close + 1
            continue
        if ch.isalnum():
            return False
        i += 1
    return True
