"""Customer histories as the customer service would publish them, for feeding the analytics.

A :class:`Customer` changes the way the customer service changes a row (each
change bumps the version, a note keeps it) and returns the schema-valid event
of each change; :func:`analysed` is the ``nlp.note_analysed`` event the NLP
service derives from a note's event. Tests then deliver those events in any
order, any number of times.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from shared.events.envelope import (
    CREATED,
    DELETED,
    NOTE_ANALYSED,
    RESTORED,
    UPDATED,
    Event,
    validate_envelope,
)
from tests.support.events import change_event, customer_row, note_added_event

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

    def _row(self) -> dict[str, Any]:
        return customer_row(
            self.id,
            created_at=self.created_at,
            updated_at=self.now,
            version=self.version,
            deleted_at=self.now if self.deleted else None,
            country=self.country,
            segment=self.segment,
            status=self.status,
            tags=list(self.tags),
        )

    def _move(self, at: datetime | None) -> None:
        self.now = at or self.now + self.step

    def created(self) -> Event:
        """The creation (version 1) at ``created_at``."""
        self.now = self.created_at
        return change_event(CREATED, self._row())

    def updated(self, at: datetime | None = None, **changes: Any) -> Event:
        """A change of some fields (``status``, ``country``, ``segment``, ``tags``)."""
        for name, value in changes.items():
            setattr(self, name, value)
        self.version += 1
        self._move(at)
        return change_event(UPDATED, self._row())

    def deleted_event(self, at: datetime | None = None) -> Event:
        """The soft delete."""
        self.deleted = True
        self.version += 1
        self._move(at)
        return change_event(DELETED, self._row())

    def restored(self, at: datetime | None = None) -> Event:
        """The restore."""
        self.deleted = False
        self.version += 1
        self._move(at)
        return change_event(RESTORED, self._row())

    def note(self, at: datetime | None = None) -> Event:
        """A note added (the version stays)."""
        return note_added_event(self._row(), created_at=at or self.now + self.step)


#: Ids of derived events, as the NLP service makes them: one per customer event.
DERIVED_IDS = uuid.UUID("0b7c2f64-8a51-4d3e-9f0a-6e2d4c1b5a93")


def analysed(
    note_added: Event, label: str = "positive", score: float = 0.9, *, method: str = "head"
) -> Event:
    """The schema-valid ``nlp.note_analysed`` event the NLP service derives from ``note_added``."""
    note = note_added.data["note"]
    event = Event(
        type=NOTE_ANALYSED,
        source="nlp_service",
        subject=note_added.subject,
        version=note_added.version,
        time=note["created_at"],
        id=str(uuid.uuid5(DERIVED_IDS, note_added.id)),
        data={
            "model": {"name": "test-sentiment", "version": "1"},
            "embedding": [0.6, 0.8],
            "note": {
                "id": note["id"],
                "created_at": note["created_at"],
                "sentiment": {"label": label, "score": score, "method": method},
            },
        },
    )
    validate_envelope(event.to_document())
    return event
