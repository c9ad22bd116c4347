"""Opaque keyset cursors for search pages.

A cursor (``shared.cursors``: URL-safe base64 of a small JSON object) holds the
sort it was made for, a fingerprint of the query and filters, and the last hit's
sort key. The next page starts strictly after that key, so pages never skip or
repeat a document however the index changes meanwhile. A cursor made for another sort
or another query is refused (400 naming ``cursor``): its position would mean
nothing there.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from shared.cursors import InvalidCursor, decode_payload, decode_time, encode_payload
from shared.text import text_problem

__all__ = ["InvalidCursor", "Position", "decode_cursor", "encode_cursor", "query_fingerprint"]


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
    return encode_payload(payload)


def decode_cursor(cursor: str, sort: str, fingerprint: str) -> Position:
    """The position a cursor holds; :class:`InvalidCursor` unless it fits this sort and query."""
    payload = decode_payload(cursor)
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
    created_at = decode_time(payload.get("created_at"))
    if sort == "relevance":
        score = payload.get("score")
        if not isinstance(score, int | float) or isinstance(score, bool):
            raise InvalidCursor("it does not hold a score")
        return Position(customer_id, created_at=created_at, score=float(score))
    return Position(customer_id, created_at=created_at)
