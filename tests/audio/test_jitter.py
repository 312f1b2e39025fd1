"""Jitter-buffer decisions as plain logic: lateness, the start threshold, the playout states."""

from __future__ import annotations

from array import array

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from herald.audio.jitter import Lateness, StartTarget, TargetTuning
from herald.audio.pcm import ramp
from herald.audio.playout import Phase, Playout

RATE = 24000
FADE = 120  # 5 ms


def tone(frames: int, start: int = 0) -> bytes:
    """A test signal with no zero sample, each sample telling its position."""
    return array("h", [(i + start) % 20000 + 1000 for i in range(frames)]).tobytes()


def fixed(seconds: float) -> StartTarget:
    return StartTarget(TargetTuning(floor=seconds, ceiling=seconds, seed=seconds))


def render(playout: Playout, frames: int) -> tuple[list[int], int]:
    out = array("h", [-1] * frames)
    used = playout.render(memoryview(out).cast("B").cast("h"))
    return list(out[:used]), used


# -- lateness


def test_the_worked_example_of_the_notes() -> None:
    """40 ms chunks arriving at 0, 15, 30, 260, 270, 280 ms: D* is 140 ms."""
    lateness = Lateness(RATE)
    for at in (0.000, 0.015, 0.030, 0.260, 0.270, 0.280):
        lateness.record(at, 960)
    assert lateness.max_lateness == pytest.approx(0.140)
    # From the best earlier moment (chunk 2 in hand at 30 ms with 120 ms of audio),
    # the stall left the stream 230 - 0 ms behind: that much audio rides it out.
    assert lateness.max_relative == pytest.approx(0.230)
    assert lateness.frames == 6 * 960
    assert lateness.first_arrival == 0.0
    assert list(lateness.values) == pytest.approx([0.0, -0.025, -0.050, 0.140, 0.110, 0.080])


def test_a_fast_server_is_never_late() -> None:
    lateness = Lateness(RATE)
    for i in range(20):
        assert lateness.record(i * 0.010, 960) <= 0  # 40 ms of audio every 10 ms
    assert lateness.max_lateness == 0.0
    assert lateness.max_relative == pytest.approx(0.010)  # the gap between chunks


chunks_st = st.lists(
    st.tuples(st.integers(0, 400), st.integers(1, 4800)),  # (ms since the last chunk, frames)
    min_size=1,
    max_size=40,
)


def arrivals(chunks: list[tuple[int, int]]) -> list[tuple[float, int]]:
    now, out = 0.0, []
    for gap_ms, frames in chunks:
        now += gap_ms / 1000
        out.append((now, frames))
    return out


@given(chunks_st)
def test_starting_d_star_after_the_first_chunk_never_runs_dry(
    chunks: list[tuple[int, int]],
) -> None:
    lateness = Lateness(RATE)
    trace = arrivals(chunks)
    for at, frames in trace:
        lateness.record(at, frames)
    start = trace[0][0] + lateness.max_lateness
    media = 0
    for at, frames in trace:
        assert at <= start + media / RATE + 1e-9
        media += frames


@given(chunks_st)
def test_buffering_the_max_relative_lateness_never_runs_dry(chunks: list[tuple[int, int]]) -> None:
    """Start once the audio in hand reaches max_relative: every chunk comes in time."""
    lateness = Lateness(RATE)
    trace = arrivals(chunks)
    for at, frames in trace:
        lateness.record(at, frames)
    received = 0  # = the media position where the next chunk starts
    start = None
    for at, frames in trace:
        if start is not None:
            assert at <= start + received / RATE + 1e-9
        received += frames
        if start is None and received / RATE >= lateness.max_relative - 1e-9:
            start = at


# -- the start threshold


def test_seed_until_the_first_utterance_then_clamped() -> None:
    target = StartTarget()
    assert target.seconds == pytest.approx(0.400)
    target.observe(0.0)
    assert target.seconds == pytest.approx(TargetTuning().floor)
    target.observe(5.0)
    assert target.seconds == pytest.approx(TargetTuning().ceiling)


def test_a_stall_is_covered_at_once_and_forgotten_after_calm_utterances() -> None:
    target = StartTarget(lead=0.030)
    for _ in range(30):
        target.observe(0.010)
    assert target.seconds == pytest.approx(0.060)
    target.observe(0.300)
    assert target.seconds == pytest.approx(0.340)  # the stall, the margin, the lead
    remembered = 0
    while target.seconds > 0.300:
        target.observe(0.010)
        remembered += 1
    assert 5 <= remembered <= 15
    assert target.seconds == pytest.approx(0.060)


def test_recurring_stalls_stay_covered() -> None:
    target = StartTarget()
    for i in range(200):
        target.observe(0.250 if i % 8 == 0 else 0.010)
        if i:
            assert target.seconds >= 0.250


def test_rare_stalls_are_the_quantile_s_to_ignore() -> None:
    """NetEQ-like: a stall in 1 utterance of 100 does not hold the threshold up."""
    target = StartTarget()
    for i in range(300):
        target.observe(0.400 if i % 100 == 50 else 0.020)
    assert target.seconds == pytest.approx(0.060)


def test_rebuffer_grows_with_what_this_utterance_showed() -> None:
    target = StartTarget(lead=0.030)
    target.observe(0.0)
    assert target.rebuffer_seconds(0.0) == pytest.approx(0.060)
    assert target.rebuffer_seconds(0.250) == pytest.approx(0.290)
    assert target.rebuffer_seconds(3.0) == pytest.approx(0.800)


# -- one utterance's playout


def test_samples_pass_unchanged_in_any_blocks() -> None:
    data = tone(5000)
    p = Playout(RATE, fixed(0.060), FADE)
    for i in range(0, len(data), 777):  # odd sizes: split samples are rejoined
        p.push(data[i : i + 777], 0.0)
    p.end()
    out: list[int] = []
    sizes = iter([1, 100, 3000, 7, 5000])
    while not p.done:
        got, _ = render(p, next(sizes))
        out += got
    assert array("h", out).tobytes() == data
    assert p.underruns == 0


def test_waits_for_the_threshold_then_starts_without_a_fade() -> None:
    p = Playout(RATE, fixed(0.100), FADE)
    p.push(tone(2000), 0.0)  # 83 ms
    assert not p.ready()
    assert render(p, 500) == ([], 0)
    assert p.phase is Phase.PREBUFFER
    p.push(tone(2000, 2000), 0.01)
    assert p.ready()
    got, used = render(p, 500)
    assert used == 500
    assert array("h", got).tobytes() == tone(500)


def test_a_short_whole_utterance_starts_at_once() -> None:
    p = Playout(RATE, fixed(0.500), FADE)
    p.push(tone(240), 0.0)
    p.end()
    assert p.ready()
    got, used = render(p, 1000)
    assert array("h", got).tobytes() == tone(240)
    assert used == 240 and p.done and p.underruns == 0


def test_running_dry_fades_out_goes_silent_and_fades_back_in() -> None:
    p = Playout(RATE, fixed(0.060), FADE)
    p.push(tone(2000), 0.0)
    first, _ = render(p, 1500)  # plays 1500, keeps 500
    assert array("h", first).tobytes() == tone(1500)
    dry, used = render(p, 1000)  # 380 spare, 120 faded, then silence
    assert used == 1000 and p.underruns == 1 and p.phase is Phase.REBUFFER
    spare, fade, silence = dry[:380], dry[380:500], dry[500:]
    assert array("h", spare).tobytes() == tone(380, 1500)
    expected = array("h", tone(120, 1880))
    ramp(memoryview(expected).cast("B").cast("h"), 1.0, 0.0)
    assert fade == list(expected) and fade[-1] == 0
    assert all(abs(fade[i + 1]) <= abs(fade[i]) + 50 for i in range(119))
    assert silence == [0] * 500
    assert render(p, 300) == ([0] * 300, 300)  # still re-buffering: silence
    p.push(tone(3000, 2000), 0.5)  # 125 ms: above the threshold
    back, _ = render(p, 1000)
    fade_in = array("h", tone(120, 2000))
    ramp(memoryview(fade_in).cast("B").cast("h"), 0.0, 1.0)
    assert back[:120] == list(fade_in)
    assert array("h", back[120:]).tobytes() == tone(880, 2120)
    assert p.frames_played == 3000 and p.silence_frames == 800


def test_the_end_is_not_an_underrun() -> None:
    p = Playout(RATE, fixed(0.060), FADE)
    p.push(tone(2000), 0.0)
    render(p, 1000)
    p.end()
    got, used = render(p, 5000)
    assert used == 1000 and p.done and p.underruns == 0
    assert array("h", got).tobytes() == tone(1000, 1000)  # no fade at the end


def test_interrupt_fades_within_the_fade_and_drops_the_rest() -> None:
    p = Playout(RATE, fixed(0.060), FADE)
    p.push(tone(24000), 0.0)
    render(p, 1000)
    p.interrupt()
    got, used = render(p, 5000)
    assert used == FADE and p.done
    assert got[-1] == 0
    assert p.frames_dropped == 24000 - 1000 - FADE
    p.push(tone(100), 1.0)  # late chunks of an interrupted stream are ignored
    assert render(p, 100) == ([], 0)


def test_interrupt_before_starting_plays_nothing() -> None:
    p = Playout(RATE, fixed(0.5), FADE)
    p.push(tone(1000), 0.0)
    p.interrupt()
    assert p.ready()
    assert render(p, 100) == ([], 0)
    assert p.done and p.frames_played == 0


def test_suspend_resumes_with_a_fade_in() -> None:
    p = Playout(RATE, fixed(0.060), FADE)
    p.push(tone(5000), 0.0)
    render(p, 1000)
    p.suspend()  # the device died
    assert p.phase is Phase.REBUFFER and p.underruns == 0
    got, _ = render(p, 1000)
    fade_in = array("h", tone(120, 1000))
    ramp(memoryview(fade_in).cast("B").cast("h"), 0.0, 1.0)
    assert got[:120] == list(fade_in)


def test_odd_bytes_wait_for_their_other_half() -> None:
    p = Playout(RATE, fixed(0.0), FADE)
    data = tone(300)
    p.push(data[:1], 0.0)
    assert p.buffered == 0
    p.push(data[1:], 0.0)
    assert p.end()
    got, _ = render(p, 300)
    assert array("h", got).tobytes() == data
    q = Playout(RATE, fixed(0.0), FADE)
    q.push(data[:3], 0.0)
    assert not q.end()  # half a sample was left over


ticks_st = st.sampled_from([0.005, 0.010, 0.025])


@settings(max_examples=200, deadline=None)
@given(chunks_st, ticks_st)
def test_a_threshold_above_the_relative_lateness_never_underruns(
    chunks: list[tuple[int, int]], tick: float
) -> None:
    """The playout itself, rendering a tick ahead, with a threshold covering the need."""
    lateness = Lateness(RATE)
    trace = arrivals(chunks)
    for at, frames in trace:
        lateness.record(at, frames)
    need = lateness.max_relative + tick + 2 * FADE / RATE
    p = Playout(RATE, fixed(need), FADE)
    pending = list(trace)
    step = round(tick * RATE)
    now = 0.0
    media = 0
    while not p.done:
        while pending and pending[0][0] <= now + 1e-9:
            at, frames = pending.pop(0)
            p.push(tone(frames, media), at)
            media += frames
        if not pending:
            p.end()
        render(p, step)
        now += tick
    assert p.underruns == 0


def test_truncate_drops_the_buffered_tail_and_continues_from_the_cut() -> None:
    """A failover resumes at a word boundary: audio past it is dropped, not played."""
    p = Playout(RATE, fixed(0.060), FADE)
    p.push(tone(3000), 0.0)
    p.push(tone(3000, 3000), 0.01)
    played, _ = render(p, 1000)
    assert not p.truncate(900)  # already played past that point
    assert p.truncate(4500)  # cuts inside the second chunk
    assert p.buffered == 3500 and p.frames_dropped == 1500
    p.push(tone(2000, 50000), 0.5)  # the continuation, from the cut
    p.end()
    rest, _ = render(p, 10000)
    assert array("h", played + rest).tobytes() == tone(4500) + tone(2000, 50000)
    assert p.done and p.underruns == 0
    q = Playout(RATE, fixed(0.060), FADE)
    q.push(tone(1000), 0.0)
    assert q.truncate(5000) and q.buffered == 1000  # nothing past the cut: no-op
    assert q.truncate(0) and q.buffered == 0
