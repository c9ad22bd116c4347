"""Cursors are opaque, tied to their sort and query, and refuse whatever they were not made as."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from search_service.cursors import (
    InvalidCursor,
    Position,
    decode_cursor,
    encode_cursor,
    query_fingerprint,
)

CUSTOMER = uuid.uuid4()
WHEN = datetime(2025, 5, 1, 12, tzinfo=UTC)


def forged(payload: Any) -> str:
    raw = json.dumps(payload).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@pytest.mark.parametrize(
    ("sort", "position"),
    [
        ("relevance", Position(CUSTOMER, created_at=WHEN, score=2.3781)),
        ("name", Position(CUSTOMER, name_key="zoe muller")),
        ("created", Position(CUSTOMER, created_at=WHEN)),
        ("-created", Position(CUSTOMER, created_at=WHEN)),
    ],
)
def test_a_cursor_gives_back_the_position_it_was_made_from(sort: str, position: Position) -> None:
    fingerprint = query_fingerprint({"q": "zoe"})

    assert decode_cursor(encode_cursor(sort, fingerprint, position), sort, fingerprint) == position


@pytest.mark.parametrize(
    ("sort", "payload", "reason"),
    [
        ("name", ["not", "an", "object"], "not a cursor this service made"),
        ("name", {"sort": "name", "query": "q"}, "does not hold a position"),
        ("name", {"sort": "name", "query": "q", "id": "nope"}, "does not hold a position"),
        ("name", {"sort": "name", "query": "q", "id": str(CUSTOMER)}, "does not hold a name"),
        ("created", {"sort": "created", "query": "q", "id": str(CUSTOMER)}, "does not hold a time"),
        (
            "created",
            {"sort": "created", "query": "q", "id": str(CUSTOMER), "created_at": "yesterday"},
            "does not hold a time",
        ),
        (
            "created",
            {"sort": "created", "query": "q", "id": str(CUSTOMER), "created_at": "2025-01-01"},
            "without an offset",
        ),
        (
            "relevance",
            {"sort": "relevance", "query": "q", "id": str(CUSTOMER),
             "created_at": WHEN.isoformat(), "score": "high"},
            "does not hold a score",
        ),
    ],
)  # fmt: skip
def test_a_cursor_that_does_not_hold_what_its_sort_needs_is_refused(
    sort: str, payload: Any, reason: str
) -> None:
    with pytest.raises(InvalidCursor, match=reason) as refused:
        decode_cursor(forged(payload), sort, "q")

    assert refused.value.status == 400
    assert refused.value.extensions["errors"][0]["field"] == "cursor"
