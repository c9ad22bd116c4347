"""What this service consumes: customer events, read as changes to apply to the rollups.

Every event carries the whole customer after the change (``data``) at its
``version``; the event type matters only for ``customer.note_added``, whose
note is counted once per note id. A ``customer.deleted`` snapshot has
``deleted_at`` set, a restore clears it: both are plain newer states here.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from analytics_service.rollups import Change, CustomerState, NoteSeen
from shared.events.envelope import Event


def state_of(customer_id: UUID, version: int, data: dict[str, Any]) -> CustomerState:
    """The state a customer snapshot (an event's ``data``) describes."""
    return CustomerState.of(
        id=customer_id,
        version=version,
        status=data["status"],
        country=data["country"],
        segment=data["segment"],
        tags=data["tags"],
        deleted=data.get("deleted_at") is not None,
        created_at=datetime.fromisoformat(data["created_at"]),
    )


def change_of(event: Event) -> Change:
    """The change an event asks for: its snapshot, its time and any note it adds."""
    customer_id = UUID(event.subject)
    note = event.data.get("note")
    return Change(
        state=state_of(customer_id, event.version, event.data),
        occurred_at=event.occurred_at,
        note=NoteSeen(
            id=UUID(note["id"]),
            customer_id=customer_id,
            created_at=datetime.fromisoformat(note["created_at"]),
        )
        if note is not None
        else None,
    )
