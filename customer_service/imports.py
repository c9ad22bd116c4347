"""CSV imports: queue a checked file as a job, run it chunk by chunk, report each row.

:class:`ImportService` is what the API calls: it checks the file and the
mapping before anything is written (413 past the size limit, 422 naming
``content`` or ``mapping.<column>``) and queues the job. :class:`ImportRunner`
is what the importer process calls: it claims a job and creates its customers
a chunk at a time, each chunk one transaction with the job's progress.

Each row becomes the body ``POST /customers`` would get and is checked by the
same model, so a refused row carries the reasons that request would get. A
row's key is the SHA-256 of that body, validated (so ``ADA@Example.com`` and
``ADA@example.com`` are the same row): a key already imported, from this file
or any other, reports ``existing`` with the customer it created, even if that
customer has since been changed or deleted (the key names the row, like an
``Idempotency-Key`` names a request). A new row whose email a live customer has
fails as the create would (409, ``email``: ``is already taken``): an import
creates customers, it never changes one.
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict
from typing import TypeVar
from uuid import UUID

from pydantic import ValidationError

from customer_service import csv_files, events
from customer_service.cursors import decode_line_cursor, encode_line_cursor
from customer_service.import_schemas import (
    ImportCreate,
    ImportJobRead,
    ImportRowPage,
    ImportRowQuery,
    ImportRowRead,
)
from customer_service.import_store import ClaimedJob, ImportStore, ImportTransaction, RowResult
from customer_service.schemas import CustomerCreate
from customer_service.service import DuplicateEmail, fingerprint_of
from customer_service.store import EmailTaken
from shared.errors import ContentTooLarge, NotFound, ValidationFailed, field_error

Item = TypeVar("Item")

#: What a run of a job ended with, besides ``succeeded``: given back, or taken by another.
RELEASED = "released"
LOST = "lost"


class ImportNotFound(NotFound):
    """No import job has this id."""

    slug = "import-not-found"

    def __init__(self, job_id: UUID) -> None:
        super().__init__(f"No import with id {job_id}")


class _RowTaken(Exception):
    """Another transaction imported the same row first."""


def check_mapping(header: list[str], mapping: dict[str, str]) -> None:
    """422 naming each mapped column not in the header, field fed twice, required field unfed."""
    errors: list[dict[str, str]] = []
    fed_by: dict[str, str] = {}
    for column, field in mapping.items():
        if column not in header:
            errors.append(
                {
                    "field": f"mapping.{column}",
                    "message": "is not a column of the file's header",
                    "code": "unknown_column",
                }
            )
        elif field in fed_by:
            errors.append(
                {
                    "field": f"mapping.{column}",
                    "message": f"maps to {field}, as column {fed_by[field]!r} does",
                    "code": "field_mapped_twice",
                }
            )
        else:
            fed_by[field] = column
    errors.extend(
        {
            "field": "mapping",
            "message": f"no column is mapped to {field}, which every customer needs",
            "code": "required_field_unmapped",
        }
        for field in csv_files.REQUIRED_FIELDS
        if field not in mapping.values()
    )
    if errors:
        raise ValidationFailed(errors)


def chunked(items: Iterable[Item], size: int) -> Iterator[list[Item]]:
    """``items`` in lists of ``size`` (the last may be shorter)."""
    iterator = iter(items)
    while chunk := list(itertools.islice(iterator, size)):
        yield chunk


class ImportService:
    """Queue imports and report on them (the API's side)."""

    def __init__(self, store: ImportStore, *, max_bytes: int) -> None:
        self._store = store
        self._max_bytes = max_bytes

    def submit(self, request: ImportCreate, *, submitted_by: str) -> ImportJobRead:
        """Check the file and its mapping, then queue the job; nothing is imported yet."""
        size = len(request.content.encode("utf-8"))
        if size > self._max_bytes:
            raise ContentTooLarge(
                f"The file is {size} bytes; an import takes at most {self._max_bytes}"
            )
        try:
            summary = csv_files.summarise(request.content)
        except csv_files.InvalidCsv as error:
            raise ValidationFailed(
                [{"field": "content", "message": str(error), "code": "invalid_csv"}]
            ) from None
        check_mapping(summary.header, request.mapping)
        with self._store.transaction() as tx:
            row = tx.insert_job(
                filename=request.filename,
                mapping=request.mapping,
                content=request.content,
                total=summary.rows,
                by=submitted_by,
            )
        return ImportJobRead.model_validate(row)

    def get_job(self, job_id: UUID) -> ImportJobRead:
        """The job and its progress."""
        with self._store.transaction() as tx:
            row = tx.find_job(job_id)
        if row is None:
            raise ImportNotFound(job_id)
        return ImportJobRead.model_validate(row)

    def list_rows(self, job_id: UUID, query: ImportRowQuery) -> ImportRowPage:
        """One page of the job's processed rows in line order, of one outcome if asked."""
        after = decode_line_cursor(query.cursor) if query.cursor else None
        with self._store.transaction() as tx:
            if tx.find_job(job_id) is None:
                raise ImportNotFound(job_id)
            rows = tx.list_rows(job_id, query.outcome, query.limit + 1, after)
        items = [ImportRowRead.model_validate(row) for row in rows[: query.limit]]
        more = len(rows) > query.limit
        return ImportRowPage(
            items=items, next_cursor=encode_line_cursor(items[-1].line) if more else None
        )


class ImportRunner:
    """Run claimed jobs chunk by chunk (the importer's side).

    A chunk is one transaction: its customers with their ``customer.created``
    outbox rows, their row keys, each row's outcome and the job's progress. A
    worker killed mid-chunk leaves nothing of it, and whoever takes the job
    over starts again at that chunk.
    """

    def __init__(
        self, store: ImportStore, *, worker: str, chunk_size: int, lease_seconds: float
    ) -> None:
        self._store = store
        self._worker = worker
        self._chunk_size = chunk_size
        self._lease_seconds = lease_seconds

    def claim(self) -> ClaimedJob | None:
        """The oldest job no live importer holds, now held by this one."""
        with self._store.transaction() as tx:
            return tx.claim_job(self._worker, self._lease_seconds)

    def unfinished_jobs(self) -> dict[str, int]:
        """How many jobs are queued and running."""
        with self._store.transaction() as tx:
            return tx.unfinished_jobs()

    def run(
        self,
        job: ClaimedJob,
        *,
        stopping: Callable[[], bool],
        after_chunk: Callable[[Counter[str]], None] = lambda counts: None,
    ) -> str:
        """Import the job's rows from where it stopped; ``succeeded``, ``failed``, or why not.

        Between chunks, a stop gives the job back to the queue (:data:`RELEASED`);
        a job another importer took over meanwhile is left to it (:data:`LOST`).
        A file that cannot be read fails the job.
        """
        try:
            header, rows = csv_files.read_file(job.content)
            mapper = csv_files.RowMapper(header, job.mapping)
            position = job.processed
            for chunk in chunked(itertools.islice(rows, job.processed, None), self._chunk_size):
                if stopping():
                    with self._store.transaction() as tx:
                        tx.release_job(job.id, self._worker)
                    return RELEASED
                counts = self._import_chunk(job.id, position, chunk, mapper)
                if counts is None:
                    return LOST
                after_chunk(counts)
                position += len(chunk)
        except csv_files.InvalidCsv as error:
            return self.fail(job.id, f"the file could not be read: {error}")
        if position < job.total:
            # Fewer rows than counted when queued: only a changed file could do that.
            return self.fail(job.id, f"the file ended after {position} of {job.total} rows")
        return "succeeded"

    def fail(self, job_id: UUID, error: str) -> str:
        """Mark the job failed as a whole, with ``error``; ``failed``, or :data:`LOST`."""
        with self._store.transaction() as tx:
            return "failed" if tx.fail_job(job_id, self._worker, error) else LOST

    def _import_chunk(
        self,
        job_id: UUID,
        position: int,
        chunk: list[csv_files.CsvRecord],
        mapper: csv_files.RowMapper,
    ) -> Counter[str] | None:
        """Import one chunk in one transaction; its outcomes, or None if the job is not ours."""
        with self._store.transaction() as tx:
            if tx.hold_job(job_id, self._worker) != position:
                return None
            results = [self._import_row(tx, job_id, record, mapper) for record in chunk]
            tx.save_rows(job_id, results)
            counts = Counter(result.outcome for result in results)
            tx.advance(job_id, counts)
        return counts

    def _import_row(
        self,
        tx: ImportTransaction,
        job_id: UUID,
        record: csv_files.CsvRecord,
        mapper: csv_files.RowMapper,
    ) -> RowResult:
        body, problems = mapper.values(record.cells)
        if problems:
            return RowResult(record.line, "failed", errors=tuple(asdict(p) for p in problems))
        try:
            data = CustomerCreate.model_validate(body)
        except ValidationError as error:
            refused = [field_error(entry) for entry in error.errors()]
            return RowResult(record.line, "failed", errors=_row_errors(refused, mapper))
        key = fingerprint_of(data.model_dump(mode="json"))
        known = tx.imported_customer(key)
        if known is not None:
            return RowResult(record.line, "existing", known)
        try:
            with tx.savepoint():
                row = tx.customers.insert_customer(data.model_dump())
                if not tx.remember_row(key, row["id"], job_id, record.line):
                    raise _RowTaken
                tx.customers.append_event(events.customer_event(events.CREATED, row))
        except (EmailTaken, _RowTaken):
            # The same row, imported by another job that committed first, is "existing".
            known = tx.imported_customer(key)
            if known is not None:
                return RowResult(record.line, "existing", known)
            refused = DuplicateEmail(data.email).extensions["errors"]
            return RowResult(record.line, "failed", errors=_row_errors(refused, mapper))
        return RowResult(record.line, "created", row["id"])


def _row_errors(
    refused: Iterable[dict[str, str]], mapper: csv_files.RowMapper
) -> tuple[dict[str, str | None], ...]:
    """The API's field errors, each with the column its field came from."""
    return tuple(
        {
            "field": error["field"],
            "column": mapper.column_of(error["field"]),
            "detail": error["message"],
            "code": error["code"],
        }
        for error in refused
    )
