"""The withdrawal deadline (L221-18, L221-19) and billing periods, in Paris time."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from subscriptions import deadlines

PARIS = ZoneInfo("Europe/Paris")


@pytest.mark.parametrize(
    ("year", "easter"),
    [(2024, date(2024, 3, 31)), (2025, date(2025, 4, 20)), (2026, date(2026, 4, 5)),
     (2027, date(2027, 3, 28)), (2028, date(2028, 4, 16)), (2038, date(2038, 4, 25))],
)  # fmt: skip
def test_easter_sunday(year, easter):
    assert deadlines.easter_sunday(year) == easter


@pytest.mark.parametrize(
    ("concluded_on", "last_day", "why"),
    [
        (date(2026, 3, 2), date(2026, 3, 16), "a Monday: day 14 is a Monday"),
        (date(2026, 3, 6), date(2026, 3, 20), "a Friday: day 14 is a Friday"),
        (date(2026, 3, 7), date(2026, 3, 23), "day 14 a Saturday: next Monday"),
        (date(2026, 3, 8), date(2026, 3, 23), "day 14 a Sunday: next Monday"),
        (date(2026, 3, 23), date(2026, 4, 7), "day 14 Easter Monday: Tuesday"),
        (
            date(2026, 3, 20),
            date(2026, 4, 7),
            "day 14 Good Friday, then a weekend and Easter Monday",
        ),
        (date(2026, 4, 30), date(2026, 5, 15), "day 14 Ascension (14 May 2026): Friday"),
        (date(2026, 4, 17), date(2026, 5, 4), "day 14 1 May, a Friday: Monday"),
        (date(2026, 7, 1), date(2026, 7, 15), "day 14 is 15 July, a working day"),
        (date(2026, 6, 30), date(2026, 7, 15), "day 14 14 July: the 15th"),
        (date(2026, 12, 11), date(2026, 12, 28), "25 and 26 December, then Sunday"),
        (date(2026, 12, 18), date(2027, 1, 4), "1 January 2027, a Friday: Monday"),
        (date(2028, 2, 15), date(2028, 2, 29), "leap year: day 14 is 29 February"),
        (date(2027, 2, 15), date(2027, 3, 1), "no 29 February in 2027"),
    ],
)
def test_withdrawal_last_day(concluded_on, last_day, why):
    assert deadlines.withdrawal_last_day(concluded_on) == last_day, why


def test_the_deadline_is_paris_midnight_after_the_last_day():
    """GIVEN a contract concluded at 00:30 in Paris (still the previous day in UTC)
    WHEN the deadline is computed THEN the Paris day counts, and the period closes
    at the midnight that ends the 14th day, Paris time."""
    concluded = datetime(2026, 3, 1, 23, 30, tzinfo=UTC)  # 2 March, 00:30 in Paris

    deadline = deadlines.withdrawal_deadline(concluded)

    assert deadline == datetime(2026, 3, 17, 0, 0, tzinfo=PARIS)
    assert deadline.astimezone(UTC) == datetime(2026, 3, 16, 23, 0, tzinfo=UTC)


def test_the_deadline_follows_summer_time():
    """Concluded 16 March 2026: day 14 is Monday 30 March, after the clocks changed."""
    deadline = deadlines.withdrawal_deadline(datetime(2026, 3, 16, 10, 0, tzinfo=PARIS))
    assert deadline.astimezone(UTC) == datetime(2026, 3, 30, 22, 0, tzinfo=UTC)


def test_a_naive_datetime_is_refused():
    with pytest.raises(ValueError):
        deadlines.withdrawal_deadline(datetime(2026, 3, 2, 12, 0))


@pytest.mark.parametrize(
    ("start", "months", "anchor", "expected"),
    [
        (date(2026, 1, 31), 1, None, date(2026, 2, 28)),
        (date(2028, 1, 31), 1, None, date(2028, 2, 29)),
        (date(2026, 2, 28), 1, 31, date(2026, 3, 31)),
        (date(2026, 4, 30), 1, 31, date(2026, 5, 31)),
        (date(2026, 12, 15), 1, None, date(2027, 1, 15)),
        (date(2028, 2, 29), 12, None, date(2029, 2, 28)),
        (date(2029, 2, 28), 12, 29, date(2030, 2, 28)),
        (date(2027, 2, 28), 12, 29, date(2028, 2, 29)),
    ],
)
def test_add_months_clamps_and_keeps_the_anchor_day(start, months, anchor, expected):
    assert deadlines.add_months(start, months, anchor_day=anchor) == expected


def test_period_end_keeps_the_paris_time_of_day_across_summer_time():
    start = datetime(2026, 3, 10, 9, 15, tzinfo=PARIS)  # winter time
    end = deadlines.period_end(start, "month")
    assert end == datetime(2026, 4, 10, 9, 15, tzinfo=PARIS)  # summer time, same wall clock
    assert end.astimezone(UTC) - start.astimezone(UTC) == timedelta(days=31, hours=-1)
