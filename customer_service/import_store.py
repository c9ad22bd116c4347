"""SQL for CSV imports: jobs, each row's outcome, and the keys of rows already imported.

:class:`ImportStore` opens a transaction and hands out an
:class:`ImportTransaction`, whose ``customers`` runs the customer statements
(``store.CustomerTransaction``) on the same transaction: a chunk's customers,
their outbox events, their row keys and the job's progress commit together.

The importer claims a job with ``FOR UPDATE SKIP LOCKED``: a queued one, or a
running one whose worker has not committed a chunk for the lease (taken for
dead), or one it holds itself (after a restart of its work loop). Each chunk
locks the job row first and goes on only if the job is still its worker's, so a
worker taken for dead that wakes up writes nothing.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import psycopg2.extras
from psycopg2 import sql

from customer_service.store import CustomerTransaction, Row
from shared.database import Database

#: The importer LISTENs here; a queued job NOTIFYs it on commit.
IMPORT_CHANNEL = "customer_imports"
JOB_COLUMNS = sql.SQL(
    "id, filename, status, total, processed, created, existing, failed, error,"
    " created_at, finished_at"
)
ROW_COLUMNS = sql.SQL("line, outcome, customer_id, errors")

CLAIM = sql.SQL("""
    UPDATE import_jobs SET status = 'running', claimed_by = %(worker)s, heartbeat_at = now(),
        started_at = coalesce(started_at, now())
    WHERE id = (
        SELECT id FROM import_jobs
        WHERE status IN ('queued', 'running')
          AND (status = 'queued' OR claimed_by = %(worker)s
               OR heartbeat_at < now() - make_interval(secs => %(lease)s))
        ORDER BY created_at, id LIMIT 1
        FOR UPDATE SKIP LOCKED
    )
    RETURNING {columns}, mapping, content
""").format(columns=JOB_COLUMNS)


@dataclass(frozen=True)
class ClaimedJob:
    """A job an importer holds: its file, its mapping, and how far it got."""

    id: UUID
    filename: str
    mapping: dict[str, str]
    content: str
    total: int
    processed: int


@dataclass(frozen=True)
class RowResult:
    """What became of one row, to be recorded with its chunk."""

    line: int
    outcome: str
    customer_id: UUID | None = None
    errors: tuple[Mapping[str, Any], ...] = ()


class ImportStore:
    """The import tables of the customer database, one transaction at a time."""

    def __init__(self, database: Database) -> None:
        self._database = database

    @contextmanager
    def transaction(self) -> Iterator[ImportTransaction]:
        """Statements in one transaction: committed at the end, rolled back on error."""
        with self._database.transaction() as cursor:
            yield ImportTransaction(cursor)


class ImportTransaction:
    """The import statements, and the customer ones, inside one open transaction."""

    def __init__(self, cursor: psycopg2.extras.RealDictCursor) -> None:
        self._cursor = cursor
        self.customers = CustomerTransaction(cursor)

    def _one(self, query: sql.Composable, params: Any) -> Row | None:
        self._cursor.execute(query, params)
        row = self._cursor.fetchone()
        return dict(row) if row is not None else None

    def insert_job(
        self, *, filename: str, mapping: Mapping[str, str], content: str, total: int, by: str
    ) -> Row:
        """Queue a job and wake the importers when this transaction commits."""
        row = self._one(
            sql.SQL(
                "INSERT INTO import_jobs (filename, mapping, content, total, submitted_by)"
                " VALUES (%s, %s, %s, %s, %s) RETURNING {}"
            ).format(JOB_COLUMNS),
            [filename, psycopg2.extras.Json(dict(mapping)), content, total, by],
        )
        if row is None:
            raise LookupError("INSERT ... RETURNING returned nothing")
        self._cursor.execute("SELECT pg_notify(%s, '')", [IMPORT_CHANNEL])
        return row

    def find_job(self, job_id: UUID) -> Row | None:
        """The job, with its progress."""
        query = sql.SQL("SELECT {} FROM import_jobs WHERE id = %s").format(JOB_COLUMNS)
        return self._one(query, [job_id])

    def list_rows(
        self, job_id: UUID, outcome: str | None, limit: int, after_line: int | None
    ) -> list[Row]:
        """Up to ``limit`` of the job's rows (of one outcome, if given) after ``after_line``."""
        conditions = [sql.SQL("job_id = %s")]
        params: list[Any] = [job_id]
        if outcome is not None:
            conditions.append(sql.SQL("outcome = %s"))
            params.append(outcome)
        if after_line is not None:
            conditions.append(sql.SQL("line > %s"))
            params.append(after_line)
        query = sql.SQL("SELECT {} FROM import_rows WHERE {} ORDER BY line LIMIT %s").format(
            ROW_COLUMNS, sql.SQL(" AND ").join(conditions)
        )
        self._cursor.execute(query, [*params, limit])
        return [dict(row) for row in self._cursor.fetchall()]

    def claim_job(self, worker: str, lease_seconds: float) -> ClaimedJob | None:
        """Take the oldest job no live worker holds, and mark it running for ``worker``."""
        row = self._one(CLAIM, {"worker": worker, "lease": lease_seconds})
        if row is None:
            return None
        return ClaimedJob(
            id=row["id"],
            filename=row["filename"],
            mapping=dict(row["mapping"]),
            content=row["content"],
            total=row["total"],
            processed=row["processed"],
        )

    def hold_job(self, job_id: UUID, worker: str) -> int | None:
        """Lock the job until commit; its ``processed`` if ``worker`` still holds it, else None."""
        row = self._one(
            sql.SQL(
                "SELECT processed FROM import_jobs WHERE id = %s AND status = 'running'"
                " AND claimed_by = %s FOR UPDATE"
            ),
            [job_id, worker],
        )
        return None if row is None else int(row["processed"])

    @contextmanager
    def savepoint(self) -> Iterator[None]:
        """Statements that are undone alone if they fail, the transaction going on."""
        self._cursor.execute("SAVEPOINT import_row")
        try:
            yield
        except BaseException:
            self._cursor.execute("ROLLBACK TO SAVEPOINT import_row")
            raise
        self._cursor.execute("RELEASE SAVEPOINT import_row")

    def imported_customer(self, row_key: str) -> UUID | None:
        """The customer a row with this key created, if one was ever imported."""
        query = sql.SQL("SELECT customer_id FROM imported_rows WHERE row_key = %s")
        row = self._one(query, [row_key])
        return None if row is None else UUID(str(row["customer_id"]))

    def remember_row(self, row_key: str, customer_id: UUID, job_id: UUID, line: int) -> bool:
        """Record that this key created ``customer_id``; False if the key was taken meanwhile."""
        row = self._one(
            sql.SQL(
                "INSERT INTO imported_rows (row_key, customer_id, job_id, line)"
                " VALUES (%s, %s, %s, %s) ON CONFLICT (row_key) DO NOTHING RETURNING row_key"
            ),
            [row_key, customer_id, job_id, line],
        )
        return row is not None

    def save_rows(self, job_id: UUID, results: Sequence[RowResult]) -> None:
        """Record what became of each row of a chunk."""
        psycopg2.extras.execute_values(
            self._cursor,
            "INSERT INTO import_rows (job_id, line, outcome, customer_id, errors) VALUES %s",
            [
                (
                    job_id,
                    result.line,
                    result.outcome,
                    result.customer_id,
                    psycopg2.extras.Json([dict(error) for error in result.errors]),
                )
                for result in results
            ],
        )

    def advance(self, job_id: UUID, counts: Mapping[str, int]) -> Row:
        """Add a chunk's outcomes to the job; it succeeds once every row is processed.

        The file is dropped from a finished job: only its report is kept.
        """
        done = sum(counts.values())
        query = sql.SQL(
            "UPDATE import_jobs SET processed = processed + %(done)s,"
            " created = created + %(created)s, existing = existing + %(existing)s,"
            " failed = failed + %(failed)s, heartbeat_at = now(),"
            " status = CASE WHEN processed + %(done)s >= total THEN 'succeeded' ELSE status END,"
            " finished_at = CASE WHEN processed + %(done)s >= total THEN now() END,"
            " content = CASE WHEN processed + %(done)s >= total THEN '' ELSE content END"
            " WHERE id = %(id)s RETURNING {}"
        ).format(JOB_COLUMNS)
        row = self._one(
            query,
            {
                "id": job_id,
                "done": done,
                "created": counts.get("created", 0),
                "existing": counts.get("existing", 0),
                "failed": counts.get("failed", 0),
            },
        )
        if row is None:
            raise LookupError("the job vanished inside its own transaction")
        return row

    def release_job(self, job_id: UUID, worker: str) -> None:
        """Give a job back to the queue (the worker is stopping); its progress stays."""
        self._cursor.execute(
            "UPDATE import_jobs SET status = 'queued', claimed_by = NULL, heartbeat_at = NULL"
            " WHERE id = %s AND claimed_by = %s AND status = 'running'",
            [job_id, worker],
        )

    def fail_job(self, job_id: UUID, worker: str, error: str) -> bool:
        """Mark a job failed as a whole; False if ``worker`` no longer held it."""
        self._cursor.execute(
            "UPDATE import_jobs SET status = 'failed', error = %s, finished_at = now(),"
            " content = '' WHERE id = %s AND claimed_by = %s AND status = 'running'",
            [error, job_id, worker],
        )
        return bool(self._cursor.rowcount)

    def unfinished_jobs(self) -> dict[str, int]:
        """How many jobs are queued and running."""
        self._cursor.execute(
            "SELECT status, count(*) AS jobs FROM import_jobs"
            " WHERE status IN ('queued', 'running') GROUP BY status"
        )
        counts = {"queued": 0, "running": 0}
        counts.update({row["status"]: int(row["jobs"]) for row in self._cursor.fetchall()})
        return counts
