"""Customer events as the customer service writes them, built for search tests."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from shared.events.envelope import (
    CREATED,
    DELETED,
    NOTE_ADDED,
    RESTORED,
    UPDATED,
    Event,
    rfc3339,
)

#: A fixed past moment, so created_at filters and sorts are exact.
EPOCH = datetime(2025, 1, 1, tzinfo=UTC)


def snapshot(**fields: Any) -> dict[str, Any]:
    """A whole customer as an event carries it; ``fields`` override any part."""
    customer_id = str(fields.pop("id", uuid.uuid4()))
    created = fields.pop("created_at", EPOCH)
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
        "created_at": rfc3339(created) if isinstance(created, datetime) else created,
        "updated_at": rfc3339(EPOCH),
        "version": 1,
        "deleted_at": None,
        **fields,
    }


@dataclass
class CustomerHistory:
    """One customer's life as events, each checked against the event schema."""

    fields: dict[str, Any] = field(default_factory=dict)
    version: int = 1
    events: list[Event] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.current = snapshot(**self.fields)
        self._emit(CREATED)

    @property
    def id(self) -> str:
        """The customer's id."""
        return str(self.current["id"])

    def _emit(self, event_type: str, **data: Any) -> Event:
        self.current["version"] = self.version
        self.current["updated_at"] = rfc3339(EPOCH + timedelta(seconds=self.version))
        event = Event(
            type=event_type,
            subject=self.id,
            version=self.version,
            data={**self.current, **data},
        )
        Event.from_document(event.to_document())  # schema-valid, as the producer's are
        self.events.append(event)
        return event

    def update(self, **changes: Any) -> Event:
        """The customer changed."""
        self.version += 1
        self.current.update(changes)
        return self._emit(UPDATED)

    def delete(self) -> Event:
        """The customer was soft-deleted."""
        self.version += 1
        self.current["deleted_at"] = rfc3339(EPOCH + timedelta(days=1))
        return self._emit(DELETED)

    def restore(self) -> Event:
        """The customer was restored."""
        self.version += 1
        self.current["deleted_at"] = None
        return self._emit(RESTORED)

    def add_note(self, body: str) -> Event:
        """A note was added; the customer keeps its version."""
        note = {
            "id": str(uuid.uuid4()),
            "author": "agent-user",
            "body": body,
            "created_at": rfc3339(EPOCH + timedelta(seconds=self.version)),
        }
        return self._emit(NOTE_ADDED, note=note)
