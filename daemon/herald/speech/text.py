"""Splitting text for synthesis: sentences, kept verbatim so they concatenate back."""

from __future__ import annotations

import re

# A sentence ends at . ! ? or … (optionally closed by quotes or brackets) followed
# by whitespace. The whitespace stays with the sentence before it, because
# Cartesia concatenates continuations verbatim and needs the spaces.
_SENTENCE = re.compile(r".+?(?:[.!?…]+[\"'”’)\]]*(?:\s+|$)|$)", re.DOTALL)


def split_sentences(text: str) -> list[str]:
    """``"A. B? C"`` → ``["A. ", "B? ", "C"]``; ``"".join`` of the result is ``text``."""
    parts = [m.group(0) for m in _SENTENCE.finditer(text) if m.group(0)]
    return parts or ([text] if text else [])


_WORD_START = re.compile(r"\S+")


def text_from_word(text: str, index: int) -> str:
    """``text`` from its ``index``-th word on (words split on whitespace, 0-based), or ""."""
    for n, match in enumerate(_WORD_START.finditer(text)):
        if n == index:
            return text[match.start() :]
    return ""
