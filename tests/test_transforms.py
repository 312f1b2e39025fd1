"""herald.transforms: spelling, pauses and replacements, with markup left alone."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from herald.speech.transforms import (
    PauseAfterQuestions,
    Replace,
    Spell,
    Transform,
    apply,
    break_tag,
    spell_tag,
    strip_markup,
)

PHONES = Spell("phone_numbers")
CODES = Spell("codes")
PAUSE = PauseAfterQuestions(0.5)
TAG = re.compile(r"<[^<>]*>")


def phones(text: str) -> str:
    return apply(text, [PHONES])


def test_tags_are_cartesias() -> None:
    assert spell_tag("AB12") == "<spell>AB12</spell>"
    assert break_tag(0.5) == '<break time="0.5s"/>'
    assert break_tag(1.0) == '<break time="1s"/>'
    assert break_tag(0.25) == '<break time="0.25s"/>'


# --- phone numbers -------------------------------------------------------------------


@pytest.mark.parametrize(
    "number",
    [
        "555-123-4567",
        "(555) 123-4567",
        "+1 (555) 123-4567",
        "+1 555 123 4567",
        "555.123.4567",
        "555 1234",
        "020 7946 0958",
        "+44 20 7946 0958",
        "06 12 34 56 78",
        "0612345678",
        "+33612345678",
        "030 1234567",
    ],
)
def test_phone_numbers_are_spelled(number: str) -> None:
    assert phones(f"Call {number} now.") == f"Call <spell>{number}</spell> now."
    assert phones(f"{number}") == f"<spell>{number}</spell>"
    assert phones(f"Is it {number}?") == f"Is it <spell>{number}</spell>?"


@pytest.mark.parametrize(
    "text",
    [
        "The year 2025 had 365 days.",
        "On 2025-01-31 at 10:30.",
        "Le 31.01.2025 à midi.",
        "My address is 192.168.1.10 on the network.",
        "Pi is 3.14159265 or so.",
        "The prize is 1,000,000 dollars.",
        "It is 21.5 degrees and 45 % humid.",
        "Only 123-45 is short.",
        "Room 12 and 34.",
        "Version 1.2.3 is out.",
        "Order AB-1234567-X shipped.",
        "Pay 12345678901234567 now.",  # 17 digits: longer than any phone number
    ],
)
def test_other_numbers_are_left_alone(text: str) -> None:
    assert phones(text) == text


def test_two_numbers_and_one_already_spelled() -> None:
    text = "Call <spell>555-123-4567</spell> or 555-765-4321."
    assert phones(text) == "Call <spell>555-123-4567</spell> or <spell>555-765-4321</spell>."


# --- codes and patterns ------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "spelled"),
    [
        ("Your code is AB12CD.", ["AB12CD"]),
        ("Parcel X7-22Q and R2D2 arrive.", ["X7-22Q", "R2D2"]),
        ("Tracking 1Z999AA10123456784 today", []),  # 18 characters: more than 16
        ("A4 paper, MP3 files, 4K screens, ab12cd and 2025.", []),
        ("COVID-19 is a code by this rule.", ["COVID-19"]),
    ],
)
def test_codes(text: str, spelled: list[str]) -> None:
    out = apply(text, [CODES])
    assert re.findall(r"<spell>(.*?)</spell>", out) == spelled
    assert TAG.sub("", out) == text


def test_spell_pattern_and_empty_matches() -> None:
    four_digits = Spell("pattern", r"\b[0-9]{4}\b")
    assert apply("PIN 4821, not 48215.", [four_digits]) == "PIN <spell>4821</spell>, not 48215."
    assert apply("abc", [Spell("pattern", r"x*")]) == "abc"  # empty matches wrap nothing


# --- pauses -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Guess who is here? Grandma!", 'Guess who is here?<break time="0.5s"/> Grandma!'),
        ("Is it ready?", "Is it ready?"),  # the end: nothing follows, no pause
        ("Is it ready?  \n", "Is it ready?  \n"),
        ("Really?! Wow.", 'Really?!<break time="0.5s"/> Wow.'),
        ('She asked "ready?" and left.', 'She asked "ready?"<break time="0.5s"/> and left.'),
        ("(Why?) Because.", '(Why?)<break time="0.5s"/> Because.'),
        ("A? B? C?", 'A?<break time="0.5s"/> B?<break time="0.5s"/> C?'),
        ('Ready? <break time="2s"/> Go.', 'Ready? <break time="2s"/> Go.'),  # one is there
        ("What?no space", "What?no space"),
        ("Is it 5? <spell>AB</spell>", 'Is it 5?<break time="0.5s"/> <spell>AB</spell>'),
    ],
)
def test_pause_after_questions(text: str, expected: str) -> None:
    assert apply(text, [PAUSE]) == expected


# --- replacements ------------------------------------------------------------------


def test_replace_whole_words_longest_first_one_pass() -> None:
    names = Replace(
        (
            ("Siobhan", "Shiv-awn"),
            ("Anna", "Ah-na"),
            ("Anna Lena", "Anna-Lena"),
            ("Dr.", "Doctor"),
            ("Ah-na", "never applied to a value"),
        )
    )
    text = "Siobhan, Anna Lena, Anna and Dr. Who; not Annabel nor Siobhans."
    assert apply(text, [names]) == (
        "Shiv-awn, Anna-Lena, Ah-na and Doctor Who; not Annabel nor Siobhans."
    )


def test_replace_case() -> None:
    exact = Replace((("Zoë", "Zo-ee"),))
    assert apply("Zoë and zoë", [exact]) == "Zo-ee and zoë"
    any_case = Replace((("Zoë", "Zo-ee"),), ignore_case=True)
    assert apply("Zoë and ZOË", [any_case]) == "Zo-ee and Zo-ee"
    # re and casefold() disagree on a few letters; the entry the regex matched wins.
    dotless = Replace((("kit", "Kit-ten"),), ignore_case=True)
    assert apply("KİT and kıt and KIT", [dotless]) == "Kit-ten and Kit-ten and Kit-ten"


def test_replace_never_touches_markup() -> None:
    names = Replace((("time", "TIME"), ("break", "pause"), ("AB", "ay bee")))
    text = 'A break <break time="1s"/> in time <spell>AB</spell> AB.'
    assert apply(text, [names]) == 'A pause <break time="1s"/> in TIME <spell>AB</spell> ay bee.'


# --- order and markup ----------------------------------------------------------------


def test_order_matters_and_new_markup_is_protected() -> None:
    spell_then_replace = [PHONES, Replace((("555", "five five five"),))]
    assert apply("Call 555-1234.", spell_then_replace) == "Call <spell>555-1234</spell>."
    replace_then_spell = [Replace((("Mum", "555-1234"),)), PHONES]
    assert apply("Call Mum.", replace_then_spell) == "Call <spell>555-1234</spell>."


def test_user_markup_passes_untouched() -> None:
    text = (
        '<emotion value="excited"/>Dinner?<break time="1s"/> '
        '<speed ratio="1.2"/>Call <spell>555-123-4567</spell>, code <spell>AB12</spell>.'
    )
    out = apply(text, [PHONES, CODES, PAUSE, Replace((("Dinner", "Supper"),))])
    assert out == text.replace("Dinner", "Supper")


def test_a_lone_opening_tag_protects_only_itself() -> None:
    text = '<emotion value="calm">Call 555-123-4567'
    assert phones(text) == '<emotion value="calm">Call <spell>555-123-4567</spell>'


def test_text_that_only_looks_like_markup() -> None:
    assert phones("If 3 < 4 call 555-123-4567 <3") == "If 3 < 4 call <spell>555-123-4567</spell> <3"


def test_strip_markup_for_a_voice_that_reads_literally() -> None:
    out = apply("Call 555-123-4567? Then AB12.", [PHONES, CODES, PAUSE])
    assert out == 'Call <spell>555-123-4567</spell>?<break time="0.5s"/> Then <spell>AB12</spell>.'
    assert strip_markup(out) == "Call 555-123-4567? Then AB12."
    assert strip_markup('a<break time="1s"/>b') == "a b"


def test_no_transforms_is_identity() -> None:
    assert apply("Anything <spell>at</spell> all?  ", []) == "Anything <spell>at</spell> all?  "


# --- properties ----------------------------------------------------------------------

plain_text = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="<>"), max_size=80
)
markup = st.sampled_from(
    [
        '<break time="1s"/>',
        "<spell>555-123-4567</spell>",
        "<spell>Who?  Me?</spell>",
        '<emotion value="sad"/>',
        '<speed ratio="0.8"/>',
        '<volume ratio="1.5"/>',
        "</spell>",
    ]
)
texts = st.lists(plain_text | markup, max_size=8).map("".join)
built_ins: list[Transform] = [PHONES, CODES, PAUSE]
transform_lists = st.lists(
    st.sampled_from([*built_ins, Replace((("Anna", "Ah-na"), ("555", "five")))]), max_size=4
)


def markup_of(text: str) -> list[str]:
    return TAG.findall(text)


@settings(max_examples=400)
@given(texts, transform_lists)
def test_markup_in_the_input_is_kept_in_order(text: str, transforms: list[Transform]) -> None:
    before = markup_of(text)
    after = markup_of(apply(text, transforms))
    it = iter(after)
    assert all(tag in it for tag in before)  # a subsequence: only tags are added


@settings(max_examples=400)
@given(plain_text, st.lists(st.sampled_from(built_ins), max_size=3))
def test_built_ins_only_add_markup(text: str, transforms: list[Transform]) -> None:
    assert TAG.sub("", apply(text, transforms)) == text


@settings(max_examples=400)
@given(texts, st.lists(st.sampled_from(built_ins), max_size=3))
def test_built_ins_are_idempotent(text: str, transforms: list[Transform]) -> None:
    once = apply(text, transforms)
    assert apply(once, transforms) == once


@settings(max_examples=200)
@given(texts)
def test_words_that_do_not_occur_change_nothing(text: str) -> None:
    absent = Replace((("Xq9zzz", "never"),), ignore_case=True)
    assert apply(text, [absent]) == text


def test_strip_markup_drops_the_end_of_a_tag_a_failover_cut() -> None:
    # A failover resumes at a word; a tag with a space in it is two words.
    assert strip_markup('time="0.5s"/> Call <spell>555-1234</spell>.') == "Call 555-1234."
    assert strip_markup('value="calm"> Hello') == "Hello"
    assert strip_markup('a="b" is > c, and x<y') == 'a="b" is > c, and x<y'
