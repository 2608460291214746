"""Date windows: consecutive, inclusive ``[from, until]`` ranges that never overlap and leave
no gap, at the server's granularity."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from itertools import pairwise

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from harvesting.windows import (
    Window,
    parse_duration,
    split_windows,
    windows_from_json,
    windows_to_json,
)
from schemas.dates import DAY, SECONDS, parse_datestamp
from schemas.errors import ConfigError

DETERMINISTIC = settings(derandomize=True, database=None, max_examples=150, deadline=None)
NOW = datetime(2025, 11, 20, 10, 11, 12)


def spans(windows: list[Window]) -> list[tuple[str | None, str | None]]:
    assert [w.index for w in windows] == list(range(len(windows)))
    return [(w.start, w.end) for w in windows]


# --- sizes -----------------------------------------------------------------------------------


def test_monthly_windows_at_day_granularity() -> None:
    windows = split_windows(datetime(2025, 1, 15), datetime(2025, 3, 10), NOW, DAY, "month")
    assert spans(windows) == [
        ("2025-01-15", "2025-01-31"),
        ("2025-02-01", "2025-02-28"),
        ("2025-03-01", "2025-03-10"),
    ]


def test_monthly_windows_across_a_year_end_and_a_leap_february() -> None:
    windows = split_windows(datetime(2023, 12, 5), datetime(2024, 3, 1), NOW, DAY, "month")
    assert spans(windows) == [
        ("2023-12-05", "2023-12-31"),
        ("2024-01-01", "2024-01-31"),
        ("2024-02-01", "2024-02-29"),
        ("2024-03-01", "2024-03-01"),
    ]


def test_monthly_is_the_default_size() -> None:
    assert split_windows(datetime(2025, 1, 15), datetime(2025, 3, 10), NOW, DAY) == split_windows(
        datetime(2025, 1, 15), datetime(2025, 3, 10), NOW, DAY, "month"
    )


def test_weekly_windows_break_on_mondays() -> None:
    # 2025-01-01 is a Wednesday; 2025-01-06 and 2025-01-13 are Mondays.
    windows = split_windows(datetime(2025, 1, 1), datetime(2025, 1, 15), NOW, DAY, "week")
    assert spans(windows) == [
        ("2025-01-01", "2025-01-05"),
        ("2025-01-06", "2025-01-12"),
        ("2025-01-13", "2025-01-15"),
    ]


def test_weekly_window_starting_on_a_monday_is_a_full_week() -> None:
    windows = split_windows(datetime(2025, 1, 6), datetime(2025, 1, 19), NOW, DAY, "week")
    assert spans(windows) == [("2025-01-06", "2025-01-12"), ("2025-01-13", "2025-01-19")]


def test_daily_windows_are_single_days() -> None:
    windows = split_windows(datetime(2025, 2, 27), datetime(2025, 3, 2), NOW, DAY, "day")
    assert spans(windows) == [
        ("2025-02-27", "2025-02-27"),
        ("2025-02-28", "2025-02-28"),
        ("2025-03-01", "2025-03-01"),
        ("2025-03-02", "2025-03-02"),
    ]


def test_yearly_windows() -> None:
    windows = split_windows(datetime(2023, 6, 1), datetime(2025, 2, 3), NOW, DAY, "year")
    assert spans(windows) == [
        ("2023-06-01", "2023-12-31"),
        ("2024-01-01", "2024-12-31"),
        ("2025-01-01", "2025-02-03"),
    ]


def test_size_none_is_one_window() -> None:
    windows = split_windows(datetime(2013, 9, 5), datetime(2025, 2, 3), NOW, DAY, "none")
    assert spans(windows) == [("2013-09-05", "2025-02-03")]


def test_range_inside_one_period_is_one_window() -> None:
    windows = split_windows(datetime(2025, 5, 3), datetime(2025, 5, 3), NOW, DAY, "month")
    assert spans(windows) == [("2025-05-03", "2025-05-03")]


def test_until_on_a_boundary_day() -> None:
    windows = split_windows(datetime(2025, 3, 31), datetime(2025, 4, 1), NOW, DAY, "month")
    assert spans(windows) == [("2025-03-31", "2025-03-31"), ("2025-04-01", "2025-04-01")]


# --- seconds granularity ---------------------------------------------------------------------


def test_monthly_windows_at_seconds_granularity_end_one_second_before_the_next() -> None:
    windows = split_windows(
        datetime(2025, 1, 15, 10, 0, 0), datetime(2025, 3, 10, 12, 30, 0), NOW, SECONDS, "month"
    )
    assert spans(windows) == [
        ("2025-01-15T10:00:00Z", "2025-01-31T23:59:59Z"),
        ("2025-02-01T00:00:00Z", "2025-02-28T23:59:59Z"),
        ("2025-03-01T00:00:00Z", "2025-03-10T12:30:00Z"),
    ]


def test_daily_windows_at_seconds_granularity() -> None:
    windows = split_windows(
        datetime(2025, 1, 1, 23, 0, 0), datetime(2025, 1, 2, 1, 0, 0), NOW, SECONDS, "day"
    )
    assert spans(windows) == [
        ("2025-01-01T23:00:00Z", "2025-01-01T23:59:59Z"),
        ("2025-01-02T00:00:00Z", "2025-01-02T01:00:00Z"),
    ]


# --- open ends -------------------------------------------------------------------------------


def test_without_until_the_last_window_is_open_ended() -> None:
    windows = split_windows(datetime(2025, 9, 15), None, NOW, DAY, "month")
    assert spans(windows) == [
        ("2025-09-15", "2025-09-30"),
        ("2025-10-01", "2025-10-31"),
        ("2025-11-01", None),
    ]
    assert windows[-1].params() == {"from": "2025-11-01"}


def test_without_start_there_is_one_window() -> None:
    assert spans(split_windows(None, datetime(2025, 2, 3), NOW, DAY, "month")) == [
        (None, "2025-02-03")
    ]
    assert spans(split_windows(None, None, NOW, DAY, "month")) == [(None, None)]


def test_start_after_the_server_clock_without_until_is_one_open_window() -> None:
    windows = split_windows(datetime(2026, 1, 1), None, NOW, DAY, "month")
    assert spans(windows) == [("2026-01-01", None)]


def test_window_params_and_label() -> None:
    assert Window(0, "2025-01-01", "2025-01-31").params() == {
        "from": "2025-01-01",
        "until": "2025-01-31",
    }
    assert Window(0, None, None).params() == {}
    assert "2025-01-01" in Window(0, "2025-01-01", None).label()


def test_windows_json_round_trip() -> None:
    windows = split_windows(datetime(2025, 9, 15), None, NOW, DAY, "month")
    assert windows_from_json(windows_to_json(windows)) == windows


# --- errors ----------------------------------------------------------------------------------


def test_from_after_until_is_a_config_error() -> None:
    with pytest.raises(ConfigError):
        split_windows(datetime(2025, 3, 1), datetime(2025, 2, 1), NOW, DAY, "month")


@pytest.mark.parametrize("size", ["fortnight", "months", ""])
def test_unknown_size_is_a_config_error(size: str) -> None:
    with pytest.raises(ConfigError):
        split_windows(datetime(2025, 1, 1), datetime(2025, 2, 1), NOW, DAY, size)


# --- coverage property -----------------------------------------------------------------------

_sizes = st.sampled_from(["day", "week", "month", "year", "none"])


def _assert_partition(
    windows: list[Window], start: datetime, until: datetime, granularity: str
) -> None:
    unit = timedelta(seconds=1) if granularity == SECONDS else timedelta(days=1)
    moment = "%Y-%m-%dT%H:%M:%SZ" if granularity == SECONDS else "%Y-%m-%d"
    assert windows[0].start == start.strftime(moment)
    assert windows[-1].end == until.strftime(moment)
    for window in windows:
        assert window.start is not None
        assert window.end is not None
        assert parse_datestamp(window.start) <= parse_datestamp(window.end)
    for before, after in pairwise(windows):
        assert before.end is not None
        assert after.start is not None
        assert parse_datestamp(before.end) + unit == parse_datestamp(after.start)


@DETERMINISTIC
@given(
    st.dates(min_value=date(2000, 1, 1), max_value=date(2030, 12, 31)),
    st.integers(0, 800),
    _sizes,
)
def test_day_windows_cover_the_range_without_gaps_or_overlaps(
    first: date, days: int, size: str
) -> None:
    start = datetime(first.year, first.month, first.day)
    until = start + timedelta(days=days)
    windows = split_windows(start, until, NOW, DAY, size)
    _assert_partition(windows, start, until, DAY)


@DETERMINISTIC
@given(
    st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2030, 12, 31)),
    st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=400)),
    _sizes,
)
def test_seconds_windows_cover_the_range_without_gaps_or_overlaps(
    start: datetime, length: timedelta, size: str
) -> None:
    start = start.replace(microsecond=0)
    until = (start + length).replace(microsecond=0)
    assume(start <= until)
    windows = split_windows(start, until, NOW, SECONDS, size)
    _assert_partition(windows, start, until, SECONDS)


@DETERMINISTIC
@given(
    st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2025, 11, 20)),
    _sizes,
)
def test_open_ended_windows_leave_no_gap_either(start: datetime, size: str) -> None:
    start = start.replace(microsecond=0)
    windows = split_windows(start, None, NOW, SECONDS, size)
    assert windows[0].start == start.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert windows[-1].end is None
    for before, after in pairwise(windows):
        assert before.end is not None
        assert after.start is not None
        assert parse_datestamp(before.end) + timedelta(seconds=1) == parse_datestamp(after.start)


# --- durations -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1d", timedelta(days=1)),
        ("12h", timedelta(hours=12)),
        ("30m", timedelta(minutes=30)),
        ("45s", timedelta(seconds=45)),
        ("1.5d", timedelta(days=1.5)),
        (" 2D ", timedelta(days=2)),
        ("3", timedelta(days=3)),
        ("0", timedelta(0)),
        ("", timedelta(0)),
    ],
)
def test_parse_duration(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["abc", "d", "1w", "1 day", "h12"])
def test_bad_durations_are_config_errors(text: str) -> None:
    with pytest.raises(ConfigError):
        parse_duration(text)
