"""Where a failed-over say resumes (issue 13): at the right character, for every
language Cartesia times by characters (Chinese, Japanese) or by words, and around
Cartesia's tags.

The resume point comes from matching Cartesia's timestamp "words" through the text
sent (`herald.text.WordMatcher`). The property tests use the emulator's own tokenizer
(`words_of`, which is how Cartesia times text today); the socket tests cut a real
WebSocket mid-say and compare everything fed to the stream with `synth_pcm` of the
whole text: nothing dropped, nothing twice.
"""

from __future__ import annotations

import pytest
import trio
import trio.testing
from hypothesis import given, settings
from hypothesis import strategies as st

from cartesia_emulator import Emulator, synth_pcm, words_of
from herald.cartesia.client import Tuning
from herald.speech import produce
from herald.text import WordMatcher
from herald.voice import VoiceParams
from speech_rig import RATE, Rig, local_pcm, start_rig

ZH = "今天天气很好。我们下午去公园散步吧。晚上一起吃饭，好吗？"
JA = "こんにちは。今日はいい天気ですね。公園へ散歩に行きましょう。"
KO = "안녕하세요. 오늘은 날씨가 좋네요. 공원에 산책하러 갑시다."
TAGGED = 'Call <spell>555-123-4567</spell> now.<break time="0.5s"/> Then wait for the tone.'
EN = "The washing machine has finished. Please take the laundry out before it creases."


def resume_of(text: str, heard: int) -> int:
    matcher = WordMatcher(text)
    assert matcher.heard(words_of(text)[:heard])
    return matcher.resume_at


@pytest.mark.parametrize("text", [ZH, JA, KO, TAGGED, EN, "你好 world. 世界，hello!"])
def test_every_word_boundary_resumes_at_the_next_word(text: str) -> None:
    words = words_of(text)
    for heard in range(len(words) + 1):
        at = resume_of(text, heard)
        assert words_of(text[at:]) == words[heard:], (heard, text[at:])
        assert synth_pcm(text[:at]) + synth_pcm(text[at:]) == synth_pcm(text)


english = st.lists(
    st.sampled_from(["the", "door", "bell", "rang", "twice,", "then", "stopped.", "Hello!"])
    | st.from_regex(r"[A-Za-z]{1,9}[,.!?]?", fullmatch=True),
    min_size=1,
    max_size=30,
).map(" ".join)


@settings(max_examples=200, deadline=None)
@given(english, st.data())
def test_an_english_say_cut_at_any_word_boundary_resumes_exactly(
    text: str, data: st.DataObject
) -> None:
    words = words_of(text)
    heard = data.draw(st.integers(0, len(words)))
    at = resume_of(text, heard)
    assert words_of(text[at:]) == words[heard:]
    assert synth_pcm(text[:at]) + synth_pcm(text[at:]) == synth_pcm(text)


def test_a_word_cartesia_did_not_time_as_written_stops_the_match() -> None:
    text = "Call 555-1234 now please."
    matcher = WordMatcher(text)
    assert not matcher.heard(["Call", "five", "five"])  # normalized: not in the text
    assert matcher.resume_at == text.index("555")  # resume after the last word found
    assert not matcher.heard(["now"])  # and stays there


# --- a real socket, cut mid-say ------------------------------------------------------


async def fresh_socket(rig: Rig) -> None:
    """A new socket, so that the emulator's chunk count (per socket) starts at 0."""
    before = rig.client.connections
    rig.emulator.cut_all()
    await rig.client.status.wait_until(lambda s: s.online and rig.client.connections > before)


async def speak_cut(rig: Rig, text: str, language: str, cut_after_chunks: int) -> bytes:
    emulator = rig.emulator
    await fresh_socket(rig)
    emulator.faults.cut_after_chunks = cut_after_chunks
    emulator.faults.cut_only_connection = rig.client.connections
    params = VoiceParams(model="sonic-3", voice=VOICE_ID, language=language, sample_rate=RATE)
    rig.sources.failover_wait = 5.0  # the socket comes back: resume on the cloud
    utt = rig.utterance(text=text, params=params)
    await produce(rig.sources, utt)
    metrics = await rig.recorders[-1].stream.wait_done()
    assert not metrics.interrupted
    emulator.faults.cut_after_chunks = None
    return bytes(rig.recorders[-1].fed)


VOICE_ID = "f786b574-daa5-4673-aa0c-cbe3e8534c02"


@pytest.mark.parametrize(("text", "language"), [(ZH, "zh"), (JA, "ja"), (TAGGED, "en")])
async def test_a_say_cut_mid_utterance_resumes_at_the_right_character(
    nursery: trio.Nursery,
    emulator: Emulator,
    autojump_clock: trio.testing.MockClock,
    text: str,
    language: str,
) -> None:
    emulator.faults.chunk_samples = 600  # 25 ms chunks: cuts land inside words
    # Many cuts in a row: keep the reconnect quick, as after a healthy connection.
    rig = await start_rig(nursery, emulator, tuning=Tuning(backoff_cap=0.5))
    total = -(-len(synth_pcm(text)) // 1200)
    for cut in range(2, total - 1, max(1, total // 12)):
        fed = await speak_cut(rig, text, language, cut)
        assert fed == synth_pcm(text), f"cut after {cut} chunks"
        assert rig.local.texts == []  # the cloud came back: no local voice
    assert rig.client.connections > 2


async def test_a_chinese_say_without_the_cloud_back_goes_local_from_the_right_character(
    nursery: trio.Nursery, emulator: Emulator, autojump_clock: trio.testing.MockClock
) -> None:
    emulator.faults.chunk_samples = 600
    rig = await start_rig(nursery, emulator)
    await fresh_socket(rig)
    emulator.faults.cut_after_chunks = 40  # after the first sentence and its timestamps
    emulator.faults.cut_only_connection = rig.client.connections
    emulator.faults.reject_status = 503  # the reconnect fails: the cloud is gone
    params = VoiceParams(model="sonic-3", voice=VOICE_ID, language="zh", sample_rate=RATE)
    utt = rig.utterance(text=ZH, params=params)
    await produce(rig.sources, utt)
    await rig.recorders[-1].stream.wait_done()
    (rest,) = rig.local.texts
    assert ZH.endswith(rest) and rest and rest != ZH
    heard = ZH[: len(ZH) - len(rest)]
    assert bytes(rig.recorders[-1].fed) == synth_pcm(heard, RATE) + local_pcm(rest)
