"""SQL for the outbox table, as the relay uses it (``store.py`` writes the rows).

The relay claims the oldest unpublished rows with ``FOR UPDATE SKIP LOCKED``, so
several relays share the work without publishing a row twice at the same time,
and keeps each customer's events in order: a row is left for later while an
older row of the same customer is still unpublished and claimed by another
relay. The claim's transaction stays open while the batch is published; the
rows are marked only once the broker has confirmed them all, and a relay that
dies before that leaves them unmarked, to be published again.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import psycopg2.extras

from shared.database import Database

CLAIM = """
    WITH claimed AS (
        SELECT id FROM outbox WHERE published_at IS NULL
        ORDER BY id LIMIT %(limit)s FOR UPDATE SKIP LOCKED
    )
    SELECT o.id, o.event_id::text AS event_id, o.event_type, o.envelope::text AS envelope
    FROM outbox o JOIN claimed USING (id)
    WHERE NOT EXISTS (
        SELECT 1 FROM outbox earlier
        WHERE earlier.subject = o.subject AND earlier.published_at IS NULL
          AND earlier.id < o.id AND earlier.id NOT IN (SELECT id FROM claimed)
    )
    ORDER BY o.id
"""


@dataclass(frozen=True)
class PendingEvent:
    """One claimed outbox row."""

    row_id: int
    event_id: str
    event_type: str
    #: The envelope's JSON text, published as it is (no decoding and encoding again).
    envelope: str


class Claim:
    """Rows claimed in one open transaction; :meth:`mark_published` before it ends."""

    def __init__(self, cursor: psycopg2.extras.RealDictCursor, events: list[PendingEvent]) -> None:
        self._cursor = cursor
        self.events = events

    def mark_published(self) -> None:
        """Mark every claimed row published (the broker has confirmed them)."""
        self._cursor.execute(
            "UPDATE outbox SET published_at = now() WHERE id = ANY(%s)",
            [[event.row_id for event in self.events]],
        )


class Outbox:
    """The outbox table of the customer database."""

    def __init__(self, database: Database) -> None:
        self._database = database

    @contextmanager
    def claim(self, limit: int) -> Iterator[Claim]:
        """Up to ``limit`` of the oldest unpublished rows, locked until the block ends."""
        with self._database.transaction() as cursor:
            cursor.execute(CLAIM, {"limit": limit})
            events = [
                PendingEvent(row["id"], row["event_id"], row["event_type"], row["envelope"])
                for row in cursor.fetchall()
            ]
            yield Claim(cursor, events)

    def backlog(self) -> int:
        """How many rows wait to be published."""
        with self._database.transaction() as cursor:
            cursor.execute("SELECT count(*) AS pending FROM outbox WHERE published_at IS NULL")
            row = cursor.fetchone()
            return int(row["pending"]) if row else 0

    def prune(self, retention_seconds: int, limit: int = 10_000) -> int:
        """Delete up to ``limit`` rows published more than ``retention_seconds`` ago."""
        with self._database.transaction() as cursor:
            cursor.execute(
                "DELETE FROM outbox WHERE id IN (SELECT id FROM outbox"
                " WHERE published_at < now() - make_interval(secs => %s) LIMIT %s)",
                [retention_seconds, limit],
            )
            return int(cursor.rowcount)
