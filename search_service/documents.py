"""What the index holds for a customer: a document built from an event's snapshot or a listing,
and the embeddings the NLP service derives from its profile and notes.

Both sources carry the whole customer as ``GET /customers/{id}`` shows it (an
event adds ``deleted_at``, and a note event the note), so one shape serves the
consumer and the reindex alike. An embedding comes from an ``nlp.*`` event only.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from search_service.vectors import NOTE, PROFILE, vector_bytes


@dataclass(frozen=True)
class Document:
    """A customer at one version, as it is searched; ``deleted`` makes it a tombstone."""

    customer_id: UUID
    version: int
    deleted: bool
    name: str
    email: str
    phone: str | None
    company: str | None
    country: str | None
    city: str | None
    segment: str | None
    status: str
    tags: tuple[str, ...]
    created_at: datetime
    updated_at: datetime
    deleted_at: datetime | None


@dataclass(frozen=True)
class IndexedNote:
    """A note of a customer, searched with the customer (its words weigh least)."""

    note_id: UUID
    customer_id: UUID
    author: str
    body: str
    created_at: datetime


def _timestamp(value: Any) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(str(value))


def document_from_snapshot(snapshot: Mapping[str, Any], version: int | None = None) -> Document:
    """The document for a customer snapshot (an event's ``data`` or a listed customer).

    ``version`` overrides the snapshot's own (an event's version is the one that counts).
    """
    deleted_at = snapshot.get("deleted_at")
    return Document(
        customer_id=UUID(str(snapshot["id"])),
        version=int(snapshot["version"] if version is None else version),
        deleted=deleted_at is not None,
        name=str(snapshot["name"]),
        email=str(snapshot["email"]),
        phone=snapshot.get("phone"),
        company=snapshot.get("company"),
        country=snapshot.get("country"),
        city=snapshot.get("city"),
        segment=snapshot.get("segment"),
        status=str(snapshot["status"]),
        tags=tuple(str(tag) for tag in snapshot.get("tags") or ()),
        created_at=_timestamp(snapshot["created_at"]),
        updated_at=_timestamp(snapshot["updated_at"]),
        deleted_at=_timestamp(deleted_at) if deleted_at is not None else None,
    )


def note_from_snapshot(snapshot: Mapping[str, Any]) -> IndexedNote:
    """The note a ``customer.note_added`` event's ``data.note`` carries."""
    note = snapshot["note"]
    return IndexedNote(
        note_id=UUID(str(note["id"])),
        customer_id=UUID(str(snapshot["id"])),
        author=str(note["author"]),
        body=str(note["body"]),
        created_at=_timestamp(note["created_at"]),
    )


@dataclass(frozen=True)
class Embedding:
    """A vector the NLP service derived from a customer at ``version``: of its profile text
    (name, company, tags) or, with ``note_id``, of one of its notes."""

    customer_id: UUID
    version: int
    model_name: str
    model_version: str
    #: L2-normalised float32, little-endian (``vectors.vector_bytes``).
    vector: bytes
    note_id: UUID | None = None

    @property
    def kind(self) -> str:
        """``profile`` or ``note``."""
        return PROFILE if self.note_id is None else NOTE

    @property
    def source_id(self) -> UUID:
        """What the vector is of: the customer (its profile) or the note."""
        return self.customer_id if self.note_id is None else self.note_id


def embedding_from_event_data(
    data: Mapping[str, Any], *, customer_id: str, version: int
) -> Embedding:
    """The embedding an ``nlp.*`` event's ``data`` carries (a note's when it names one).

    ValueError when the vector is not usable (not finite, or all zeros).
    """
    note = data.get("note")
    return Embedding(
        customer_id=UUID(customer_id),
        version=version,
        model_name=str(data["model"]["name"]),
        model_version=str(data["model"]["version"]),
        vector=vector_bytes(data["embedding"]),
        note_id=UUID(str(note["id"])) if note else None,
    )
