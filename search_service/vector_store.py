"""SQL for the embeddings, run inside a search transaction (``SearchTransaction.vectors``).

Writers stamp each embedding they write from the sequence ``embedding_changes``,
after taking a transaction-scoped advisory lock, so two batches never stamp at
the same time: a batch's stamps are all higher than those of every batch that
committed before it. A reader that has seen every stamp up to ``n`` therefore
finds every later change with ``change_seq > n``, whatever order transactions
commit in (a plain sequence, without the lock, could commit stamp 12 before 11,
and a reader that saw 12 would never read 11).
"""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

import psycopg2
import psycopg2.extensions
import psycopg2.extras

from search_service.documents import Embedding
from search_service.vectors import VectorChange

#: The advisory lock key under which embeddings are stamped (any constant of this database's).
STAMP_LOCK = 0x5EA4C4_0001
#: Rows of the change feed read per statement, so a first load of a large index never
#: holds the whole table in one result, and a gevent worker serves other requests
#: between two reads (applying one takes about 50 ms).
CHANGES_PER_READ = 5_000


class VectorStatements:
    """The embedding statements, on a transaction's cursor."""

    def __init__(self, cursor: psycopg2.extras.RealDictCursor) -> None:
        self._cursor = cursor

    def _lock(self) -> None:
        self._cursor.execute("SELECT pg_advisory_xact_lock(%s)", [STAMP_LOCK])

    def upsert_profiles(self, embeddings: Sequence[Embedding]) -> set[UUID]:
        """Store each profile vector unless one of the same or a newer version is held.

        At most one per customer; the customers whose vector changed.
        """
        if not embeddings:
            return set()
        self._lock()
        rows = [_values(e) for e in sorted(embeddings, key=lambda e: e.customer_id)]
        changed = psycopg2.extras.execute_values(
            self._cursor,
            "INSERT INTO embeddings (kind, source_id, customer_id, version, model_name,"
            " model_version, vector) VALUES %s"
            " ON CONFLICT (kind, source_id) DO UPDATE SET version = EXCLUDED.version,"
            " model_name = EXCLUDED.model_name, model_version = EXCLUDED.model_version,"
            " vector = EXCLUDED.vector, change_seq = nextval('embedding_changes')"
            " WHERE embeddings.version < EXCLUDED.version RETURNING customer_id",
            rows,
            page_size=len(rows),
            fetch=True,
        )
        return {row["customer_id"] for row in changed}

    def insert_notes(self, embeddings: Sequence[Embedding]) -> set[UUID]:
        """Store each note's vector unless the note has one; the note ids stored now."""
        if not embeddings:
            return set()
        self._lock()
        rows = [_values(e) for e in sorted(embeddings, key=lambda e: e.source_id)]
        inserted = psycopg2.extras.execute_values(
            self._cursor,
            "INSERT INTO embeddings (kind, source_id, customer_id, version, model_name,"
            " model_version, vector) VALUES %s"
            " ON CONFLICT (kind, source_id) DO NOTHING RETURNING source_id",
            rows,
            page_size=len(rows),
            fetch=True,
        )
        return {row["source_id"] for row in inserted}

    def count(self, model_version: str) -> int:
        """How many embeddings of ``model_version`` the store holds."""
        self._cursor.execute(
            "SELECT count(*) AS held FROM embeddings WHERE model_version = %s", [model_version]
        )
        row = self._cursor.fetchone()
        return int(row["held"]) if row else 0

    def changes(
        self, after: int, model_version: str, limit: int = CHANGES_PER_READ
    ) -> list[VectorChange]:
        """Up to ``limit`` embeddings stamped after ``after``, in stamp order.

        The vector itself only for ``model_version`` (an embedding now of another
        version only needs to leave an index of this one). Read as plain tuples with
        text ids: a first load reads every row, and dicts and UUID objects would take
        as long as the transfer.
        """
        with self._cursor.connection.cursor(cursor_factory=psycopg2.extensions.cursor) as plain:
            plain.execute(
                "SELECT kind, source_id::text, customer_id::text, model_version,"
                " CASE WHEN model_version = %s THEN vector END, change_seq"
                " FROM embeddings WHERE change_seq > %s ORDER BY change_seq LIMIT %s",
                [model_version, after, limit],
            )
            return [VectorChange(*row) for row in plain.fetchall()]


def _values(embedding: Embedding) -> tuple[object, ...]:
    return (
        embedding.kind,
        embedding.source_id,
        embedding.customer_id,
        embedding.version,
        embedding.model_name,
        embedding.model_version,
        psycopg2.Binary(embedding.vector),
    )
