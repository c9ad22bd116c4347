"""The event envelope, checked against its family's JSON Schema (customer or NLP events).

One envelope carries two families of events: customer changes (``customer.*``,
published by the customer service) and what the NLP service derives from them
(``nlp.*``). Each family's JSON Schema is the contract between its producer and
every consumer, as ``openapi.yaml`` is for HTTP: the producers' tests and the
consumers check each envelope against it (the family is chosen by the type's
first word), and a consumer sends anything that fails to its dead-letter queue
instead of guessing.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema_rs

SCHEMA_PATH = Path(__file__).with_name("customer-event.schema.json")
NLP_SCHEMA_PATH = Path(__file__).with_name("nlp-event.schema.json")
#: The durable topic exchange every customer event is published on.
EXCHANGE = "customer.events"
#: The envelope's own version (``schema`` in each event).
SCHEMA_VERSION = 1
CREATED = "customer.created"
UPDATED = "customer.updated"
DELETED = "customer.deleted"
RESTORED = "customer.restored"
NOTE_ADDED = "customer.note_added"
EVENT_TYPES = (CREATED, UPDATED, DELETED, RESTORED, NOTE_ADDED)
#: Derived by the NLP service: the embedding of a customer's profile text at a version,
#: and a note's sentiment and embedding.
PROFILE_EMBEDDED = "nlp.profile_embedded"
NOTE_ANALYSED = "nlp.note_analysed"
NLP_EVENT_TYPES = (PROFILE_EMBEDDED, NOTE_ANALYSED)


class InvalidEvent(ValueError):
    """A message that is not a customer event this schema describes."""


@cache
def _validator(path: Path) -> Any:
    schema = json.loads(path.read_text(encoding="utf-8"))
    return jsonschema_rs.validator_for(schema, validate_formats=True)


def schema_path(document: Any) -> Path:
    """The schema of ``document``'s family: the NLP one for an ``nlp.*`` type."""
    kind = document.get("type") if isinstance(document, dict) else None
    return NLP_SCHEMA_PATH if isinstance(kind, str) and kind.startswith("nlp.") else SCHEMA_PATH


def validate_envelope(document: Any) -> None:
    """Raise :class:`InvalidEvent` naming the first place ``document`` breaks its schema."""
    for error in _validator(schema_path(document)).iter_errors(document):
        where = "/".join(str(part) for part in error.instance_path) or "(root)"
        raise InvalidEvent(f"{where}: {error.message}")


@dataclass(frozen=True)
class Event:
    """One event about a customer: what happened, to whom, at which version, and its data.

    For a customer change ``data`` is the snapshot after it; for an NLP event, what
    was derived from the change.
    """

    type: str
    subject: str
    version: int
    data: dict[str, Any]
    source: str = "customer_service"
    id: str = field(default_factory=lambda: str(uuid.uuid4()))
    time: str = field(default_factory=lambda: rfc3339(datetime.now(UTC)))
    schema: int = SCHEMA_VERSION

    def to_document(self) -> dict[str, Any]:
        """The envelope as a JSON object, in the schema's field order."""
        return {
            "id": self.id,
            "type": self.type,
            "source": self.source,
            "time": self.time,
            "subject": self.subject,
            "version": self.version,
            "schema": self.schema,
            "data": self.data,
        }

    def to_json(self) -> bytes:
        """The message body published for this event."""
        return json.dumps(self.to_document(), separators=(",", ":")).encode("utf-8")

    @property
    def occurred_at(self) -> datetime:
        """``time`` as an aware datetime."""
        return datetime.fromisoformat(self.time)

    @classmethod
    def from_document(cls, document: Any) -> Event:
        """An event from a decoded envelope, checked against the schema first."""
        validate_envelope(document)
        return cls(
            id=document["id"],
            type=document["type"],
            source=document["source"],
            time=document["time"],
            subject=document["subject"],
            version=document["version"],
            schema=document["schema"],
            data=document["data"],
        )

    @classmethod
    def from_json(cls, body: bytes) -> Event:
        """An event from a message body; :class:`InvalidEvent` if it is not one."""
        try:
            document = json.loads(body)
        except (UnicodeDecodeError, ValueError) as error:
            raise InvalidEvent(f"not JSON: {error}") from None
        return cls.from_document(document)


def rfc3339(moment: datetime) -> str:
    """``moment`` in UTC as RFC 3339 with microseconds (``2026-11-30T07:00:00.000001Z``)."""
    return moment.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")
