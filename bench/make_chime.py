"""Generate herald's built-in chime: daemon/herald/data/chime.wav.

Two soft bell tones a fourth apart (G5 then C6), 0.6 s, 24 kHz mono 16-bit. Each
tone has a raised-cosine attack and an exponential decay, with quieter, faster-decaying
upper partials; the whole ends in a raised-cosine fade, so the first and last samples
are exactly zero (no click at either end). Deterministic: running it again writes the
same file. Stdlib only.

    .venv/bin/python bench/make_chime.py [OUT.wav]
"""

from __future__ import annotations

import math
import sys
import wave
from array import array
from pathlib import Path

RATE = 24000
LENGTH_S = 0.6
PEAK = 0.5  # -6 dBFS: a chime, not an alarm
ATTACK_S = 0.008
FADE_OUT_S = 0.05

# (start s, frequency Hz, decay time constant s)
TONES = [(0.0, 783.99, 0.16), (0.15, 1046.50, 0.20)]
# (frequency multiple, relative level, decay speed-up): a soft bell timbre.
PARTIALS = [(1.0, 1.0, 1.0), (2.0, 0.25, 2.0), (3.0, 0.08, 3.0)]

OUT = Path(__file__).resolve().parent.parent / "daemon" / "herald" / "data" / "chime.wav"


def raised_cosine(x: float) -> float:
    """0 at x <= 0, 1 at x >= 1, smooth between."""
    x = min(max(x, 0.0), 1.0)
    return 0.5 - 0.5 * math.cos(math.pi * x)


def chime() -> list[float]:
    n = round(LENGTH_S * RATE)
    samples = [0.0] * n
    for start_s, freq, tau in TONES:
        start = round(start_s * RATE)
        for i in range(start, n):
            t = (i - start) / RATE
            env = raised_cosine(t / ATTACK_S)
            value = 0.0
            for multiple, level, speed in PARTIALS:
                value += (
                    level * math.exp(-t * speed / tau) * math.sin(2 * math.pi * freq * multiple * t)
                )
            samples[i] += env * value
    fade = round(FADE_OUT_S * RATE)
    for k in range(fade):
        samples[n - 1 - k] *= raised_cosine(k / fade)  # k = 0 (the last sample) -> 0
    peak = max(abs(s) for s in samples)
    return [s * PEAK / peak for s in samples]


def write(path: Path) -> None:
    pcm = array("h", (round(s * 32767) for s in chime()))
    if sys.byteorder != "little":
        pcm.byteswap()
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(RATE)
        out.writeframes(pcm.tobytes())
    print(f"wrote {path} ({len(pcm)} samples, {len(pcm) / RATE:.2f} s at {RATE} Hz)")


if __name__ == "__main__":
    write(Path(sys.argv[1]) if len(sys.argv) > 1 else OUT)
