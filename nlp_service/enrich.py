"""What the NLP service derives from customer events: profile embeddings, note sentiment.

Framework-free: :class:`Enricher` turns a batch of customer events into NLP
events (``shared.events.envelope``) and hands them to ``publish``, which returns
only once the broker has confirmed them; the consumer acks the customer events
after that, so a crash in between derives and publishes them again (same ids,
and the consumers of NLP events keep only what is newer: exactly once in effect).

* ``customer.created``, ``updated`` and ``restored``: ``nlp.profile_embedded``, the
  vector of the profile's text (name, company, tags), at the customer's version.
  Of several events of one customer in a batch only the newest is embedded.
* ``customer.note_added``: ``nlp.note_analysed``, the note's sentiment and vector
  (its first 512 characters, as the API reads a text).
* ``customer.deleted``: nothing; a deleted customer leaves the search results by
  its own event.

All texts of a batch go through one forward pass (and the prediction cache).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from typing import Any

from nlp_service.schemas import MAX_CHARS
from nlp_service.service import NlpService
from shared.events.envelope import (
    CREATED,
    NOTE_ADDED,
    NOTE_ANALYSED,
    PROFILE_EMBEDDED,
    RESTORED,
    UPDATED,
    Event,
)

SOURCE = "nlp_service"
#: The customer events whose profile text is embedded.
PROFILE_CHANGES = frozenset({CREATED, UPDATED, RESTORED})
#: Ids of derived events: the same customer event always derives the same id.
DERIVED_IDS = uuid.UUID("5b0f2a56-3c1e-4f5e-9a52-2f8d0c1e7a11")

Publish = Callable[[Sequence[Event]], None]


def profile_text(snapshot: dict[str, Any]) -> str:
    """What a customer's profile embedding reads: name, company and tags."""
    parts = [snapshot["name"], snapshot.get("company") or "", ", ".join(snapshot.get("tags") or [])]
    return ". ".join(part.strip() for part in parts if part and part.strip())[:MAX_CHARS]


def derived_id(event: Event, kind: str) -> str:
    """The id of what ``event`` derives as ``kind``: stable across redeliveries."""
    return str(uuid.uuid5(DERIVED_IDS, f"{event.id}:{kind}"))


class Enricher:
    """Derives NLP events from batches of customer events and publishes them."""

    def __init__(self, nlp: NlpService, publish: Publish) -> None:
        self._nlp = nlp
        self._publish = publish

    def derive(self, events: Sequence[Event]) -> list[Event]:
        """The NLP events of ``events``, in the order of the customer events they come from."""
        newest: dict[str, Event] = {}
        for event in events:
            if event.type in PROFILE_CHANGES:
                held = newest.get(event.subject)
                if held is None or held.version < event.version:
                    newest[event.subject] = event
        chosen = [
            event
            for event in events
            if event.type == NOTE_ADDED
            or (event.type in PROFILE_CHANGES and newest[event.subject] is event)
        ]
        if not chosen:
            return []
        texts = [
            event.data["note"]["body"][:MAX_CHARS]
            if event.type == NOTE_ADDED
            else profile_text(event.data)
            for event in chosen
        ]
        vectors = self._nlp.vectors(texts)
        notes = [index for index, event in enumerate(chosen) if event.type == NOTE_ADDED]
        verdicts = dict(zip(notes, self._nlp.sentiments([texts[i] for i in notes]), strict=True))
        loaded = self._nlp.engine.loaded
        model = {"name": loaded.name, "version": loaded.version}
        derived = []
        for index, event in enumerate(chosen):
            data: dict[str, Any] = {
                "model": model,
                "embedding": [round(float(x), 6) for x in vectors[index]],
            }
            kind = PROFILE_EMBEDDED
            time = event.time
            if event.type == NOTE_ADDED:
                kind = NOTE_ANALYSED
                note = event.data["note"]
                verdict = verdicts[index]
                data["note"] = {
                    "id": note["id"],
                    "created_at": note["created_at"],
                    "sentiment": {
                        "label": verdict.label,
                        "score": round(float(verdict.score), 4),
                        "method": verdict.method,
                    },
                }
                time = note["created_at"]
            derived.append(
                Event(
                    type=kind,
                    source=SOURCE,
                    subject=event.subject,
                    version=event.version,
                    time=time,
                    data=data,
                    id=derived_id(event, kind),
                )
            )
        return derived

    def apply(self, events: Sequence[Event]) -> int:
        """Derive and publish (confirmed); how many customer events derived something."""
        derived = self.derive(events)
        self._publish(derived)
        return len(derived)
