"""Opaque keyset cursors for search pages.

A cursor is URL-safe base64 (unpadded) of a small JSON object: the sort it was
made for, a fingerprint of the query and filters, and the last hit's sort key.
The next page starts strictly after that key, so pages never skip or repeat a
document however the index changes meanwhile. A cursor made for another sort
or another query is refused (400 naming ``cursor``): its position would mean
nothing there.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from shared.errors import BadRequest
from shared.text import text_problem


class InvalidCursor(BadRequest):
    """The cursor was not made by this service, or for another sort or query."""

    slug = "invalid-cursor"

    def __init__(self, reason: str) -> None:
        super().__init__(
            f"Invalid cursor: {reason}",
            errors=[{"field": "cursor", "message": reason, "code": "invalid_cursor"}],
        )


@dataclass(frozen=True)
class Position:
    """Where a page ended: the last hit's sort key (score, time or name) and its id.

    ``score`` is set for the relevance sort only, ``name_key`` for the name sort.
    """

    customer_id: UUID
    created_at: datetime | None = None
    score: float | None = None
    name_key: str | None = None


def query_fingerprint(parts: dict[str, Any]) -> str:
    """A short digest of what a search asked for (``q`` and the filters)."""
    canonical = json.dumps(parts, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:16]


def encode_cursor(sort: str, fingerprint: str, position: Position) -> str:
    """The opaque cursor for the page after ``position``."""
    payload: dict[str, Any] = {"sort": sort, "query": fingerprint, "id": str(position.customer_id)}
    if position.created_at is not None:
        payload["created_at"] = position.created_at.isoformat()
    if position.score is not None:
        payload["score"] = position.score
    if position.name_key is not None:
        payload["name"] = position.name_key
    raw = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def decode_cursor(cursor: str, sort: str, fingerprint: str) -> Position:
    """The position a cursor holds; :class:`InvalidCursor` unless it fits this sort and query."""
    payload = _payload(cursor)
    if payload.get("sort") != sort:
        raise InvalidCursor(f"it was made for another sort order than {sort!r}")
    if payload.get("query") != fingerprint:
        raise InvalidCursor("it was made for another query or other filters")
    try:
        customer_id = UUID(str(payload["id"]))
    except (KeyError, ValueError):
        raise InvalidCursor("it does not hold a position") from None
    if sort == "name":
        name = payload.get("name")
        if not isinstance(name, str) or text_problem(name):
            raise InvalidCursor("it does not hold a name")
        return Position(customer_id, name_key=name)
    created_at = _timestamp(payload.get("created_at"))
    if sort == "relevance":
        score = payload.get("score")
        if not isinstance(score, int | float) or isinstance(score, bool):
            raise InvalidCursor("it does not hold a score")
        return Position(customer_id, created_at=created_at, score=float(score))
    return Position(customer_id, created_at=created_at)


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


def _timestamp(value: Any) -> datetime:
    if not isinstance(value, str):
        raise InvalidCursor("it does not hold a time")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidCursor("it does not hold a time") from None
    if moment.tzinfo is None:
        raise InvalidCursor("it holds a time without an offset")
    try:
        # PostgreSQL refuses offsets past 15:59 that Python allows: compare in UTC.
        return moment.astimezone(UTC)
    except OverflowError:
        raise InvalidCursor("it holds a time out of range") from None
