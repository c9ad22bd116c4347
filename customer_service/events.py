"""What the customer service publishes: one event per change, built from the changed row.

Each use case in ``service.py`` appends its event to the outbox in the same
transaction as the change (``CustomerTransaction.append_event``); the relay
(``relay.py``) publishes it later. The envelope and its schema are
``shared.events.envelope``; ``data`` is the whole customer after the change (as
``GET /customers/{id}`` shows it, plus ``deleted_at``), and a note event adds
the note.
"""

from __future__ import annotations

from typing import Any

from customer_service.schemas import CustomerRead, NoteRead
from shared.events.envelope import (
    CREATED,
    DELETED,
    NOTE_ADDED,
    RESTORED,
    UPDATED,
    Event,
    rfc3339,
)

__all__ = [
    "CREATED",
    "DELETED",
    "NOTE_ADDED",
    "RESTORED",
    "UPDATED",
    "customer_event",
    "note_event",
]

SOURCE = "customer_service"


def snapshot(row: dict[str, Any]) -> dict[str, Any]:
    """The customer as an event carries it: the API's shape plus ``deleted_at``."""
    data = CustomerRead.model_validate(row).model_dump(mode="json")
    deleted_at = row.get("deleted_at")
    data["deleted_at"] = rfc3339(deleted_at) if deleted_at is not None else None
    return data


def customer_event(event_type: str, row: dict[str, Any]) -> Event:
    """The event for a created, updated, deleted or restored customer, at its new version."""
    return Event(
        type=event_type,
        source=SOURCE,
        subject=str(row["id"]),
        version=row["version"],
        time=rfc3339(row["updated_at"]),
        data=snapshot(row),
    )


def note_event(row: dict[str, Any], note: NoteRead) -> Event:
    """The event for a note added to the customer in ``row`` (whose version it keeps)."""
    data = snapshot(row)
    data["note"] = {
        "id": str(note.id),
        "author": note.author,
        "body": note.body,
        "created_at": rfc3339(note.created_at),
    }
    return Event(
        type=NOTE_ADDED,
        source=SOURCE,
        subject=str(row["id"]),
        version=row["version"],
        time=rfc3339(note.created_at),
        data=data,
    )
