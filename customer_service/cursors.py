"""Opaque keyset-pagination cursors.

A cursor (``shared.cursors``: URL-safe base64 of a small JSON object) holds the
sort it was made for and the last row's sort value and id. The next page starts
strictly after that ``(value, id)`` pair, so pages never skip or repeat rows,
however many rows are inserted or deleted meanwhile. Clients must treat cursors
as opaque.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from shared.cursors import InvalidCursor, decode_payload, decode_time, encode_payload
from shared.text import text_problem

__all__ = [
    "InvalidCursor",
    "Position",
    "decode_cursor",
    "decode_line_cursor",
    "encode_cursor",
    "encode_line_cursor",
    "sorts_by_time",
]

#: The order of an import's rows, the only one their cursors are made for.
LINE_ORDER = "line"


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
    return encode_payload({"sort": sort, "after": value, "id": str(position.id)})


def decode_cursor(cursor: str, sort: str) -> Position:
    """The position a cursor holds; :class:`InvalidCursor` unless it fits ``sort``."""
    payload = decode_payload(cursor)
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
        return Position(decode_time(raw_value), row_id)
    if text_problem(raw_value):
        raise InvalidCursor("it holds a value that is not text")
    return Position(raw_value, row_id)


def encode_line_cursor(line: int) -> str:
    """The opaque cursor for an import's rows after ``line``."""
    return encode_payload({"sort": LINE_ORDER, "after": line})


def decode_line_cursor(cursor: str) -> int:
    """The line a rows cursor holds; :class:`InvalidCursor` unless it is one."""
    payload = decode_payload(cursor)
    line = payload.get("after")
    if payload.get("sort") != LINE_ORDER or isinstance(line, bool) or not isinstance(line, int):
        raise InvalidCursor("it was not made for an import's rows")
    return line
