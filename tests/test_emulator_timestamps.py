"""Tokens: what the audio is cut into and what word timestamps report, for Latin text,
Chinese and Japanese (one character each), Korean (words) and Cartesia's tags."""

from __future__ import annotations

import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cartesia_emulator import Emulator, synth_pcm, tone_samples, word_pcm, words_of
from cartesia_emulator.audio import split_complete
from test_emulator_ws import audio_of, connect, gen, send, until_end

Msg = dict[str, object]


def stamps_of(msgs: list[Msg]) -> tuple[list[str], list[float], list[float]]:
    words: list[str] = []
    starts: list[float] = []
    ends: list[float] = []
    for m in msgs:
        if m["type"] == "timestamps":
            wt = m["word_timestamps"]
            assert isinstance(wt, dict)
            words += wt["words"]
            starts += wt["start"]
            ends += wt["end"]
    return words, starts, ends


def streamed(parts: list[str]) -> list[str]:
    """The tokens a context completes when its text arrives in ``parts``, then closes."""
    words: list[str] = []
    pending = ""
    for part in parts:
        done, pending = split_complete(pending + part, final=False)
        words += done
    return words + split_complete(pending, final=True)[0]


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("Hello there, general Kenobi!", ["Hello", "there,", "general", "Kenobi!"]),
        ("こんにちは。", ["こ", "ん", "に", "ち", "は", "。"]),
        ("你好，我是你的智能助手。", list("你好，我是你的智能助手。")),
        ("私はAIアシスタントです", ["私", "は", "AI", *"アシスタントです"]),
        ("저는 여러분의 AI 어시스턴트입니다.", ["저는", "여러분의", "AI", "어시스턴트입니다."]),
        ('Home?<break time="0.5s"/> Ring.', ['Home?<break time="0.5s"/>', "Ring."]),
        ("Call <spell>555 1234</spell>.", ["Call", "<spell>555", "1234</spell>."]),
        ("I love to<spell>1234</spell>.", ["I", "love", "to<spell>1234</spell>."]),
        ('Wait <break time="80ms"/> now', ["Wait", '<break time="80ms"/>', "now"]),
        ('<emotion value="excited"/>Yes!', ['<emotion value="excited"/>Yes!']),
        ("3 < 5 and 6 > 2", ["3", "<", "5", "and", "6", ">", "2"]),
        ("ok <b c", ["ok", "<b", "c"]),  # never closed: not a tag
        ('你<break time="1s"/>好', ["你", '<break time="1s"/>', "好"]),
    ],
)  # fmt: skip
def test_tokens(text: str, words: list[str]) -> None:
    assert words_of(text) == words
    assert synth_pcm(text, 16000) == b"".join(word_pcm(w, 16000) for w in words)


def test_latin_audio_is_unchanged() -> None:
    # CRCs of synth_pcm before tags and CJK were tokenised (the 2025 emulator): the
    # daemon's captures of Latin text stay bit-exact.
    text = "Hello there, welcome to the emulator. How are you today?"
    assert zlib.crc32(synth_pcm(text, 24000)) == 3173971049
    assert zlib.crc32(synth_pcm(text, 8000)) == 1545757923
    odd = "Ünïcödé façade — déjà vu! «Quoted» (parens) 3 < 5 > 2 a<b>c"
    assert zlib.crc32(synth_pcm(odd, 44100)) == 3317679827


@settings(max_examples=300)
@given(st.text(alphabet=st.characters(codec="latin-1", exclude_characters="<"), max_size=60))
def test_latin_tokens_are_the_whitespace_split(text: str) -> None:
    assert words_of(text) == text.split()


ALPHABET = 'ab <>/="1.。你は안\n'


@settings(max_examples=1000)
@given(st.text(alphabet=ALPHABET, max_size=40), st.lists(st.integers(0, 40), max_size=8))
def test_any_split_yields_the_tokens_of_the_whole(text: str, cuts: list[int]) -> None:
    points = sorted({min(c, len(text)) for c in cuts})
    parts = [text[a:b] for a, b in zip([0, *points], [*points, len(text)], strict=True)]
    words = streamed(parts)
    assert words == words_of(text)
    position = 0  # each token is a substring of the text, in order
    for word in words:
        position = text.index(word, position) + len(word)


def test_cjk_streams_as_it_arrives() -> None:
    # A one-character token is complete at once; a Latin word waits for what follows.
    assert split_complete("你好", final=False) == (["你", "好"], "")
    assert split_complete("AI助", final=False) == (["AI", "助"], "")
    assert split_complete("AI", final=False) == ([], "AI")
    assert split_complete('Hi <break time="1', final=False) == (["Hi"], '<break time="1')


async def test_japanese_timestamps_one_character_each(emulator: Emulator) -> None:
    parts = ["こんに", "ちは。お手", "伝いできることがあれば、", "何でも聞いてください。"]
    text = "".join(parts)
    async with connect(emulator) as ws:
        await send(ws, *(gen("c", p, language="ja", add_timestamps=True) for p in parts))
        await send(ws, gen("c", "", more=False))
        msgs = (await until_end(ws, "c"))["c"]
    words, starts, ends = stamps_of(msgs)
    assert words == list(text)
    assert audio_of(msgs) == synth_pcm(text)
    offset = 0
    for word, start, end in zip(words, starts, ends, strict=True):
        assert start == pytest.approx(offset / 24000)
        assert end == pytest.approx((offset + tone_samples(word, 24000)) / 24000)
        offset += len(word_pcm(word, 24000)) // 2


async def test_korean_and_tags_in_timestamps(emulator: Emulator) -> None:
    text = '안녕하세요, 반갑습니다.<break time="1s"/> Call <spell>555-1234</spell>.'
    parts = [text[:7], text[7:30], text[30:41], text[41:]]  # mid-word and mid-tag
    async with connect(emulator) as ws:
        await send(ws, *(gen("c", p, add_timestamps=True) for p in parts))
        await send(ws, gen("c", "", more=False))
        msgs = (await until_end(ws, "c"))["c"]
    words, _, _ = stamps_of(msgs)
    assert words == [
        "안녕하세요,",
        '반갑습니다.<break time="1s"/>',
        "Call",
        "<spell>555-1234</spell>.",
    ]
    assert audio_of(msgs) == synth_pcm(text)


async def test_phonemes_skip_the_spaces_inside_a_tag(emulator: Emulator) -> None:
    async with connect(emulator) as ws:
        text = 'Hi<break time="1s"/>'
        await send(ws, gen("c", text, more=False, add_phoneme_timestamps=True))
        msgs = (await until_end(ws, "c"))["c"]
    (ph,) = [m for m in msgs if m["type"] == "phoneme_timestamps"]
    assert ph["phoneme_timestamps"]["phonemes"] == list(text.replace(" ", ""))  # type: ignore[index]
