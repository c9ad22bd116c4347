"""What this service consumes: customer events as changes, and each note's sentiment.

Every customer event (``customer.*``) carries the whole customer after the
change (``data``) at its ``version``; the event type matters only for
``customer.note_added``, whose note is counted once per note id. A
``customer.deleted`` snapshot has ``deleted_at`` set, a restore clears it: both
are plain newer states here.

``nlp.note_analysed`` (from the NLP service) gives one note its sentiment: it
is kept once per note id, whether or not the customer is known yet, and
changes no customer state (its ``version`` is the customer's when the note was
added, not a new one). Any other event type is no concern of this service and
changes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

from analytics_service.rollups import Change, CustomerState, NoteSeen
from analytics_service.sentiment import NoteSentiment
from shared.events.envelope import EVENT_TYPES, NOTE_ANALYSED, Event


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
    """The change a customer event asks for: its snapshot, its time and any note it adds."""
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


def sentiment_of(event: Event) -> NoteSentiment:
    """The note sentiment an ``nlp.note_analysed`` event carries."""
    note = event.data["note"]
    sentiment = note["sentiment"]
    model = event.data["model"]
    return NoteSentiment(
        note_id=UUID(note["id"]),
        customer_id=UUID(event.subject),
        created_at=datetime.fromisoformat(note["created_at"]),
        label=sentiment["label"],
        score=float(sentiment["score"]),
        method=sentiment["method"],
        model_name=model["name"],
        model_version=model["version"],
    )


@dataclass(frozen=True)
class Batch:
    """A batch of events read as what applying them does."""

    changes: list[Change] = field(default_factory=list)
    sentiments: list[NoteSentiment] = field(default_factory=list)


def batch_of(events: Sequence[Event]) -> Batch:
    """The customer changes and note sentiments ``events`` carry; other types are left out."""
    batch = Batch()
    for event in events:
        if event.type in EVENT_TYPES:
            batch.changes.append(change_of(event))
        elif event.type == NOTE_ANALYSED:
            batch.sentiments.append(sentiment_of(event))
    return batch
