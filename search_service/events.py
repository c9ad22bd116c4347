"""What this service consumes: customer events and the NLP service's embeddings of them,
applied to the index exactly once in effect.

Every customer event carries the whole customer after the change, so each one is
an upsert of that snapshot, kept only if its version is newer than the document's
(a deleted customer stays as a tombstone holding its version, so an older event
cannot bring it back; a restore is a newer version). A ``customer.note_added``
event also stores its note, keyed by the note's id.

``nlp.profile_embedded`` carries the vector of a customer's profile text at a
customer version: it replaces the one held only if that version is newer.
``nlp.note_analysed`` carries a note's vector, stored once per note id. Duplicates
and reordering therefore change nothing, whatever order a batch arrives in.
"""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

from search_service.documents import (
    Document,
    Embedding,
    IndexedNote,
    document_from_snapshot,
    embedding_from_event_data,
    note_from_snapshot,
)
from search_service.store import SearchStore
from shared.events.envelope import NOTE_ADDED, NOTE_ANALYSED, PROFILE_EMBEDDED, Event


class EventIndexer:
    """Applies batches of customer and NLP events to the search index."""

    def __init__(self, store: SearchStore) -> None:
        self._store = store

    def apply(self, events: Sequence[Event]) -> int:
        """Apply ``events`` in one transaction; how many of them changed the index.

        Of several events of one customer in a batch, only the newest snapshot (and the
        newest profile vector) is written (the older ones would be overwritten in the same
        transaction); they count as changing nothing, as they would had they arrived one
        by one, late. ValueError for an embedding that is not a usable vector.
        """
        newest: dict[UUID, tuple[int, Document]] = {}
        notes: dict[UUID, tuple[int, IndexedNote]] = {}
        profiles: dict[UUID, tuple[int, Embedding]] = {}
        note_vectors: dict[UUID, tuple[int, Embedding]] = {}
        for position, event in enumerate(events):
            if event.type in (PROFILE_EMBEDDED, NOTE_ANALYSED):
                embedding = embedding_from_event_data(
                    event.data, customer_id=event.subject, version=event.version
                )
                if event.type == NOTE_ANALYSED:
                    note_vectors.setdefault(embedding.source_id, (position, embedding))
                else:
                    held_vector = profiles.get(embedding.customer_id)
                    if held_vector is None or held_vector[1].version < embedding.version:
                        profiles[embedding.customer_id] = (position, embedding)
                continue
            document = document_from_snapshot(event.data, version=event.version)
            held = newest.get(document.customer_id)
            if held is None or held[1].version < document.version:
                newest[document.customer_id] = (position, document)
            if event.type == NOTE_ADDED:
                note = note_from_snapshot(event.data)
                notes.setdefault(note.note_id, (position, note))
        with self._store.transaction() as tx:
            # Embeddings first: they take the stamping lock before this transaction locks
            # any document row, so two consumers never wait on each other in a circle.
            stored_profiles = tx.vectors.upsert_profiles([e for _, e in profiles.values()])
            stored_vectors = tx.vectors.insert_notes([e for _, e in note_vectors.values()])
            changed = tx.upsert_documents([doc for _, doc in newest.values()], by_event=True)
            stored_notes = tx.insert_notes([note for _, note in notes.values()])
            noted = {note.customer_id for _, note in notes.values() if note.note_id in stored_notes}
            tx.refresh_documents(changed | noted)
        applied = {position for position, doc in newest.values() if doc.customer_id in changed}
        applied |= {position for position, note in notes.values() if note.note_id in stored_notes}
        applied |= {p for p, e in profiles.values() if e.customer_id in stored_profiles}
        applied |= {p for p, e in note_vectors.values() if e.source_id in stored_vectors}
        return len(applied)
