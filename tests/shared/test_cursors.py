"""The cursor codec: what it carries comes back, and anything else is a 400 naming ``cursor``."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from pydantic import TypeAdapter, ValidationError

from shared.cursors import (
    MAX_CURSOR_LENGTH,
    Cursor,
    InvalidCursor,
    decode_payload,
    decode_time,
    encode_payload,
)

URL_SAFE = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def encoded(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def test_a_payload_comes_back_as_it_went_in_written_in_the_url_safe_alphabet() -> None:
    payload = {"sort": "name", "after": 'Zoë "O\'Brien" ✓ 東京', "id": "7d3f", "score": 2.5}

    cursor = encode_payload(payload)

    assert decode_payload(cursor) == payload
    assert set(cursor) <= URL_SAFE  # unpadded: nothing to escape in a query string


@pytest.mark.parametrize(
    "cursor",
    [
        "not a cursor!",
        "%%%%",
        "AAAA",  # base64, but not UTF-8 JSON
        "ü" * 8,
        encoded(b"{not json"),
        encoded(b'["a", "list"]'),
        encoded(b"[" * 100_000),
    ],
)
def test_what_does_not_carry_a_json_object_is_refused(cursor: str) -> None:
    with pytest.raises(InvalidCursor, match="not a cursor this service made") as refused:
        decode_payload(cursor)

    assert refused.value.status == 400
    assert refused.value.to_problem()["errors"] == [
        {
            "field": "cursor",
            "message": "it is not a cursor this service made",
            "code": "invalid_cursor",
        }
    ]


def test_a_time_comes_back_as_the_same_instant_in_utc() -> None:
    moment = datetime(2024, 5, 1, 14, 0, 0, 123456, tzinfo=timezone(timedelta(hours=2)))

    decoded = decode_time(moment.isoformat())

    assert decoded == moment
    assert decoded.tzinfo is UTC
    assert decoded.microsecond == 123456


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (None, "does not hold a time"),
        (1714564800, "does not hold a time"),
        ("yesterday", "does not hold a time"),
        ("2024-05-01T12:00:00", "without an offset"),
        ("0001-01-01T00:00:00+01:00", "out of range"),
    ],
)
def test_what_is_not_an_instant_with_an_offset_is_refused(value: Any, reason: str) -> None:
    with pytest.raises(InvalidCursor, match=reason) as refused:
        decode_time(value)

    assert refused.value.status == 400


@pytest.mark.parametrize("value", ["", "a b", "abc+/", "x" * (MAX_CURSOR_LENGTH + 1)])
def test_a_cursor_parameter_is_bounded_and_of_the_cursor_alphabet(value: str) -> None:
    with pytest.raises(ValidationError):
        TypeAdapter(Cursor).validate_python(value)


def test_a_cursor_parameter_takes_any_cursor_the_codec_makes() -> None:
    cursor = encode_payload({"after": "ü" * 100})

    assert TypeAdapter(Cursor).validate_python(cursor) == cursor
