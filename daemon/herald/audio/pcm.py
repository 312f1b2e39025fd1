"""Sample arithmetic on int16 mono PCM: gain ramps (fades) and software volume.

Samples are handled as ``memoryview(...).cast("h")``, which is native byte order;
herald runs on little-endian hosts only (every Raspberry Pi, x86), where that is
the S16_LE that Cartesia sends and ALSA is opened with.

Nothing here allocates per sample. Ramps (fades, volume changes) are at most a few
hundred samples of plain Python; a steady volume below 100 uses ``audioop.mul``,
which is C. Volume 100 with no ramp touches nothing, so samples pass unchanged.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable

__all__ = ["Volume", "mul", "ramp", "volume_gain"]


def _mul_python(data: bytes | bytearray | memoryview, width: int, factor: float) -> bytes:
    """``audioop.mul`` for 16-bit samples, for a Python without audioop (slow but exact)."""
    out = bytearray(data)
    samples = memoryview(out).cast("h")
    floor = math.floor
    for i in range(len(samples)):
        samples[i] = max(-32768, min(32767, floor(samples[i] * factor)))
    return bytes(out)


def _load_mul() -> Callable[[bytes | bytearray | memoryview, int, float], bytes]:
    # audioop is in the standard library up to 3.12 (deprecated since 3.11, hence the
    # filter); from 3.13 on the PyPI package audioop-lts provides the same module.
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            import audioop
    except ImportError:
        return _mul_python
    return audioop.mul


# mul(data, 2, factor): every sample times factor, floored, clipped to int16.
mul = _load_mul()


def volume_gain(volume: int) -> float:
    """Linear gain for a volume of 0-100: a square law, close to perceived loudness.

    100 is exactly 1.0 (samples unchanged), 50 is 0.25 (-12 dB), 0 is silence.
    """
    if not 0 <= volume <= 100:
        raise ValueError(f"volume must be 0-100, not {volume}")
    return (volume / 100) ** 2


def ramp(samples: memoryview, start: float, end: float) -> None:
    """Scale ``samples`` in place by a gain moving in a straight line from start to end.

    Sample ``i`` of ``n`` gets ``start + (end - start) * (i + 1) / n``, so the last one
    gets exactly ``end``: a fade-in ends at unity and joins the untouched samples after
    it without a step, and a fade-out ends at exact zero. Gains are within 0-1, so no
    result can overflow. Rounds down, like ``audioop.mul``.
    """
    n = len(samples)
    if n == 0:
        return
    step = (end - start) / n
    floor = math.floor
    for i in range(n - 1):
        samples[i] = floor(samples[i] * (start + step * (i + 1)))
    samples[n - 1] = floor(samples[n - 1] * end)  # exactly end, whatever the float dust


class Volume:
    """Software volume whose changes are ramped, so a change never makes a step.

    ``apply`` is called on every block sent to the device, in order; a ramp started by
    ``set`` runs over the next ``ramp_frames`` frames, whatever the block sizes.
    """

    def __init__(self, volume: int, ramp_frames: int) -> None:
        self._volume = volume
        self._gain = volume_gain(volume)
        self._target = self._gain
        self._ramp_frames = max(1, ramp_frames)
        self._left = 0  # frames left in the current ramp

    @property
    def volume(self) -> int:
        return self._volume

    @property
    def gain(self) -> float:
        """The gain applied to the last frame so far."""
        return self._gain

    def set(self, volume: int) -> None:
        target = volume_gain(volume)
        self._volume = volume
        if target == self._target:
            return
        self._target = target
        self._left = self._ramp_frames

    def apply(self, block: memoryview) -> None:
        """Apply the volume in place to ``block`` (int16 samples, ``cast("h")``)."""
        n = len(block)
        done = 0
        if self._left:
            k = min(self._left, n)
            step = (self._target - self._gain) / self._left
            end = self._gain + step * k
            if k == self._left:
                end = self._target  # land exactly, whatever the float rounding
            ramp(block[:k], self._gain, end)
            self._gain = end
            self._left -= k
            done = k
        if done == n or self._gain == 1.0:
            return
        rest = block[done:]
        if self._gain == 0.0:
            rest.cast("B")[:] = bytes(len(rest) * 2)
        else:
            rest.cast("B")[:] = mul(rest.cast("B"), 2, self._gain)
