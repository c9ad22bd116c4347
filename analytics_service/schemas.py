"""Request and response models of the analytics API: the source of every field rule.

``openapi.yaml`` states the same rules for clients; ``tests/contract`` keeps the two
in step.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
)

from shared.text import check_text, clean_label

Status = Literal["lead", "active", "churned"]
Metric = Literal["signups", "churns", "notes"]
Interval = Literal["day", "week", "month"]
Dimension = Literal["status", "country", "segment", "tag"]
Rollup = Literal["status", "country", "segment", "tag", "signups", "churns", "notes"]

#: Longest time series, in days (``from`` and ``to`` included): three years.
MAX_SERIES_DAYS = 1096
#: Days in the summary's window, today included.
SUMMARY_DAYS = 30
DEFAULT_BUCKETS = 100
MAX_BUCKETS = 1000
COUNTRY_PATTERN = r"^[A-Za-z]{2}$"
DATE_PATTERN = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"
_DIGITS = re.compile(r"[0-9]{1,9}")


def parse_calendar_date(value: Any) -> Any:
    """``YYYY-MM-DD`` and nothing else (pydantic alone would take a date-time too)."""
    if isinstance(value, str) and not re.fullmatch(DATE_PATTERN, value):
        raise ValueError("must be a date written YYYY-MM-DD")
    return value


def parse_count(value: Any) -> Any:
    """A query integer written in digits only (no sign, spaces or underscores)."""
    if isinstance(value, str) and not _DIGITS.fullmatch(value):
        raise ValueError("must be a whole number written in digits")
    return value


# The customer service stores segments and tags cleaned (shared.text.clean_label), so a
# filter is cleaned the same way before it is compared.
Label = Annotated[
    str,
    BeforeValidator(check_text),
    StringConstraints(min_length=1, max_length=64),
    AfterValidator(clean_label),
]
Country = Annotated[str, StringConstraints(pattern=COUNTRY_PATTERN), AfterValidator(str.upper)]
CalendarDate = Annotated[date, BeforeValidator(parse_calendar_date)]
BucketLimit = Annotated[int, BeforeValidator(parse_count), Field(ge=1, le=MAX_BUCKETS)]


class _Query(BaseModel):
    """A query string: unknown parameters are errors, never silently dropped."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class SummaryQuery(_Query):
    """Query string of ``GET /analytics/summary``: nothing."""


class TimeseriesQuery(_Query):
    """Query string of ``GET /analytics/timeseries``."""

    metric: Metric
    interval: Interval = "day"
    #: First day counted; by default 29 days before ``to``.
    first: CalendarDate | None = Field(default=None, alias="from")
    #: Last day counted; by default today (UTC).
    last: CalendarDate | None = Field(default=None, alias="to")


class BreakdownQuery(_Query):
    """Query string of ``GET /analytics/breakdown``: a dimension and optional filters."""

    dimension: Dimension
    status: Status | None = None
    country: Country | None = None
    segment: Label | None = None
    tag: Label | None = None
    limit: BucketLimit = DEFAULT_BUCKETS

    def filters(self) -> dict[str, str]:
        """The filters given, by dimension."""
        given = {"status": self.status, "country": self.country}
        given |= {"segment": self.segment, "tag": self.tag}
        return {name: value for name, value in given.items() if value is not None}


class StatusCounts(BaseModel):
    """Live customers in each status."""

    lead: int
    active: int
    churned: int


class Window(BaseModel):
    """Signups, churns and notes over a span of days."""

    model_config = ConfigDict(populate_by_name=True, serialize_by_alias=True)

    first: date = Field(alias="from")
    last: date = Field(alias="to")
    signups: int
    churns: int
    notes: int


class Summary(BaseModel):
    """``GET /analytics/summary``."""

    live_customers: int
    by_status: StatusCounts
    last_30_days: Window
    as_of: datetime


class SeriesBucket(BaseModel):
    """One calendar period of a series, clipped to the range asked for."""

    start: date
    end: date
    count: int


class Timeseries(BaseModel):
    """``GET /analytics/timeseries``."""

    model_config = ConfigDict(populate_by_name=True, serialize_by_alias=True)

    metric: Metric
    interval: Interval
    first: date = Field(alias="from")
    last: date = Field(alias="to")
    total: int
    buckets: list[SeriesBucket]


class BreakdownBucket(BaseModel):
    """Live customers with one value of the dimension; ``value`` null: none set."""

    value: str | None
    count: int


class Breakdown(BaseModel):
    """``GET /analytics/breakdown``."""

    dimension: Dimension
    filters: dict[str, str]
    #: Live customers matching the filters.
    total: int
    buckets: list[BreakdownBucket]


class CustomerChanges(BaseModel):
    """What a reconcile changed in the per-customer states."""

    #: Customers the source lists that were not known here.
    added: int
    #: Customers the source has at a newer version than the one held.
    updated: int
    #: Customers held at the source's version but with other values.
    repaired: int
    #: Customers held as live that the source no longer has.
    deleted: int


class Drift(BaseModel):
    """One rollup row that differed from its recount, and what it is now."""

    rollup: Rollup
    #: The bucket value (null: none set) or the day (``YYYY-MM-DD``).
    key: str | None
    before: int
    after: int


class ReconcileReport(BaseModel):
    """``POST /analytics/reconcile``."""

    started_at: datetime
    finished_at: datetime
    #: Live customers the customer service listed.
    source_customers: int
    customers: CustomerChanges
    drift: list[Drift]
