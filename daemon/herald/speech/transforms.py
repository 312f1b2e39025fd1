"""Text transforms: a say's text rewritten before it is synthesized.

A household configures an ordered list (``[[transforms]]`` in the config, see
`herald.config.transforms`); `apply` runs them one after the other over the text:

- `Spell`: wrap phone numbers, codes (``AB12CD``, ``X7-22Q``) or whatever a regular
  expression matches in Cartesia's spell tag, ``<spell>555-123-4567</spell>``, so they
  are read out character by character instead of as one big number.
- `PauseAfterQuestions`: Cartesia's break tag, ``<break time="0.5s"/>``, after a
  question that something follows ("Guess who is at the door?<break .../> Grandma!").
- `Replace`: whole words replaced literally, e.g. a name spelled the way it is said.

Markup already in the text (Cartesia's tags: ``<spell>``, ``<break/>``, ``<emotion/>``,
``<speed/>``, ``<volume/>``, or anything else shaped like a tag) passes through
untouched, and nothing inside a paired tag (``<spell>...</spell>``) is rewritten, so a
later transform never edits what an earlier one, or the user, marked up.

Pure and synchronous: no I/O, no state; the same text and list give the same result
(which the clip cache relies on: its key is the transformed text).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

__all__ = [
    "SPELL_KINDS",
    "PauseAfterQuestions",
    "Replace",
    "Spell",
    "Transform",
    "apply",
    "break_tag",
    "spell_tag",
    "strip_markup",
]

SpellKind = Literal["phone_numbers", "codes", "pattern"]
SPELL_KINDS: tuple[SpellKind, ...] = ("phone_numbers", "codes")  # the built-ins


@dataclass(frozen=True, slots=True)
class Spell:
    """Wrap each match in ``<spell>...</spell>``: a built-in kind, or ``pattern``."""

    kind: SpellKind
    pattern: str | None = None  # a regular expression; only with kind "pattern"


@dataclass(frozen=True, slots=True)
class PauseAfterQuestions:
    """A ``<break time="..."/>`` of ``seconds`` after each question that is not the end."""

    seconds: float


@dataclass(frozen=True, slots=True)
class Replace:
    """Each whole word (or phrase) in ``words`` replaced by its value, longest first."""

    words: tuple[tuple[str, str], ...]
    ignore_case: bool = False


Transform = Spell | PauseAfterQuestions | Replace


def spell_tag(text: str) -> str:
    """Cartesia's spell tag around ``text`` (as Pipecat's ``SPELL`` writes it)."""
    return f"<spell>{text}</spell>"


def break_tag(seconds: float) -> str:
    """Cartesia's break tag: ``break_tag(0.5)`` is ``<break time="0.5s"/>``."""
    return f'<break time="{seconds:g}s"/>'


def apply(text: str, transforms: Sequence[Transform]) -> str:
    """``text`` with each transform applied in turn, markup left as it was."""
    for transform in transforms:
        text = _apply_one(text, transform)
    return text


def strip_markup(text: str) -> str:
    """The words without any tag, for a voice that reads text literally (Piper).

    ``<spell>555 1234</spell>`` keeps its content; a break becomes a space. The end of
    a tag at the start (the rest of a text a failover cut inside a tag) goes too.
    """
    spaced = _HEAD_OF_TAG.sub(" ", _TAG.sub(" ", text))
    return _SPACE_BEFORE_PUNCT.sub(r"\1", _SPACES.sub(" ", spaced)).strip()


# --- markup ------------------------------------------------------------------------

# Anything shaped like a tag: <name ...>, </name>, <name .../>. A name starts with a
# letter, so "a < b" or "<3" are text.
_TAG = re.compile(r"<(/?)([A-Za-z][A-Za-z0-9_-]*)(?:\s[^<>]*)?(/?)>")
# Words are cut at spaces, so only attributes can be left of a tag: time="1s"/> Call
_HEAD_OF_TAG = re.compile(r'\A\s*(?:[A-Za-z_-]+="[^"<>]*"\s*)+/?>')
_SPACES = re.compile(r"[ \t]+")
_SPACE_BEFORE_PUNCT = re.compile(r" ([.,!?;:])")


@functools.lru_cache(maxsize=64)
def _closing(name: str) -> re.Pattern[str]:
    return re.compile(rf"</{re.escape(name)}\s*>", re.IGNORECASE)


def _segments(text: str) -> list[tuple[bool, str]]:
    """``text`` cut into (is_markup, piece); the pieces join back to ``text``.

    A tag is markup; an opening tag with a matching closing tag later makes the whole
    span markup, its content included.
    """
    out: list[tuple[bool, str]] = []
    plain_from = 0
    while (tag := _TAG.search(text, plain_from)) is not None:
        end = tag.end()
        is_opening = not tag.group(1) and not tag.group(3)
        if is_opening and (close := _closing(tag.group(2)).search(text, end)) is not None:
            end = close.end()
        if tag.start() > plain_from:
            out.append((False, text[plain_from : tag.start()]))
        out.append((True, text[tag.start() : end]))
        plain_from = end
    if plain_from < len(text):
        out.append((False, text[plain_from:]))
    return out


def _apply_one(text: str, transform: Transform) -> str:
    segments = _segments(text)
    out: list[str] = []
    for i, (markup, piece) in enumerate(segments):
        if markup:
            out.append(piece)
            continue
        following = segments[i + 1][1] if i + 1 < len(segments) else ""
        out.append(_rewrite(piece, following, transform))
    return "".join(out)


def _rewrite(piece: str, following: str, transform: Transform) -> str:
    if isinstance(transform, Spell):
        return _spell(piece, transform)
    if isinstance(transform, PauseAfterQuestions):
        return _pause(piece, following, transform.seconds)
    return _replacer(transform.words, transform.ignore_case)(piece)


# --- spell -------------------------------------------------------------------------

# Phone numbers: an optional +country code, an optional (area code), then groups of
# digits separated by one space, dot or dash; or one unbroken run of 10 to 15 digits.
# Not the middle of a longer token, and not followed by a decimal part.
_PHONE = re.compile(
    r"""
    (?<![\w+./-])
    (?:
        (?:\+\d{1,4}[ .-]?)?\(\d{1,5}\)[ .-]?\d{1,8}(?:[ .-]\d{1,8}){0,4}
      | \+?\d{1,8}(?:[ .-]\d{1,8}){1,5}
      | \+?\d{10,15}
    )
    (?![\w/-]|[.,]\d)
    """,
    re.VERBOSE,
)
_DIGITS = re.compile(r"\d+")
# Codes: upper-case letters and digits (dashes between), with at least one of each.
_CODE = re.compile(r"(?<![\w-])[A-Z0-9]+(?:-[A-Z0-9]+)*(?![\w-])")


def _phone_ok(match: str) -> bool:
    groups = _DIGITS.findall(match)
    if not 7 <= sum(len(g) for g in groups) <= 15:
        return False
    separators = set(re.sub(r"[\d()+ ]", "", match))
    sizes = [len(g) for g in groups]
    # 2025-01-31, 31.01.2025, 1/2/2025: a date, not a number to dial.
    is_date = len(sizes) == 3 and (
        (sizes[0] == 4 and max(sizes[1:]) <= 2) or (sizes[2] == 4 and max(sizes[:2]) <= 2)
    )
    # 192.168.1.10 is an address on the network, 3.14159265 a number: a phone number
    # written with dots has at least three groups (555.123.4567).
    dotted = separators == {"."}
    is_address = dotted and len(sizes) == 4 and max(sizes) <= 3
    is_decimal = dotted and len(sizes) < 3
    return not (is_date or is_address or is_decimal)


def _code_ok(match: str) -> bool:
    chars = match.replace("-", "")
    return (
        4 <= len(chars) <= 16
        and any(c.isdigit() for c in chars)
        and any(c.isalpha() for c in chars)
    )


_BUILT_IN: dict[str, tuple[re.Pattern[str], Callable[[str], bool]]] = {
    "phone_numbers": (_PHONE, _phone_ok),
    "codes": (_CODE, _code_ok),
}


@functools.lru_cache(maxsize=64)
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def _any(match: str) -> bool:
    return True


def _spell(piece: str, spell: Spell) -> str:
    regex: re.Pattern[str]
    accept: Callable[[str], bool]
    if spell.kind == "pattern":
        assert spell.pattern is not None
        regex, accept = _compiled(spell.pattern), _any
    else:
        regex, accept = _BUILT_IN[spell.kind]

    def wrap(match: re.Match[str]) -> str:
        found = match.group(0)
        return spell_tag(found) if found.strip() and accept(found) else found

    return regex.sub(wrap, piece)


# --- pauses ------------------------------------------------------------------------

# A question mark (?!, ??), closing quotes or brackets, then whitespace. It starts only
# at the first mark of a run and never gives back what it took (possessive): one pass
# over "??????..." instead of one per mark.
_QUESTION = re.compile(r"(?<![?!])\?[?!]*+[\"'”’»)\]]*+(?=\s)")
_BREAK = re.compile(r"<break\b", re.IGNORECASE)
_WHITESPACE = re.compile(r"\s*")


def _pause(piece: str, following: str, seconds: float) -> str:
    out: list[str] = []
    done = 0
    for match in _QUESTION.finditer(piece):
        rest = _WHITESPACE.match(piece, match.end())
        at = rest.end() if rest is not None else match.end()
        # Nothing after it (the end of the text), or a pause already there.
        if at < len(piece):
            if _BREAK.match(piece, at):
                continue
        elif not following or _BREAK.match(following):
            continue
        out.append(piece[done : match.end()])
        out.append(break_tag(seconds))
        done = match.end()
    out.append(piece[done:])
    return "".join(out)


# --- replacements ------------------------------------------------------------------


@functools.lru_cache(maxsize=64)
def _replacer(words: tuple[tuple[str, str], ...], ignore_case: bool) -> Callable[[str], str]:
    if not words:
        return lambda piece: piece
    fold: Callable[[str], str] = str.casefold if ignore_case else str
    table = {fold(word): value for word, value in words}
    # Longest first, so "Anna Lena" wins over "Anna"; one pass, so a value is never
    # replaced again by another entry.
    alternatives = "|".join(re.escape(w) for w, _ in sorted(words, key=lambda p: -len(p[0])))
    regex = re.compile(rf"(?<!\w)(?:{alternatives})(?!\w)", re.IGNORECASE if ignore_case else 0)

    def value(match: re.Match[str]) -> str:
        found = match.group(0)
        if (hit := table.get(fold(found))) is not None:
            return hit
        # re's case-insensitive matching and casefold() disagree on a few letters
        # (dotless i, long s): find the entry the regex matched.
        return next(v for w, v in words if re.fullmatch(re.escape(w), found, re.IGNORECASE))

    def replace(piece: str) -> str:
        return regex.sub(value, piece)

    return replace
