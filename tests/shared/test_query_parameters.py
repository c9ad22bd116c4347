"""Query-string integers and date-times: digits and RFC 3339 with an offset, nothing looser."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import pytest
from pydantic import BaseModel, BeforeValidator, ValidationError

from shared.query_parameters import Timestamp, parse_query_integer


class Query(BaseModel):
    limit: Annotated[int, BeforeValidator(parse_query_integer)] = 10
    after: Timestamp | None = None


def refusal(**params: str) -> str:
    """The one message a query string gets, and checks it names the parameter."""
    with pytest.raises(ValidationError) as refused:
        Query.model_validate(params)
    (error,) = refused.value.errors()
    assert error["loc"] == (next(iter(params)),)
    return str(error["msg"])


def test_an_integer_written_in_digits_is_read() -> None:
    assert Query.model_validate({"limit": "0042"}).limit == 42


@pytest.mark.parametrize("written", ["+5", "-5", " 5", "5 ", "1_000", "5.0", "", "\u0665"])
def test_an_integer_written_otherwise_is_refused(written: str) -> None:
    assert "whole number written in digits" in refusal(limit=written)


@pytest.mark.parametrize(
    ("written", "instant"),
    [
        ("2024-05-01T12:00:00Z", datetime(2024, 5, 1, 12, tzinfo=UTC)),
        ("2024-05-01t14:00:00.5+02:00", datetime(2024, 5, 1, 12, 0, 0, 500000, tzinfo=UTC)),
        ("2024-05-01T00:30:00-15:59", datetime(2024, 5, 1, 16, 29, tzinfo=UTC)),
    ],
)
def test_a_date_time_with_its_offset_is_read_as_the_same_instant_in_utc(
    written: str, instant: datetime
) -> None:
    after = Query.model_validate({"after": written}).after

    assert after == instant
    assert after is not None
    assert after.tzinfo is UTC


@pytest.mark.parametrize(
    ("written", "instant"),
    [
        ("0001-01-01T00:00:00+01:00", datetime.min.replace(tzinfo=UTC)),
        ("9999-12-31T23:59:59-01:00", datetime.max.replace(tzinfo=UTC)),
    ],
)
def test_an_instant_beyond_what_python_holds_is_the_nearest_it_does(
    written: str, instant: datetime
) -> None:
    assert Query.model_validate({"after": written}).after == instant


@pytest.mark.parametrize(
    ("written", "message"),
    [
        ("2024-05-01T12:00:00", "RFC 3339 date-time with an offset"),
        ("2024-05-01", "RFC 3339 date-time with an offset"),
        ("2024-05-01 12:00:00Z", "RFC 3339 date-time with an offset"),
        ("1714564800", "RFC 3339 date-time with an offset"),
        ("2024-02-30T12:00:00Z", "not a real date and time"),
    ],
)
def test_a_date_time_without_an_offset_or_that_does_not_exist_is_refused(
    written: str, message: str
) -> None:
    assert message in refusal(after=written)
