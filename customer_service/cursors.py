"""Opaque keyset-pagination cursors.

A cursor is URL-safe base64 (unpadded) of a small JSON object holding the sort it
was made for and the last row's sort value and id. The next page starts strictly
after that ``(value, id)`` pair, so pages never skip or repeat rows, however many
rows are inserted or deleted meanwhile. Clients must treat cursors as opaque.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from customer_service.fields import to_utc
from shared.errors import BadRequest
from shared.text import text_problem


class InvalidCursor(BadRequest):
    """The cursor was not made by this service, or for another sort order."""

    slug = "invalid-cursor"

    def __init__(self, reason: str) -> None:
        super().__init__(
            f"Invalid cursor: {reason}",
            errors=[{"field": "cursor", "message": reason, "code": "invalid_cursor"}],
        )


@dataclass(frozen=True)
class Position:
    """Where a page ended: the sort value and id of its last row."""

    value: datetime | str
    id: UUID


def sorts_by_time(sort: str) -> bool:
    """Whether ``sort`` orders by a timestamp column (so the cursor holds a time)."""
    return sort.lstrip("-") == "created_at"


def encode_cursor(sort: str, position: Position) -> str:
    """The opaque cursor for the page after ``position`` in ``sort`` order."""
    value = position.value.isoformat() if isinstance(position.value, datetime) else position.value
    payload = json.dumps(
        {"sort": sort, "after": value, "id": str(position.id)},
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return base64.urlsafe_b64encode(payload.encode("utf-8")).decode("ascii").rstrip("=")


def decode_cursor(cursor: str, sort: str) -> Position:
    """The position a cursor holds; :class:`InvalidCursor` unless it fits ``sort``."""
    payload = _payload(cursor)
    if payload.get("sort") != sort:
        raise InvalidCursor(f"it was made for another sort order than {sort!r}")
    raw_value, raw_id = payload.get("after"), payload.get("id")
    if not isinstance(raw_value, str) or not isinstance(raw_id, str):
        raise InvalidCursor("it does not hold a position")
    try:
        row_id = UUID(raw_id)
    except ValueError:
        raise InvalidCursor("it does not hold a row id") from None
    if sorts_by_time(sort):
        return Position(_timestamp(raw_value), row_id)
    if text_problem(raw_value):
        raise InvalidCursor("it holds a value that is not text")
    return Position(raw_value, row_id)


def _payload(cursor: str) -> dict[str, Any]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        raw = base64.b64decode(padded, altchars=b"-_", validate=True)
        payload = json.loads(raw.decode("utf-8"))
    except (binascii.Error, UnicodeDecodeError, ValueError, RecursionError):
        raise InvalidCursor("it is not a cursor this service made") from None
    if not isinstance(payload, dict):
        raise InvalidCursor("it is not a cursor this service made")
    return payload


def _timestamp(value: str) -> datetime:
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidCursor("it does not hold a timestamp") from None
    if moment.tzinfo is None:
        raise InvalidCursor("it holds a timestamp without an offset")
    return to_utc(moment)
