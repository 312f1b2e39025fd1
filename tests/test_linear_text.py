"""Nothing herald does with a text can block the event loop (issue 14): twelve 5 KB
stream chunks of "?"*4999+"y" used to take up to 60 s in backtracking regexes.

- Every regular expression in the daemon (collected from its modules, not listed by
  hand) is run by hypothesis on adversarial texts of up to 5,000 characters made of
  the characters the pattern itself names (its literals and class members: the runs a
  backtracking engine chokes on). Each call must cost under `BUDGET_S` of CPU time,
  the loop's budget in the issue: a linear pattern needs well under a millisecond
  here, a quadratic one a second. CPU time, not wall-clock: it does not grow when the
  machine is busy with something else.
- The stream aggregator, rewritten as a single pass, releases exactly what the regex
  version it replaced released, for random chunkings and pauses.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
import time
from collections.abc import Iterator
from re import _parser as sre_parse  # type: ignore[attr-defined]
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import herald
from herald.speech.feed import TextAggregator
from herald.speech.transforms import PauseAfterQuestions, Spell, apply
from herald.text import ready_for_first_push, split_sentences

BUDGET_S = 0.05
# Longer than any one text herald takes (a say is 5,000 characters, a stream 20,000):
# a quadratic pattern needs seconds here, a linear one a fraction of a millisecond.
MAX_CHARS = 20_000


def daemon_patterns() -> Iterator[tuple[str, re.Pattern[str]]]:
    for info in pkgutil.walk_packages(herald.__path__, "herald."):
        if info.name == "herald.__main__":
            continue  # runs the command line when imported
        module = importlib.import_module(info.name)
        for name, value in vars(module).items():
            if isinstance(value, re.Pattern) and isinstance(value.pattern, str):
                yield f"{info.name}.{name}", value


PATTERNS = dict(daemon_patterns())


def alphabet(pattern: re.Pattern[str]) -> list[str]:
    """The characters a pattern names, plus a letter, a digit and a space."""
    chars: set[str] = set("a1 \n")

    def walk(items: Any) -> None:
        for op, arg in items:
            if op is sre_parse.LITERAL:
                chars.add(chr(arg))
            elif op is sre_parse.IN:
                for kind, value in arg:
                    if kind is sre_parse.LITERAL:
                        chars.add(chr(value))
                    elif kind is sre_parse.RANGE:
                        chars.update(
                            chr(c) for c in range(value[0], min(value[1], value[0] + 3) + 1)
                        )
            elif isinstance(arg, (list, tuple)):
                for part in arg:
                    if isinstance(part, sre_parse.SubPattern):
                        walk(part)
                    elif isinstance(part, (list, tuple)):
                        for sub in part:
                            if isinstance(sub, sre_parse.SubPattern):
                                walk(sub)

    walk(sre_parse.parse(pattern.pattern, pattern.flags))
    return sorted(chars)


def adversarial(chars: list[str]) -> st.SearchStrategy[str]:
    """Long runs of one or two of the pattern's own characters, with a tail that
    makes a match fail at the very end."""
    run = st.tuples(st.sampled_from(chars), st.sampled_from(chars), st.integers(1, MAX_CHARS))
    return st.lists(run, min_size=1, max_size=3).map(
        lambda runs: "".join((a * (n // 2) + b * (n - n // 2)) for a, b, n in runs)[:MAX_CHARS]
    ) | st.text(st.sampled_from(chars), max_size=MAX_CHARS)


def cpu(call: Any) -> float:
    start = time.process_time()
    call()
    return time.process_time() - start


def test_the_daemons_patterns_are_all_found() -> None:
    # The collection must see the patterns that matter, or the property proves nothing.
    assert {"herald.speech.transforms._QUESTION", "herald.speech.transforms._PHONE"} <= set(
        PATTERNS
    )
    assert len(PATTERNS) >= 20


def assert_cheap(name: str, pattern: re.Pattern[str], text: str) -> None:
    for use in (pattern.search, pattern.findall, lambda t: pattern.sub("", t)):
        spent = cpu(lambda use=use: use(text))  # type: ignore[misc]
        assert spent < BUDGET_S, f"{name} took {spent * 1000:.0f} ms on {len(text)} chars"


@pytest.mark.parametrize("name", sorted(PATTERNS))
def test_every_regex_is_linear_on_adversarial_text(name: str) -> None:
    pattern = PATTERNS[name]
    chars = alphabet(pattern)
    for char in chars:  # the classic: one long run of a character the pattern repeats
        assert_cheap(name, pattern, char * MAX_CHARS)
        assert_cheap(name, pattern, char * (MAX_CHARS - 1) + "\x00")

    @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
    @given(adversarial(chars))
    def check(text: str) -> None:
        assert_cheap(name, pattern, text)

    check()


@settings(max_examples=40, deadline=None)
@given(st.text(st.sampled_from(list('?!.…。 a\n"”')), min_size=1, max_size=MAX_CHARS))
def test_the_text_functions_are_linear(text: str) -> None:
    transforms = (Spell("phone_numbers"), Spell("codes"), PauseAfterQuestions(0.5))
    for call in (
        lambda: split_sentences(text),
        lambda: ready_for_first_push(text, 4),
        lambda: apply(text, transforms),
    ):
        assert cpu(call) < BUDGET_S


def test_the_issues_stream_of_question_marks_is_cheap() -> None:
    agg = TextAggregator()
    spent = cpu(lambda: [agg.add("?" * 4999 + "y") for _ in range(12)])
    assert spent < BUDGET_S * 12
    assert agg.close() == ("?" * 4999 + "y") * 12


# --- the aggregator: the single pass releases what the regex version did ----------------

_BOUNDARY = re.compile(
    r"[.!?…;:,—]+[\"'”’)\]»]*\s+"
    r"|\n\s*"
    r"|[。！？；：，、]+[」』”’)）]*\s*"
)
_STOP_AT_END = re.compile(r"[.!?…;:,—]+[\"'”’)\]»]*\Z")
_COMPLETE_WORD = re.compile(r"\S+(?=\s)")
_OPEN_WORD = re.compile(r"\S*\Z")


class RegexAggregator:
    """The aggregator as it was (quadratic on hostile text): the reference."""

    def __init__(self) -> None:
        self._pending = ""
        self._started = False

    def add(self, text: str) -> str:
        self._pending += text
        return self._release(self._cut(at_pause=False))

    def pause(self) -> str:
        return self._release(self._cut(at_pause=True))

    def close(self) -> str:
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
        open_word = _OPEN_WORD.search(text)
        words_end = open_word.start() if open_word else len(text)
        if not self._started:
            for cut in sorted({words_end, boundary}, reverse=True):
                if cut and ready_for_first_push(text[:cut], 4):
                    return cut
            return 0
        if boundary:
            return boundary
        if len(_COMPLETE_WORD.findall(text)) >= 20:
            return words_end
        return 0


_ALPHABET = st.sampled_from(list("abc XYZ.,;:!?…\n\t—\"')1。，é！」 "))


@settings(max_examples=2000, deadline=None)
@given(st.lists(st.tuples(st.text(_ALPHABET, max_size=12), st.booleans()), max_size=30))
def test_the_single_pass_releases_what_the_regexes_did(steps: list[tuple[str, bool]]) -> None:
    old, new = RegexAggregator(), TextAggregator()
    for chunk, pause in steps:
        assert new.add(chunk) == old.add(chunk), steps
        if pause:
            assert new.pause() == old.pause(), steps
    assert new.close() == old.close()
