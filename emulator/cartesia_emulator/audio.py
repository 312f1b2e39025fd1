"""Deterministic stand-in speech: one tone burst per word, plus tokenising helpers.

The audio is a pure function of the words, so tests compute the exact bytes a
context must produce with :func:`synth_pcm`, however its text was split into
pushes. No sample is ever 0: downstream tests strip runs of digital silence
(inserted by playback paths) from captured audio before comparing it.
"""

from __future__ import annotations

import functools
import math
import sys
import zlib
from array import array

_BASE_TONE_S = 0.040
_PER_CHAR_S = 0.012
_RAMP_S = 0.005
_GAP_S = 0.030
_SENTENCE_GAP_S = 0.120
_AMPLITUDE = 0.3 * 32767
_NOISE_PEAK = 16
_CLOSERS = "\"')]}»”’"


def _nonzero(value: int) -> int:
    return value if value != 0 else 1


def tone_samples(word: str, sample_rate: int) -> int:
    """Samples of the tone part of ``word_pcm(word, rate)`` (the gap follows it)."""
    return round(sample_rate * (_BASE_TONE_S + _PER_CHAR_S * len(word)))


def _gap_samples(word: str, sample_rate: int) -> int:
    # A longer pause after a sentence end makes captured audio look like speech
    # to level meters and keeps sentence boundaries visible in plots.
    last = word.rstrip(_CLOSERS)[-1:] or word[-1]
    gap = _SENTENCE_GAP_S if last in ".!?" else _GAP_S
    return round(sample_rate * gap)


@functools.lru_cache(maxsize=4096)
def word_pcm(word: str, sample_rate: int) -> bytes:
    """pcm_s16le mono audio of one word: a raised-cosine tone burst, then a noise gap.

    The frequency comes from ``zlib.crc32(word)``; the tone lasts 40 ms plus 12 ms
    per character; the gap is 30 ms of faint noise (120 ms after ``.!?``).
    """
    if not word or any(ch.isspace() for ch in word):
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

    Valid for any split of the text into pushes, even mid-word, as long as no
    flush falls inside a word (a flush completes the pending word).
    """
    return b"".join(word_pcm(word, sample_rate) for word in transcript.split())


def split_complete(buffer: str, *, final: bool) -> tuple[list[str], str]:
    """Split buffered text into complete words and the still-open tail.

    A word is complete once whitespace follows it, or when ``final`` (input
    closed or flushed). The tail is the partial last word, without whitespace.
    """
    words = buffer.split()
    if final or not words or buffer[-1].isspace():
        return words, ""
    return words[:-1], words[-1]


def is_speakable(text: str) -> bool:
    """False for text that is empty, whitespace or punctuation only."""
    return any(ch.isalnum() for ch in text)
