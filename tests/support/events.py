"""Customer events for the consumers' tests, built by the customer service's own event code.

A test describes the customer's row (:func:`customer_row`: Ada Lovelace, a lead,
unless told otherwise) after each change; ``customer_service.events`` turns it
into the envelope the producer writes to its outbox, and each envelope is
checked against the event schema, as every consumer checks what it receives.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from customer_service.events import customer_event, note_event
from customer_service.schemas import NoteRead
from shared.events.envelope import Event, validate_envelope


def customer_row(
    customer_id: str,
    *,
    created_at: datetime,
    updated_at: datetime,
    version: int = 1,
    deleted_at: datetime | None = None,
    **fields: Any,
) -> dict[str, Any]:
    """A customer as the customer service stores it; ``fields`` override any column."""
    return {
        "id": customer_id,
        "name": "Ada Lovelace",
        "email": f"ada-{customer_id[:8]}@example.com",
        "phone": None,
        "company": None,
        "country": None,
        "city": None,
        "segment": None,
        "status": "lead",
        "tags": [],
        "attributes": {},
        "created_at": created_at,
        "updated_at": updated_at,
        "version": version,
        "deleted_at": deleted_at,
        **fields,
    }


def change_event(event_type: str, row: Mapping[str, Any]) -> Event:
    """The event of a created, updated, deleted or restored customer, at the row's version."""
    return _checked(customer_event(event_type, dict(row)))


def note_added_event(
    row: Mapping[str, Any], *, created_at: datetime, body: str = "Called back."
) -> Event:
    """The event of a note (a new one) added to the customer in ``row``, which keeps its version."""
    note = NoteRead(
        id=uuid.uuid4(),
        customer_id=row["id"],
        author="agent-user",
        body=body,
        created_at=created_at,
    )
    return _checked(note_event(dict(row), note))


def _checked(event: Event) -> Event:
    validate_envelope(event.to_document())
    return event
