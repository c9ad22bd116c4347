"""Customer histories as the customer service would publish them, for feeding the analytics.

A :class:`Customer` changes the way the customer service changes a row (each
change bumps the version, a note keeps it) and returns the schema-valid event
of each change; tests then deliver those events in any order, any number of times.
"""

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
    validate_envelope,
)

#: A fixed moment the histories start from, so days are known in advance.
START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@dataclass
class Customer:
    """One customer's evolving snapshot; each method returns the event of that change."""

    country: str | None = None
    segment: str | None = None
    status: str = "lead"
    tags: list[str] = field(default_factory=list)
    created_at: datetime = START
    id: str = field(default_factory=lambda: str(uuid.uuid4()))
    version: int = 1
    deleted: bool = False
    #: When the last change happened (each change moves it on by ``step`` unless told).
    now: datetime = START
    step: timedelta = timedelta(minutes=1)

    def _snapshot(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": "Ada Lovelace",
            "email": f"ada-{self.id[:8]}@example.com",
            "phone": None,
            "company": None,
            "country": self.country,
            "city": None,
            "segment": self.segment,
            "status": self.status,
            "tags": list(self.tags),
            "attributes": {},
            "created_at": rfc3339(self.created_at),
            "updated_at": rfc3339(self.now),
            "version": self.version,
            "deleted_at": rfc3339(self.now) if self.deleted else None,
        }

    def _event(self, event_type: str, time: datetime, data: dict[str, Any]) -> Event:
        event = Event(
            type=event_type, subject=self.id, version=self.version, time=rfc3339(time), data=data
        )
        validate_envelope(event.to_document())
        return event

    def _move(self, at: datetime | None) -> None:
        self.now = at or self.now + self.step

    def created(self) -> Event:
        """The creation (version 1) at ``created_at``."""
        self.now = self.created_at
        return self._event(CREATED, self.now, self._snapshot())

    def updated(self, at: datetime | None = None, **changes: Any) -> Event:
        """A change of some fields (``status``, ``country``, ``segment``, ``tags``)."""
        for name, value in changes.items():
            setattr(self, name, value)
        self.version += 1
        self._move(at)
        return self._event(UPDATED, self.now, self._snapshot())

    def deleted_event(self, at: datetime | None = None) -> Event:
        """The soft delete."""
        self.deleted = True
        self.version += 1
        self._move(at)
        return self._event(DELETED, self.now, self._snapshot())

    def restored(self, at: datetime | None = None) -> Event:
        """The restore."""
        self.deleted = False
        self.version += 1
        self._move(at)
        return self._event(RESTORED, self.now, self._snapshot())

    def note(self, at: datetime | None = None) -> Event:
        """A note added (the version stays)."""
        created = at or self.now + self.step
        data = self._snapshot()
        data["note"] = {
            "id": str(uuid.uuid4()),
            "author": "agent-user",
            "body": "Called back.",
            "created_at": rfc3339(created),
        }
        return self._event(NOTE_ADDED, created, data)
