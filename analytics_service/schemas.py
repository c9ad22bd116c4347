"""Request and response models of the analytics API: the source of every field rule.

``openapi.yaml`` states the same rules for clients; ``tests/contract`` keeps the two
in step.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Annotated, Any, Literal
from uuid import UUID

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
SentimentGroupBy = Literal["segment", "customer"]
#: Most notes first; lowest mean first (the most negative); highest mean first.
SentimentSort = Literal["notes", "mean", "-mean"]

#: Longest time series, in days (``from`` and ``to`` included): three years.
MAX_SERIES_DAYS = 1096
#: Days in the summary's window, today included.
SUMMARY_DAYS = 30
DEFAULT_BUCKETS = 100
MAX_BUCKETS = 1000
COUNTRY_PATTERN = r"^[A-Za-z]{2}$"
DATE_PATTERN = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"
#: A UUID written as the services write them (any case): 8-4-4-4-12 hex digits.
UUID_PATTERN = r"^[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}$"
_DIGITS = re.compile(r"[0-9]{1,9}")


def parse_calendar_date(value: Any) -> Any:
    """``YYYY-MM-DD`` and nothing else (pydantic alone would take a date-time too)."""
    if isinstance(value, str) and not re.fullmatch(DATE_PATTERN, value):
        raise ValueError("must be a date written YYYY-MM-DD")
    return value


def parse_uuid(value: Any) -> Any:
    """A UUID in its hyphenated form only (pydantic alone takes 32 bare digits or braces)."""
    if isinstance(value, str) and not re.fullmatch(UUID_PATTERN, value):
        raise ValueError("must be a UUID written 8-4-4-4-12 hex digits")
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
CustomerId = Annotated[UUID, BeforeValidator(parse_uuid)]


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


class SentimentQuery(_Query):
    """Query string of ``GET /analytics/sentiment``: a grouping, filters and an order."""

    by: SentimentGroupBy = "segment"
    segment: Label | None = None
    customer_id: CustomerId | None = None
    #: Notes written on or after this UTC day.
    first: CalendarDate | None = Field(default=None, alias="from")
    #: Notes written on or before this UTC day.
    last: CalendarDate | None = Field(default=None, alias="to")
    sort: SentimentSort = "notes"
    limit: BucketLimit = DEFAULT_BUCKETS

    def filters(self) -> dict[str, str]:
        """The segment and customer filters given."""
        given = {"segment": self.segment}
        given |= {"customer_id": str(self.customer_id) if self.customer_id else None}
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


class LabelFigures(BaseModel):
    """How many notes have one label, and their share of the notes (0 to 1)."""

    count: int
    share: float


class LabelBreakdown(BaseModel):
    """Each label's notes."""

    positive: LabelFigures
    negative: LabelFigures
    neutral: LabelFigures


class SentimentFigures(BaseModel):
    """A set of notes summed up."""

    notes: int
    labels: LabelBreakdown
    #: Mean of +score (positive), -score (negative), 0 (neutral): -1 to 1; null: no notes.
    mean: float | None


class SentimentGroup(BaseModel):
    """The notes of one segment (``value`` null: none set) or one customer (its id)."""

    value: str | None
    notes: int
    labels: LabelBreakdown
    mean: float | None


class Sentiment(BaseModel):
    """``GET /analytics/sentiment``."""

    model_config = ConfigDict(populate_by_name=True, serialize_by_alias=True)

    by: SentimentGroupBy
    filters: dict[str, str]
    first: date | None = Field(alias="from")
    last: date | None = Field(alias="to")
    #: Every note the filters take, of live customers (not only the groups listed).
    overall: SentimentFigures
    #: Notes the filters take whose customer no event has told this service of yet.
    notes_awaiting_customer: int
    groups: list[SentimentGroup]


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
