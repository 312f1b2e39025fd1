"""Deterministic stand-in speech: one tone burst per token, and the tokeniser behind it.

The audio is a pure function of the text, so tests compute the exact bytes a
context must produce with :func:`synth_pcm`, however its text was split into
pushes. No sample is ever 0: downstream tests strip runs of digital silence
(inserted by playback paths) from captured audio before comparing it.

Tokens are what Cartesia reports as timestamp "words", and the audio is cut at
exactly the same places, so word timestamps and audio always agree:

- Text is split at whitespace, as Cartesia's word timestamps are for
  space-separated languages: ``"Hello,"`` and ``"Kenobi!"`` keep their punctuation.
- Han characters, kana and CJK punctuation are one token each: Cartesia sends
  Japanese and Chinese one character per entry, punctuation included
  (``['こ', 'ん', 'に', 'ち', 'は', '。']``, pipecat issue #2307, and pipecat's
  tests/test_cartesia_tts.py). Chinese sometimes comes back with two characters
  in one entry (pipecat PR #5679 calls that packing "not part of the API
  contract"); the emulator always sends one, which a client must handle anyway.
- Hangul is not split: since 2026 Cartesia "emits word chunks" for Korean
  (pipecat PR #4475, whose tests have ``['안녕하세요', '반갑습니다']``).
- A tag (``<break time="1s"/>``, ``<spell>``, ``</spell>``, ``<emotion .../>``, ...)
  is never split, even at the spaces inside it, and sticks to the text around it
  like any other character: Cartesia returns ``'to<spell>1234</spell>'``,
  ``'<spell>1234</spell>.'`` and a lone ``'<break time="80ms"/>'`` as single
  entries (pipecat tests ``_strip_cartesia_tags``). Only ``<`` + letter (or
  ``</`` + letter) up to the next ``>`` counts as a tag, so ``"3 < 5"`` stays text.

This does not depend on the request's ``language``: the emulator tokenises by
script, so a Japanese sentence with ``language: "en"`` (or none) gets the same
tokens. Every token is a substring of the text, and the tokens appear in order.
"""

from __future__ import annotations

import functools
import math
import re
import sys
import zlib
from array import array
from typing import NamedTuple

_BASE_TONE_S = 0.040
_PER_CHAR_S = 0.012
_RAMP_S = 0.005
_GAP_S = 0.030
_SENTENCE_GAP_S = 0.120
_AMPLITUDE = 0.3 * 32767
_NOISE_PEAK = 16
_CLOSERS = "\"')]}»”’」』）"
_SENTENCE_ENDS = ".!?。！？"

# A complete tag, and the start of one that more text may still complete.
_TAG_RE = r"</?[A-Za-z][^<>]*>"
_OPEN_TAG = re.compile(r"</?(?:[A-Za-z][^<>]*)?\Z")

# Scripts written without spaces between words, each character a token of its own:
# CJK symbols and punctuation (but the ideographic space), kana, CJK ideographs (and
# their extensions and compatibility forms), fullwidth and halfwidth forms.
_ONE_CHAR = (
    "\u3001-\u30ff"  # CJK symbols and punctuation, hiragana, katakana
    "\u31f0-\u31ff"  # katakana phonetic extensions
    "\u3400-\u4dbf"  # CJK extension A
    "\u4e00-\u9fff"  # CJK unified ideographs
    "\uf900-\ufaff"  # CJK compatibility ideographs
    "\ufe30-\ufe4f"  # CJK compatibility forms
    "\uff00-\uffef"  # fullwidth and halfwidth forms (incl. ，。！？ and ｶﾀｶﾅ)
    "\U00020000-\U0003ffff"  # CJK extensions B and later
)
# A token: one such character, or a run of tags and other non-space characters (a
# "<" that starts no complete tag is an ordinary character).
_TOKEN = re.compile(rf"(?P<single>[{_ONE_CHAR}])|(?:{_TAG_RE}|<|[^\s<{_ONE_CHAR}])+")
_ONE_CHAR_TOKEN = re.compile(rf"[{_ONE_CHAR}]")


def is_one_char_token(ch: str) -> bool:
    """True for a character that is a token by itself (Han, kana, CJK punctuation)."""
    return _ONE_CHAR_TOKEN.fullmatch(ch) is not None


class Token(NamedTuple):
    """A token's place in the text: ``text[start:end]``."""

    start: int
    end: int
    single: bool  # one Han/kana/CJK punctuation character
    open_tag: bool = False  # ends in a tag that more text may still complete


def tokenize(text: str, *, final: bool = True) -> list[Token]:
    """The tokens of ``text``, in order.

    With ``final=False`` the text may still grow: a ``<`` that could start a tag
    swallows everything after it into the last token (marked ``open_tag``). Only the
    last ``<`` can: an earlier one has a ``<`` or ``>`` after it.
    """
    tokens = [Token(m.start(), m.end(), m["single"] is not None) for m in _TOKEN.finditer(text)]
    at = text.rfind("<")
    if final or at < 0 or not _OPEN_TAG.match(text, at):
        return tokens
    # That "<" is an ordinary character of a run in the final tokens; the run now
    # reaches the end of the text.
    index = next(i for i, t in enumerate(tokens) if t.start <= at < t.end)
    return [*tokens[:index], Token(tokens[index].start, len(text), False, open_tag=True)]


def words_of(text: str) -> list[str]:
    """The tokens of a whole (final) text, as strings: the timestamp words Cartesia sends."""
    return [text[t.start : t.end] for t in tokenize(text)]


def split_complete(buffer: str, *, final: bool) -> tuple[list[str], str]:
    """Split buffered text into complete tokens and the still-open tail.

    A token is complete once whitespace follows it, once a one-character token
    follows it (or it is one), or when ``final`` (input closed or flushed). The
    tail is the text from the start of the open last token; it never starts with
    whitespace. Whatever more text comes, the complete tokens stay tokens of the
    whole: so the audio of any split of a text into pushes is ``synth_pcm`` of it.
    """
    tokens = tokenize(buffer, final=final)
    if final or not tokens:
        return [buffer[t.start : t.end] for t in tokens], ""
    last = tokens[-1]
    done = tokens if (last.end < len(buffer) or last.single) and not last.open_tag else tokens[:-1]
    pending = "" if done is tokens else buffer[last.start :]
    return [buffer[t.start : t.end] for t in done], pending


def _nonzero(value: int) -> int:
    return value if value != 0 else 1


def tone_samples(word: str, sample_rate: int) -> int:
    """Samples of the tone part of ``word_pcm(word, rate)`` (the gap follows it)."""
    return round(sample_rate * (_BASE_TONE_S + _PER_CHAR_S * len(word)))


def _gap_samples(word: str, sample_rate: int) -> int:
    # A longer pause after a sentence end makes captured audio look like speech
    # to level meters and keeps sentence boundaries visible in plots.
    last = word.rstrip(_CLOSERS)[-1:] or word[-1]
    gap = _SENTENCE_GAP_S if last in _SENTENCE_ENDS else _GAP_S
    return round(sample_rate * gap)


@functools.lru_cache(maxsize=4096)
def word_pcm(word: str, sample_rate: int) -> bytes:
    """pcm_s16le mono audio of one token: a raised-cosine tone burst, then a noise gap.

    The frequency comes from ``zlib.crc32(word)``; the tone lasts 40 ms plus 12 ms
    per character; the gap is 30 ms of faint noise (120 ms after ``.!?。！？``). A
    token may hold spaces only inside a tag (``<break time="1s"/>``).
    """
    if not word or word[0].isspace() or word[-1].isspace():
        raise ValueError(f"not a word: {word!r}")
    crc = zlib.crc32(word.encode("utf-8"))
    freq = 220.0 + crc % 661
    step = 2.0 * math.pi * freq / sample_rate
    n_tone = tone_samples(word, sample_rate)
    n_ramp = max(1, min(round(sample_rate * _RAMP_S), n_tone // 2))
    out = array("h")
    for i in range(n_tone):
        edge = min(i, n_tone - 1 - i)
        env = 0.5 - 0.5 * math.cos(math.pi * edge / n_ramp) if edge < n_ramp else 1.0
        out.append(_nonzero(round(_AMPLITUDE * env * math.sin(step * i))))
    state = crc or 1
    for _ in range(_gap_samples(word, sample_rate)):
        state = (state * 1103515245 + 12345) & 0x7FFFFFFF
        out.append(_nonzero((state >> 16) % (2 * _NOISE_PEAK + 1) - _NOISE_PEAK))
    if sys.byteorder != "little":
        out.byteswap()
    return out.tobytes()


def synth_pcm(transcript: str, sample_rate: int = 24000) -> bytes:
    """The pcm_s16le audio of a whole context whose concatenated input is ``transcript``.

    Valid for any split of the text into pushes, even mid-word or mid-tag, as long
    as no flush falls inside a token (a flush completes the pending token). For
    text without tags or CJK characters the tokens are ``transcript.split()``.
    """
    return b"".join(word_pcm(word, sample_rate) for word in words_of(transcript))


def is_speakable(text: str) -> bool:
    """False for text that is empty, whitespace or punctuation only."""
    return any(ch.isalnum() for ch in text)
