"""The codec of opaque keyset cursors: a JSON object as unpadded URL-safe base64.

What a cursor holds (the sort it was made for, the last row's sort key...) is
each service's own; how it travels, how a forged or mangled one is refused
(400 naming ``cursor``) and how its times are read are the same everywhere.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import StringConstraints

from shared.errors import BadRequest

MAX_CURSOR_LENGTH = 1024
#: Cursors are URL-safe base64: anything else is not one of ours.
CURSOR_PATTERN = r"^[A-Za-z0-9_-]+={0,2}$"

#: A ``cursor`` query parameter: bounded, and of the alphabet cursors are written in.
Cursor = Annotated[
    str, StringConstraints(min_length=1, max_length=MAX_CURSOR_LENGTH, pattern=CURSOR_PATTERN)
]


class InvalidCursor(BadRequest):
    """The cursor was not made by this service, or for another sort or query."""

    slug = "invalid-cursor"

    def __init__(self, reason: str) -> None:
        super().__init__(
            f"Invalid cursor: {reason}",
            errors=[{"field": "cursor", "message": reason, "code": "invalid_cursor"}],
        )


def encode_payload(payload: Mapping[str, Any]) -> str:
    """The opaque cursor carrying ``payload`` (compact UTF-8 JSON, base64 without padding)."""
    raw = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def decode_payload(cursor: str) -> dict[str, Any]:
    """The JSON object a cursor carries; :class:`InvalidCursor` if it carries none."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        raw = base64.b64decode(padded, altchars=b"-_", validate=True)
        payload = json.loads(raw.decode("utf-8"))
    except (binascii.Error, UnicodeDecodeError, ValueError, RecursionError):
        raise InvalidCursor("it is not a cursor this service made") from None
    if not isinstance(payload, dict):
        raise InvalidCursor("it is not a cursor this service made")
    return payload


def decode_time(value: Any) -> datetime:
    """The time a cursor holds, in UTC; :class:`InvalidCursor` unless it is one with an offset."""
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
