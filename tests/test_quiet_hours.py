"""Quiet hours, tested directly (no trio, no clock)."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from herald.control.quiet_hours import Decision, QuietHours, Window, parse_window


def t(text: str) -> dt.time:
    return dt.time.fromisoformat(text)


def quiet(*windows: str, mode: str = "lower", volume: int = 30) -> QuietHours:
    assert mode in ("lower", "drop")
    return QuietHours([parse_window(w) for w in windows], mode, volume)  # type: ignore[arg-type]


# --- parsing ---


def test_parse_window() -> None:
    assert parse_window("22:00-07:00") == Window(t("22:00"), t("07:00"))
    assert parse_window("13:00-14:30") == Window(t("13:00"), t("14:30"))
    assert parse_window(" 7:05 - 8:00 ") == Window(t("07:05"), t("08:00"))
    assert parse_window("22:00-24:00") == Window(t("22:00"), t("00:00"))
    assert str(parse_window("22:00-24:00")) == "22:00-24:00"
    assert str(parse_window("7:05-8:00")) == "07:05-08:00"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", r'window "" is blank: expected "HH:MM-HH:MM" in 24-hour local time'),
        ("   ", r'window "   " is blank'),
        ("7-8", r'window "7-8" is not a time range: expected "HH:MM-HH:MM"'),
        ("22:00", r'window "22:00" is not a time range: expected "HH:MM-HH:MM"'),
        ("22:00-07:00-08:00", r"is not a time range"),
        ("２２:00-07:00", r"is not a time range"),  # fullwidth digits
        ("25:00-01:00", r'window "25:00-01:00": 25:00 is not a time of day \(hours 00 to 23'),
        ("22:00-07:60", r"07:60 is not a time of day"),
        ("22:00-24:30", r"24:30 is not a time of day"),
        ("24:00-06:00", r'"24:00-06:00": 24:00 can only end a window; start it at 00:00'),
        ("22:00-22:00", r'"22:00-22:00" is an empty window: it starts and ends at 22:00'),
        ("00:00-00:00", r"is an empty window"),
    ],
)
def test_bad_windows_say_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_window(text)


def test_bad_policy_values() -> None:
    with pytest.raises(ValueError, match="volume must be 0 to 100, not 101"):
        QuietHours([], "lower", 101)
    with pytest.raises(ValueError, match='mode must be "lower" or "drop"'):
        QuietHours([], "mute", 30)  # type: ignore[arg-type]


# --- when quiet ---


def test_window_crossing_midnight() -> None:
    q = quiet("22:00-07:00")
    for now in ("22:00", "23:59:59.999999", "00:00", "03:00", "06:59:59"):
        assert q.active(t(now)), now
    for now in ("07:00", "12:00", "21:59:59.999999"):
        assert not q.active(t(now)), now


def test_start_inclusive_end_exclusive() -> None:
    q = quiet("13:00-14:30")
    assert not q.active(t("12:59:59.999999"))
    assert q.active(t("13:00"))
    assert q.active(t("14:29:59.999999"))
    assert not q.active(t("14:30"))


def test_24_00_ends_at_midnight() -> None:
    q = quiet("22:00-24:00")
    assert q.active(t("22:00")) and q.active(t("23:59:59.999999"))
    assert not q.active(t("00:00")) and not q.active(t("21:59"))


def test_whole_day() -> None:
    q = quiet("00:00-24:00")
    assert all(q.active(dt.time(h, m)) for h in range(24) for m in range(60))


def test_no_windows_is_never_quiet() -> None:
    q = quiet()
    assert not q.active(t("03:00"))
    assert q.decide("normal", t("03:00"), 80) == Decision(play=True, volume=None)


def test_several_windows() -> None:
    q = quiet("22:00-07:00", "13:00-14:30")
    assert q.active(t("23:00")) and q.active(t("13:30"))
    assert not q.active(t("10:00")) and not q.active(t("14:30")) and not q.active(t("07:00"))


# --- what to do ---


def test_lower_caps_the_volume_but_never_raises_it() -> None:
    q = quiet("22:00-07:00", volume=30)
    assert q.decide("normal", t("23:00"), 80) == Decision(play=True, volume=30)
    assert q.decide("normal", t("23:00"), 20) == Decision(play=True, volume=20)
    assert q.decide("normal", t("12:00"), 80) == Decision(play=True, volume=None)


def test_drop() -> None:
    q = quiet("22:00-07:00", mode="drop")
    assert q.decide("normal", t("23:00"), 80) == Decision(play=False, volume=None)
    assert q.decide("normal", t("12:00"), 80) == Decision(play=True, volume=None)


@pytest.mark.parametrize("mode", ["lower", "drop"])
def test_high_priority_is_never_lowered_or_dropped(mode: str) -> None:
    q = quiet("00:00-24:00", mode=mode, volume=0)
    assert q.decide("high", t("03:00"), 80) == Decision(play=True, volume=None)


# --- property: agrees with a minute-by-minute reference ---


def minutes_of(start: int, end: int) -> set[int]:
    """The minutes of the day a window covers, walked one by one from its start."""
    covered, m = set(), start
    while True:
        covered.add(m)
        m = (m + 1) % 1440
        if m == end % 1440:
            return covered


def hhmm(minute: int) -> str:
    return f"{minute // 60:02}:{minute % 60:02}"


windows = st.tuples(st.integers(0, 1439), st.integers(1, 1440)).filter(lambda w: w[0] != w[1])
times = st.builds(
    dt.time,
    st.integers(0, 23),
    st.integers(0, 59),
    st.integers(0, 59),
    st.integers(0, 999_999),
)


@given(st.lists(windows, max_size=4), st.lists(times, min_size=1, max_size=20))
def test_active_agrees_with_a_minute_by_minute_reference(
    spans: list[tuple[int, int]], nows: list[dt.time]
) -> None:
    q = quiet(*(f"{hhmm(s)}-{hhmm(e)}" for s, e in spans))
    quiet_minutes = set().union(*(minutes_of(s, e) for s, e in spans))
    for now in nows:
        assert q.active(now) == (now.hour * 60 + now.minute in quiet_minutes), (spans, now)
