"""Sample arithmetic: ramps land exactly, volume 100 changes nothing, changes never step."""

from __future__ import annotations

import math
from array import array

import pytest
from hypothesis import given
from hypothesis import strategies as st

from herald.audio.pcm import Volume, _mul_python, mul, ramp, volume_gain

samples_st = st.lists(st.integers(-32768, 32767), min_size=1, max_size=400)


def view(values: list[int]) -> tuple[array[int], memoryview]:
    a = array("h", values)
    return a, memoryview(a).cast("B").cast("h")


def test_volume_gain_ends_and_curve() -> None:
    assert volume_gain(100) == 1.0
    assert volume_gain(0) == 0.0
    assert volume_gain(50) == pytest.approx(0.25)
    assert all(volume_gain(v) < volume_gain(v + 1) for v in range(100))
    with pytest.raises(ValueError, match="0-100"):
        volume_gain(101)


@given(samples_st)
def test_fade_in_ends_at_unity_and_fade_out_at_zero(values: list[int]) -> None:
    a, v = view(values)
    ramp(v, 0.0, 1.0)
    assert a[-1] == values[-1]  # the last sample of a fade-in is untouched
    a, v = view(values)
    ramp(v, 1.0, 0.0)
    assert a[-1] == 0


@given(samples_st, st.floats(0, 1), st.floats(0, 1))
def test_ramp_is_a_straight_line_of_gains(values: list[int], start: float, end: float) -> None:
    a, v = view(values)
    ramp(v, start, end)
    n = len(values)
    for i, (x, y) in enumerate(zip(values, a, strict=True)):
        gain = start + (end - start) * (i + 1) / n
        assert y == pytest.approx(math.floor(x * gain), abs=1)
        assert abs(y) <= abs(x)


@given(samples_st, st.floats(0, 1))
def test_python_fallback_matches_audioop(values: list[int], factor: float) -> None:
    data = array("h", values).tobytes()
    assert _mul_python(data, 2, factor) == mul(data, 2, factor)


def test_volume_100_leaves_samples_alone() -> None:
    a, v = view([1, -2, 32767, -32768, 12345])
    Volume(100, 240).apply(v)
    assert list(a) == [1, -2, 32767, -32768, 12345]


def test_steady_volume_scales() -> None:
    a, v = view([20000] * 10 + [-20000] * 10)
    Volume(50, 240).apply(v)
    assert list(a) == [5000] * 10 + [-5000] * 10


def test_volume_zero_is_silence() -> None:
    a, v = view([20000, -5, 7])
    Volume(0, 240).apply(v)
    assert list(a) == [0, 0, 0]


@given(
    st.integers(0, 100),
    st.integers(0, 100),
    st.lists(st.integers(1, 300), min_size=1, max_size=12),
)
def test_volume_change_ramps_without_a_step_whatever_the_blocks(
    before: int, after: int, blocks: list[int]
) -> None:
    """A change mid-playback moves the gain in steps no bigger than one ramp frame's."""
    ramp_frames = 240
    volume = Volume(before, ramp_frames)
    volume.set(after)
    out: list[int] = []
    for size in blocks:
        a, v = view([30000] * size)
        volume.apply(v)
        out.extend(a)
    largest = max(abs(out[i + 1] - out[i]) for i in range(len(out) - 1)) if len(out) > 1 else 0
    assert largest <= 30000 / ramp_frames + 1
    first_gain = volume_gain(before)
    assert abs(out[0] - 30000 * first_gain) <= 30000 / ramp_frames + 1
    if len(out) >= ramp_frames:
        assert out[ramp_frames - 1 :] == [math.floor(30000 * volume_gain(after))] * (
            len(out) - ramp_frames + 1
        )
    assert volume.volume == after


def test_volume_change_during_a_ramp_starts_from_where_it_is() -> None:
    volume = Volume(100, 100)
    volume.set(0)
    a, v = view([10000] * 50)
    volume.apply(v)
    assert volume.gain == pytest.approx(0.5)
    volume.set(100)
    b, w = view([10000] * 100)
    volume.apply(w)
    joined = list(a) + list(b)
    assert max(abs(joined[i + 1] - joined[i]) for i in range(len(joined) - 1)) <= 101
    assert b[-1] == 10000
