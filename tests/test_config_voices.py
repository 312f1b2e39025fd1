"""The voice keys of the config: generation defaults, pronunciation dictionary, the
removed mixes (refused on every API version), and [[transforms]]."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from herald.config import Config, ConfigError, build_config, parse_config
from herald.config.transforms import ACTIONS
from herald.limits import EMOTIONS
from herald.speech.transforms import PauseAfterQuestions, Replace, Spell
from herald.speech.voicing import Voicing, voice_defaults

A = [0.5] * 192
B = [-0.25] * 192
REMOVED = (
    "cartesia.mix: Cartesia removed voice embeddings and mixing on 2026-06-01; clone the "
    "voice you want with `herald voices clone FILE --name NAME` and use its id "
    "(cartesia.voice, or a name under cartesia.voices)"
)


def arr(values: list[float]) -> str:
    return "[" + ", ".join(repr(v) for v in values) + "]"


def mix_toml(version: str, parts: str | None = None, name: str = "blend") -> str:
    parts = parts or f"{{embedding = {arr(A)}, weight = 3}}, {{embedding = {arr(B)}}}"
    return f'[cartesia]\nversion = "{version}"\nvoice = "{name}"\n' + (
        f'[[cartesia.mix]]\nname = "{name}"\nvoices = [{parts}]\n'
    )


def errors(text: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_config(text, {})
    return info.value.errors


# --- generation defaults and the pronunciation dictionary ----------------------------


def test_generation_defaults_reach_the_voice() -> None:
    cfg = parse_config(
        '[cartesia]\nspeed = 0.8\nemotion = "calm"\nloudness = 2\n'
        'pronunciation_dict_id = "pdict_family"\n',
        {},
    )
    params = voice_defaults(cfg)
    assert (params.speed, params.emotion, params.volume) == (0.8, "calm", 2.0)
    assert params.pronunciation_dict_id == "pdict_family"
    unset = voice_defaults(parse_config("", {}))
    assert (unset.speed, unset.emotion, unset.volume, unset.pronunciation_dict_id) == (None,) * 4


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("speed = 0.59", "cartesia.speed = 0.59: must be a number from 0.6 to 1.5"),
        ("speed = 1.51", "cartesia.speed = 1.51: must be a number from 0.6 to 1.5"),
        ('speed = "fast"', 'cartesia.speed = "fast": must be a number from 0.6 to 1.5'),
        ("loudness = 0.4", "cartesia.loudness = 0.4: must be a number from 0.5 to 2.0"),
        ("loudness = 80", "cartesia.loudness = 80: must be a number from 0.5 to 2.0"),
        ('emotion = "joyful"', 'cartesia.emotion = "joyful": must be one of Cartesia\'s emotions'),
        ('emotion = "Happy"', "neutral, happy, excited"),
        (
            'pronunciation_dict_id = "kids names"',
            'cartesia.pronunciation_dict_id = "kids names": must be a pronunciation dictionary id',
        ),
    ],
)
def test_generation_errors_name_key_value_and_range(text: str, error: str) -> None:
    (found,) = errors(f"[cartesia]\n{text}\n")
    assert error in found, found


def test_every_emotion_and_the_range_ends_are_accepted() -> None:
    for emotion in EMOTIONS:
        assert parse_config(f'[cartesia]\nemotion = "{emotion}"', {}).cartesia.emotion == emotion
    for speed, loudness in ((0.6, 0.5), (1.5, 2.0), (1, 1)):
        c = parse_config(f"[cartesia]\nspeed = {speed}\nloudness = {loudness}", {}).cartesia
        assert (c.speed, c.loudness) == (speed, loudness)


# --- mixes: removed by Cartesia on 2026-06-01, on every version ---------------------


@pytest.mark.parametrize("version", ["2024-06-10", "2025-04-16", "2025-11-04", "2026-08-14"])
def test_a_mix_is_one_line_on_every_version(version: str) -> None:
    assert errors(mix_toml(version)) == [REMOVED]


@pytest.mark.parametrize(
    "block",
    [
        "[cartesia]\nmix = 3",
        "[cartesia]\nmix = []",
        '[[cartesia.mix]]\nname = "x"',
        f'[[cartesia.mix]]\nname = "a b"\nvoices = [{{embedding = {arr(A)}, weigth = 0}}]',
        "[[cartesia.mix]]\n[[cartesia.mix]]",
    ],
)
def test_any_mix_block_gives_the_same_one_line(block: str) -> None:
    assert errors(block) == [REMOVED]


def test_all_errors_at_once_across_sections() -> None:
    found = errors(
        '[cartesia]\nspeed = 9\n[[cartesia.mix]]\nname = "m"\nvoices = [{embedding = [1]}]\n'
        '[audio]\nvolume = 101\n[[transforms]]\nspell = "emails"\n'
    )
    assert [e.split(" ")[0].split(":")[0] for e in found] == [
        "cartesia.speed",
        "cartesia.mix",
        "audio.volume",
        "transforms[0].spell",
    ]


# --- [[transforms]] -------------------------------------------------------------------


def test_transforms_in_order() -> None:
    cfg = parse_config(
        '[[transforms]]\nreplace = {Siobhan = "Shiv-awn"}\n'
        '[[transforms]]\nspell = "phone_numbers"\n'
        "[[transforms]]\npause_after_questions = 0.4\n"
        '[[transforms]]\nspell = "codes"\n'
        '[[transforms]]\nspell_pattern = "\\\\b[0-9]{4}\\\\b"\n',
        {},
    )
    assert cfg.transforms == (
        Replace((("Siobhan", "Shiv-awn"),)),
        Spell("phone_numbers"),
        PauseAfterQuestions(0.4),
        Spell("codes"),
        Spell("pattern", r"\b[0-9]{4}\b"),
    )
    said = Voicing.from_config(cfg).text("Siobhan? Call 555-123-4567, PIN 4821.")
    assert said == (
        'Shiv-awn?<break time="0.4s"/> Call <spell>555-123-4567</spell>, PIN <spell>4821</spell>.'
    )


def test_inline_array_form_is_the_same() -> None:
    inline = parse_config(
        'transforms = [{spell = "phone_numbers"}, {pause_after_questions = 1}]', {}
    )
    blocks = parse_config(
        '[[transforms]]\nspell = "phone_numbers"\n[[transforms]]\npause_after_questions = 1\n',
        {},
    )
    assert inline == blocks


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("transforms = 3", "transforms = 3: must be an array of tables ([[transforms]] blocks)"),
        ("transforms = [3]", "transforms[0] = 3: must be a table ([[transforms]])"),
        (
            "[[transforms]]\nignore_case = true",
            "transforms[0]: needs exactly one of spell, spell_pattern, pause_after_questions, "
            "replace (has none)",
        ),
        (
            '[[transforms]]\nspell = "codes"\npause_after_questions = 1',
            "(has spell and pause_after_questions)",
        ),
        ('[[transforms]]\nspell = "emails"', 'transforms[0].spell = "emails": must be'),
        (
            '[[transforms]]\nspell_pattern = "[0-9"',
            'transforms[0].spell_pattern = "[0-9": not a valid regular expression',
        ),
        (
            "[[transforms]]\npause_after_questions = 11",
            "transforms[0].pause_after_questions = 11: must be a number of seconds from 0.1 to 10",
        ),
        (
            "[[transforms]]\npause_after_questions = 0",
            "transforms[0].pause_after_questions = 0: must be",
        ),
        ("[[transforms]]\nreplace = 3", "transforms[0].replace = 3: must be a table of words"),
        (
            '[[transforms]]\nreplace = {"" = "x"}',
            'transforms[0].replace = { "" = "x" }: must be a table of words',
        ),
        (
            "[[transforms]]\nreplace = {a = 1}",
            "transforms[0].replace = { a = 1 }: must be a table of words",
        ),
        (
            '[[transforms]]\nspell = "codes"\nignore_case = true',
            "transforms[0].ignore_case: only used with replace",
        ),
        (
            '[[transforms]]\nreplace = {Anna = "x", ANNA = "y"}\nignore_case = true',
            "transforms[0].replace: Anna and ANNA are the same word when case is ignored",
        ),
        ("[[transforms]]\npause = 1", "transforms[0].pause: unknown key (allowed: spell,"),
    ],
)
def test_transform_errors_name_the_block_and_key(text: str, error: str) -> None:
    found = errors(text)
    assert len(found) == 1 and error in found[0], found


def test_unknown_top_level_lists_transforms() -> None:
    (error,) = errors("[transform]\nspell = 1")
    assert "[[transforms]]" in error


def test_the_readme_transforms_example() -> None:
    from pathlib import Path

    readme = (Path(__file__).parent.parent / "README.md").read_text()
    start = readme.index("```toml", readme.index("**Text transforms** rewrite")) + len("```toml")
    cfg = parse_config(readme[start : readme.index("```", start)], {})
    said = Voicing.from_config(cfg).text("Siobhan? PIN 4821, code AB12CD, call 555-123-4567.")
    assert said == (
        'Shiv-awn?<break time="0.5s"/> PIN <spell>4821</spell>, code <spell>AB12CD</spell>, '
        "call <spell>555-123-4567</spell>."
    )


# --- robustness: anything in [[transforms]] and [[cartesia.mix]] -------------------


scalars = st.one_of(
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(),
    st.text(max_size=12),
    st.sampled_from(["phone_numbers", "codes", "a{4294967296}", "(", "(a+)+", "[0-9]{4}"]),
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner),
    max_leaves=6,
)
blocks = st.dictionaries(st.sampled_from([*ACTIONS, "ignore_case", "x"]), values, max_size=3)
embeddings = st.lists(st.floats(), min_size=192, max_size=192)
parts = st.dictionaries(st.sampled_from(["embedding", "weight", "w"]), values | embeddings)
mixes = st.dictionaries(
    st.sampled_from(["name", "voices", "x"]),
    values | st.sampled_from(["blend", "calm"]) | st.lists(parts | values, max_size=3),
)
versions = st.sampled_from(["2024-11-13", "2025-11-04", "2026-03-01"])


@settings(max_examples=300, deadline=None)
@given(
    st.lists(blocks | values, max_size=4) | values,
    st.lists(mixes | values, max_size=3) | values,
    versions,
    st.text(max_size=60),
)
def test_arbitrary_transforms_and_mixes(transforms: Any, mix: Any, version: str, text: str) -> None:
    data = {"transforms": transforms, "cartesia": {"version": version, "mix": mix}}
    try:
        cfg = build_config(data, {})
    except ConfigError as exc:
        assert exc.errors and all("\n" not in e for e in exc.errors)
        return
    assert isinstance(cfg, Config)
    voicing = Voicing.from_config(cfg)
    if "(a+)+" not in repr(transforms):  # a user's own slow pattern is theirs to fix
        assert isinstance(voicing.text(text), str)
