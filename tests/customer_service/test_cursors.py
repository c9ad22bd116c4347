"""Cursor encoding: round trips, and every way a cursor can be wrong is a 400."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import UTC, datetime

import pytest

from customer_service.cursors import InvalidCursor, Position, decode_cursor, encode_cursor


def _raw(payload: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip("=")


def test_time_cursor_round_trips_to_the_microsecond() -> None:
    position = Position(datetime(2024, 5, 1, 12, 0, 0, 123456, tzinfo=UTC), uuid.uuid4())

    cursor = encode_cursor("-created_at", position)

    assert decode_cursor(cursor, "-created_at") == position


def test_name_cursor_round_trips_any_text() -> None:
    position = Position('Zoë "O\'Brien" ✓ 東京', uuid.uuid4())

    cursor = encode_cursor("name", position)

    assert decode_cursor(cursor, "name") == position
    assert set(cursor) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def test_cursor_made_for_another_sort_is_refused() -> None:
    cursor = encode_cursor("name", Position("Ada", uuid.uuid4()))

    with pytest.raises(InvalidCursor) as raised:
        decode_cursor(cursor, "-name")

    assert raised.value.status == 400
    assert raised.value.to_problem()["errors"][0]["field"] == "cursor"


ROW = "7d3f3c1e-1b8e-4a43-9a55-0c1f0e7a2b61"


@pytest.mark.parametrize(
    ("sort", "cursor"),
    [
        ("name", "not a cursor!"),
        ("name", "%%%%"),
        ("name", "AAAA"),
        ("name", "ü" * 8),
        ("name", _raw(["a", "list"])),
        ("name", _raw({"sort": "name", "after": "Ada"})),
        ("name", _raw({"sort": "name", "after": 5, "id": ROW})),
        ("name", _raw({"sort": "name", "after": "Ada", "id": "not-a-uuid"})),
        ("name", _raw({"sort": "name", "after": "nul\x00inside", "id": ROW})),
        ("name", _raw({"sort": "name", "after": "\ud800", "id": ROW})),
        ("created_at", _raw({"sort": "created_at", "after": "yesterday", "id": ROW})),
        ("created_at", _raw({"sort": "created_at", "after": "2024-05-01T12:00:00", "id": ROW})),
    ],
)
def test_malformed_cursors_are_refused(sort: str, cursor: str) -> None:
    with pytest.raises(InvalidCursor):
        decode_cursor(cursor, sort)
