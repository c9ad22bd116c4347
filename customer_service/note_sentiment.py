"""What the customer service consumes: each note's sentiment, kept on the note.

The NLP service scores every note it sees in a ``customer.note_added`` event and
publishes ``nlp.note_analysed``; applying it writes the sentiment onto the note,
so ``GET /customers/{id}/notes`` shows it. Writing the same sentiment again
changes nothing (duplicates and redeliveries count as skipped), and nothing here
is a change to the customer: no version, no customer event.
"""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

from customer_service.store import CustomerStore
from shared.events.envelope import NOTE_ANALYSED, Event


class NoteSentiments:
    """Applies batches of ``nlp.note_analysed`` events to the notes they score."""

    def __init__(self, store: CustomerStore) -> None:
        self._store = store

    def apply(self, events: Sequence[Event]) -> int:
        """Apply ``events`` in one transaction; how many of them changed a note."""
        changed = 0
        with self._store.transaction() as tx:
            for event in events:
                if event.type != NOTE_ANALYSED:
                    continue
                note = event.data["note"]
                changed += tx.set_note_sentiment(
                    UUID(note["id"]), UUID(event.subject), note["sentiment"]
                )
        return changed
