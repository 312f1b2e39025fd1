"""`[[transforms]]` in the config file: the text transforms, in the order written.

Each block holds one action (see `herald.speech.transforms`):

    [[transforms]]
    spell = "phone_numbers"              # or "codes"
    [[transforms]]
    spell_pattern = "\\b[0-9]{4,8}\\b"   # a regular expression: anything else to spell
    [[transforms]]
    pause_after_questions = 0.5          # seconds
    [[transforms]]
    replace = {Siobhan = "Shiv-awn"}     # whole words; ignore_case = true to match any case

Every key is checked like a section's (`transforms[2].pause_after_questions = 20: must
be ...`), then each block on its own: exactly one action, a regular expression that
compiles, no two words that are the same once case is ignored.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Literal

from msgspec import Meta

from herald.config.sections import Section
from herald.speech.transforms import PauseAfterQuestions, Replace, Spell, Transform
from herald.validate import format_key, format_value, validate_array, validate_table

__all__ = ["ACTIONS", "TransformTable", "validate_transforms"]

ACTIONS = ("spell", "spell_pattern", "pause_after_questions", "replace")
MIN_PAUSE, MAX_PAUSE = 0.1, 10.0


class TransformTable(Section, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One [[transforms]] block, as written."""

    spell: Annotated[
        Literal["phone_numbers", "codes"] | None, Meta(description='"phone_numbers" or "codes"')
    ] = None
    spell_pattern: Annotated[str | None, Meta(description="a regular expression")] = None
    pause_after_questions: Annotated[
        Annotated[float, Meta(ge=MIN_PAUSE, le=MAX_PAUSE)] | None,
        Meta(description=f"a number of seconds from {MIN_PAUSE} to {MAX_PAUSE:g}"),
    ] = None
    replace: Annotated[
        dict[Annotated[str, Meta(min_length=1)], str] | None,
        Meta(description='a table of words and what to say instead, e.g. {Siobhan = "Shiv-awn"}'),
    ] = None
    ignore_case: bool | None = None  # with replace


def validate_transforms(value: object) -> tuple[tuple[Transform, ...], list[str]]:
    """The valid transforms, and one error per problem (each naming `transforms[i].key`)."""
    return validate_array(value, "transforms", _one, block="transforms")


def _one(table: Mapping[str, object], path: str) -> tuple[Transform | None, list[str]]:
    values, errors = validate_table(TransformTable, table, path)
    if errors:
        return None, errors
    block = TransformTable(**values)
    actions = [a for a in ACTIONS if getattr(block, a) is not None]
    if len(actions) != 1:
        found = f"has {' and '.join(actions)}" if actions else "has none"
        return None, [f"{path}: needs exactly one of {', '.join(ACTIONS)} ({found})"]
    if block.ignore_case is not None and block.replace is None:
        return None, [f"{path}.ignore_case: only used with replace"]
    if block.spell is not None:
        return Spell(block.spell), []
    if block.spell_pattern is not None:
        try:
            re.compile(block.spell_pattern)
        except (re.error, OverflowError, RecursionError) as exc:
            return None, [
                f"{path}.spell_pattern = {format_value(block.spell_pattern)}: "
                f"not a valid regular expression ({exc})"
            ]
        return Spell("pattern", block.spell_pattern), []
    if block.pause_after_questions is not None:
        return PauseAfterQuestions(block.pause_after_questions), []
    assert block.replace is not None
    return _replace(block.replace, bool(block.ignore_case), path)


def _replace(
    words: Mapping[str, str], ignore_case: bool, path: str
) -> tuple[Transform | None, list[str]]:
    if ignore_case:
        seen: dict[str, str] = {}
        for word in words:
            other = seen.setdefault(word.casefold(), word)
            if other != word:
                return None, [
                    f"{path}.replace: {format_key(other)} and {format_key(word)} are the same "
                    "word when case is ignored"
                ]
    return Replace(tuple(words.items()), ignore_case), []
