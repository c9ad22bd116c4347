"""Calendar periods of a time series: days, ISO weeks (from Monday) and months.

A series covers the days from ``first`` to ``last``; each period in between is
one bucket, clipped to that range (the first and last weeks or months may be
partial) and zero when nothing happened. Dates run from 0001-01-01 (a Monday)
to 9999-12-31, so no period start or end ever falls outside them.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import date, timedelta

ONE_DAY = timedelta(days=1)


@dataclass(frozen=True)
class Period:
    """A bucket of a series: its first and last day, and the count over them."""

    start: date
    end: date
    count: int


def period_start(day: date, interval: str) -> date:
    """The first day of the period ``day`` falls in."""
    if interval == "week":
        return day - timedelta(days=day.weekday())
    if interval == "month":
        return day.replace(day=1)
    return day


def _next_start(start: date, interval: str) -> date | None:
    """The first day of the following period, or None past 9999-12-31."""
    try:
        if interval == "week":
            return start + timedelta(days=7)
        if interval == "month":
            if start.month == 12:
                return start.replace(year=start.year + 1, month=1)
            return start.replace(month=start.month + 1)
        return start + ONE_DAY
    except (OverflowError, ValueError):
        return None


def _starts(first: date, last: date, interval: str) -> Iterator[tuple[date, date]]:
    start: date | None = period_start(first, interval)
    while start is not None and start <= last:
        following = _next_start(start, interval)
        end = min(last, following - ONE_DAY) if following is not None else last
        yield start, end
        start = following


def periods(first: date, last: date, interval: str, daily: Mapping[date, int]) -> list[Period]:
    """Every period from ``first`` to ``last``, clipped to them, with the sum of ``daily``."""
    totals: Counter[date] = Counter()
    for day, count in daily.items():
        if first <= day <= last:
            totals[period_start(day, interval)] += count
    return [
        Period(start=max(start, first), end=end, count=totals[start])
        for start, end in _starts(first, last, interval)
    ]
