"""Query-string values every service reads alike: integers in digits, RFC 3339 date-times.

A query string is text, and pydantic's lax parsing would take more than a client
should send there (``" 12"``, ``"1_000"``, ``"+5"``, a date-time without an
offset). These validators raise ``ValueError`` with a message meant for the
client; pydantic turns it into one entry of a 422 problem naming the parameter.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import BeforeValidator

_RFC3339 = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,9})?([Zz]|[+-][0-9]{2}:[0-9]{2})"
)
_DIGITS = re.compile(r"[0-9]+")


def parse_query_integer(value: Any) -> Any:
    """Digits only: no sign, spaces, underscores or decimals in a query-string integer."""
    if isinstance(value, str):
        if not _DIGITS.fullmatch(value):
            raise ValueError("must be a whole number written in digits")
        return int(value)
    return value


def parse_rfc3339(value: Any) -> Any:
    """An RFC 3339 date-time with its offset (``Z`` or ``+hh:mm``), in UTC; no naive times."""
    if isinstance(value, str):
        if not _RFC3339.fullmatch(value):
            raise ValueError(
                "must be an RFC 3339 date-time with an offset, e.g. 2024-05-01T12:00:00Z"
            )
        try:
            return to_utc(datetime.fromisoformat(value.upper()))
        except ValueError:
            raise ValueError("is not a real date and time") from None
    return value


def to_utc(moment: datetime) -> datetime:
    """The same instant in UTC, clamped to the range Python can hold.

    PostgreSQL refuses offsets beyond 15:59 that RFC 3339 allows, so instants go to
    the database in UTC. Only 0001-01-01 and 9999-12-31 can overflow; clamping them
    changes no answer: as bounds of a filter they mean "no bound".
    """
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        limit = datetime.min if moment.year == datetime.min.year else datetime.max
        return limit.replace(tzinfo=UTC)


#: A date-time query parameter: RFC 3339 with an offset, read as UTC.
Timestamp = Annotated[datetime, BeforeValidator(parse_rfc3339)]
