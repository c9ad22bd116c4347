"""One customer's life as the customer service publishes it, built for search tests."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from shared.events.envelope import CREATED, DELETED, RESTORED, UPDATED, Event
from tests.support.events import change_event, customer_row, note_added_event

#: A fixed past moment, so created_at filters and sorts are exact.
EPOCH = datetime(2025, 1, 1, tzinfo=UTC)


@dataclass
class CustomerHistory:
    """One customer's life as events, each checked against the event schema.

    ``fields`` set the customer's columns at creation (``id`` and ``created_at``
    included); version ``n`` is written ``n`` seconds after :data:`EPOCH`.
    """

    fields: dict[str, Any] = field(default_factory=dict)
    version: int = 1
    events: list[Event] = field(default_factory=list)

    def __post_init__(self) -> None:
        fields = dict(self.fields)
        self.current = customer_row(
            str(fields.pop("id", uuid.uuid4())),
            created_at=fields.pop("created_at", EPOCH),
            updated_at=EPOCH,
            **fields,
        )
        self._emit(CREATED)

    @property
    def id(self) -> str:
        """The customer's id."""
        return str(self.current["id"])

    @property
    def _now(self) -> datetime:
        return EPOCH + timedelta(seconds=self.version)

    def _emit(self, event_type: str) -> Event:
        self.current["version"] = self.version
        self.current["updated_at"] = self._now
        return self._append(change_event(event_type, self.current))

    def _append(self, event: Event) -> Event:
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
        self.current["deleted_at"] = EPOCH + timedelta(days=1)
        return self._emit(DELETED)

    def restore(self) -> Event:
        """The customer was restored."""
        self.version += 1
        self.current["deleted_at"] = None
        return self._emit(RESTORED)

    def add_note(self, body: str) -> Event:
        """A note was added; the customer keeps its version."""
        return self._append(note_added_event(self.current, created_at=self._now, body=body))
