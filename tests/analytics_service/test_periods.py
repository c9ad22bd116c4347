"""Series buckets: one per calendar period, clipped to the range, zero when empty."""

from __future__ import annotations

from datetime import date

import pytest

from analytics_service.periods import Period, periods


def test_days_are_one_bucket_each_with_gaps_filled_with_zero() -> None:
    found = periods(date(2026, 3, 1), date(2026, 3, 4), "day", {date(2026, 3, 2): 5})

    assert [(p.start.day, p.end.day, p.count) for p in found] == [
        (1, 1, 0),
        (2, 2, 5),
        (3, 3, 0),
        (4, 4, 0),
    ]


def test_weeks_start_on_monday_and_the_edges_are_clipped_to_the_range() -> None:
    # 2026-03-04 is a Wednesday; 2026-03-17 a Tuesday.
    daily = {date(2026, 3, 4): 1, date(2026, 3, 8): 2, date(2026, 3, 9): 4, date(2026, 3, 3): 99}

    found = periods(date(2026, 3, 4), date(2026, 3, 17), "week", daily)

    assert found == [
        Period(date(2026, 3, 4), date(2026, 3, 8), 3),
        Period(date(2026, 3, 9), date(2026, 3, 15), 4),
        Period(date(2026, 3, 16), date(2026, 3, 17), 0),
    ]


def test_months_run_from_the_first_across_a_year_end() -> None:
    daily = {date(2025, 11, 30): 1, date(2025, 12, 31): 2, date(2026, 2, 1): 3}

    found = periods(date(2025, 11, 15), date(2026, 2, 10), "month", daily)

    assert found == [
        Period(date(2025, 11, 15), date(2025, 11, 30), 1),
        Period(date(2025, 12, 1), date(2025, 12, 31), 2),
        Period(date(2026, 1, 1), date(2026, 1, 31), 0),
        Period(date(2026, 2, 1), date(2026, 2, 10), 3),
    ]


@pytest.mark.parametrize("interval", ["day", "week", "month"])
def test_the_first_and_last_dates_there_are_make_no_overflow(interval: str) -> None:
    first = periods(date.min, date(1, 1, 20), interval, {date.min: 1})
    last = periods(date(9999, 12, 10), date.max, interval, {date.max: 1})

    assert (first[0].start, first[0].count) == (date.min, 1)
    assert (last[-1].end, last[-1].count) == (date.max, 1)
