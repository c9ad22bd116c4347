"""What this service consumes: customer events, applied to the index exactly once in effect.

Every event carries the whole customer after the change, so each one is an
upsert of that snapshot, kept only if its version is newer than the document's
(a deleted customer stays as a tombstone holding its version, so an older event
cannot bring it back; a restore is a newer version). A ``customer.note_added``
event also stores its note, keyed by the note's id. Duplicates and reordering
therefore change nothing, whatever order a batch arrives in.
"""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

from search_service.documents import (
    Document,
    IndexedNote,
    document_from_snapshot,
    note_from_snapshot,
)
from search_service.store import SearchStore
from shared.events.envelope import NOTE_ADDED, Event


class EventIndexer:
    """Applies batches of customer events to the search index."""

    def __init__(self, store: SearchStore) -> None:
        self._store = store

    def apply(self, events: Sequence[Event]) -> int:
        """Apply ``events`` in one transaction; how many of them changed the index.

        Of several events of one customer in a batch, only the newest snapshot is
        written (the older ones would be overwritten in the same transaction); they
        count as changing nothing, as they would had they arrived one by one, late.
        """
        newest: dict[UUID, tuple[int, Document]] = {}
        notes: dict[UUID, tuple[int, IndexedNote]] = {}
        for position, event in enumerate(events):
            document = document_from_snapshot(event.data, version=event.version)
            held = newest.get(document.customer_id)
            if held is None or held[1].version < document.version:
                newest[document.customer_id] = (position, document)
            if event.type == NOTE_ADDED:
                note = note_from_snapshot(event.data)
                notes.setdefault(note.note_id, (position, note))
        with self._store.transaction() as tx:
            changed = tx.upsert_documents([doc for _, doc in newest.values()], by_event=True)
            stored_notes = tx.insert_notes([note for _, note in notes.values()])
            noted = {note.customer_id for _, note in notes.values() if note.note_id in stored_notes}
            tx.refresh_documents(changed | noted)
        applied = {position for position, doc in newest.values() if doc.customer_id in changed}
        applied |= {position for position, note in notes.values() if note.note_id in stored_notes}
        return len(applied)
