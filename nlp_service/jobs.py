"""Batch jobs: an upload read into numbered rows, and the jobs and their rows in PostgreSQL.

Framework-free. :func:`read_upload` turns a CSV (with a named text column) or a
JSON document (an array of strings, or of objects with a named field) into
rows, each with its line number (the CSV's line, the array's position from 1);
a row whose text cannot be scored (blank, too long without ``truncate``, not a
string) keeps its error and never fails the job. :class:`JobStore` keeps the
jobs (owner, task, status, progress, statistics) and their rows; the worker
(``nlp_service.tasks``) fills in results chunk by chunk, so a job taken up again
after a crash goes on from the first row without a result.
"""

from __future__ import annotations

import csv
import io
import json
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg2.extras import Json, execute_values
from pydantic import TypeAdapter, ValidationError

from nlp_service.schemas import MAX_CHARS, MAX_JOB_ROWS, LabelSpec, Text
from shared.cursors import InvalidCursor, decode_payload, encode_payload
from shared.database import Database
from shared.errors import Conflict, NotFound, ValidationFailed

#: Rows one job may hold: a 10 MB upload of very short lines would be millions.
MAX_ROWS = MAX_JOB_ROWS
#: Statuses a job ends in; a job in any other one may still be cancelled.
FINISHED = ("ready", "error", "cancelled")

#: Largest upload a job takes (the contract's ``x-max-body-bytes`` on ``POST /nlp/jobs``).
MAX_UPLOAD_BYTES = 10 * 1024 * 1024
# A CSV field may be as long as the upload (the csv module's default stops at 128 KiB).
csv.field_size_limit(MAX_UPLOAD_BYTES)

_TEXT = TypeAdapter(Text)


@dataclass(frozen=True)
class Row:
    """One text of an upload: where it was, and why it cannot be scored (or None)."""

    line: int
    text: str
    error: str | None = None


def _refused(field: str, message: str) -> ValidationFailed:
    return ValidationFailed([{"field": field, "message": message, "code": "invalid_upload"}])


def _row(line: int, value: object, *, truncate: bool) -> Row:
    if not isinstance(value, str):
        return Row(line, "" if value is None else json.dumps(value)[:MAX_CHARS], "not a string")
    text = value[:MAX_CHARS] if truncate else value
    try:
        return Row(line, _TEXT.validate_python(text))
    except ValidationError as error:
        # pydantic says "Value error, must not be blank": the reason is what a reader needs.
        message = error.errors()[0]["msg"].removeprefix("Value error, ")
        return Row(line, value.replace("\x00", "")[:MAX_CHARS], message)


def read_csv(data: bytes, column: str, *, truncate: bool = False) -> list[Row]:
    """The ``column`` of a UTF-8 CSV with a header line; each row numbered by its line."""
    try:
        content = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise _refused("file", f"not UTF-8 text (byte {error.start})") from None
    reader = csv.reader(io.StringIO(content, newline=""), strict=True)
    try:
        header = next(reader, None)
        if header is None:
            raise _refused("file", "the CSV is empty")
        if column not in header:
            raise _refused(
                "column", f"no column {column!r} in the CSV (it has: {', '.join(header)})"
            )
        index = header.index(column)
        rows: list[Row] = []
        for record in reader:
            if not record:
                continue  # a blank line is no row
            if len(rows) >= MAX_ROWS:
                raise _refused("file", f"more than {MAX_ROWS} rows")
            line = reader.line_num
            value = record[index] if index < len(record) else None
            rows.append(
                _row(line, value, truncate=truncate)
                if value is not None
                else Row(line, "", f"no {column!r} value on this line")
            )
    except csv.Error as error:
        raise _refused("file", f"unreadable CSV at line {reader.line_num}: {error}") from None
    return rows


def read_json(data: bytes, field: str, *, truncate: bool = False) -> list[Row]:
    """A JSON array of strings, or of objects whose ``field`` is the text; numbered from 1."""
    try:
        document = json.loads(data)
    except (UnicodeDecodeError, ValueError) as error:
        raise _refused("file", f"not a JSON document: {error}") from None
    if not isinstance(document, list):
        raise _refused("file", "the JSON document must be an array")
    if len(document) > MAX_ROWS:
        raise _refused("file", f"more than {MAX_ROWS} rows")
    rows = []
    for line, item in enumerate(document, start=1):
        if isinstance(item, dict):
            if field not in item:
                rows.append(Row(line, "", f"no {field!r} field in this object"))
                continue
            item = item[field]
        rows.append(_row(line, item, truncate=truncate))
    return rows


def read_texts(texts: Sequence[object], *, truncate: bool = False) -> list[Row]:
    """Texts sent in a JSON body (small jobs without a file), numbered from 1."""
    return [_row(line, text, truncate=truncate) for line, text in enumerate(texts, start=1)]


def read_upload(
    data: bytes, *, filename: str, content_type: str, column: str, truncate: bool = False
) -> list[Row]:
    """A CSV or JSON upload's rows, by its media type or else its file name; 422 otherwise."""
    kind = content_type.split(";", 1)[0].strip().lower()
    name = filename.lower()
    if kind in ("text/csv", "application/csv") or (
        kind in ("", "application/octet-stream", "text/plain") and name.endswith(".csv")
    ):
        rows = read_csv(data, column, truncate=truncate)
    elif kind == "application/json" or (
        kind in ("", "application/octet-stream", "text/plain") and name.endswith(".json")
    ):
        rows = read_json(data, column, truncate=truncate)
    else:
        raise _refused(
            "file", f"a CSV (text/csv) or JSON (application/json) file, not {kind or name!r}"
        )
    if not rows:
        raise _refused("file", "no rows to process")
    return rows


@dataclass(frozen=True)
class Job:
    """A job as its owner sees it."""

    id: uuid.UUID
    owner: str
    task: str
    status: str
    labels: list[dict[str, Any]] | None
    total: int
    done: int
    failed: int
    attempts: int
    statistics: dict[str, Any] | None
    error: str | None
    created_at: datetime
    updated_at: datetime

    def as_json(self) -> dict[str, Any]:
        """The job's public fields (``GET /nlp/jobs/{id}``)."""
        return {
            "id": str(self.id),
            "task": self.task,
            "status": self.status,
            "labels": [label["name"] for label in self.labels] if self.labels else None,
            "progress": {"total": self.total, "done": self.done, "failed": self.failed},
            "statistics": self.statistics,
            "error": self.error,
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
        }


def statistics(counts: dict[str, int], failed: int) -> dict[str, Any]:
    """Count and share of each label among the rows scored, and how many failed."""
    scored = sum(counts.values())
    return {
        "scored": scored,
        "failed": failed,
        "labels": [
            {"label": label, "count": count, "share": round(count / scored, 4) if scored else 0.0}
            for label, count in sorted(counts.items(), key=lambda item: (-item[1], item[0]))
        ],
    }


def _job(row: Any) -> Job:
    """A :class:`Job` from its ``nlp_jobs`` row (``SELECT *``: the columns are its fields)."""
    return Job(**{name: row[name] for name in Job.__dataclass_fields__})


class JobStore:
    """The jobs and their rows, in the NLP service's own database."""

    def __init__(self, database: Database) -> None:
        self.database = database

    def create(
        self, owner: str, task: str, rows: Sequence[Row], labels: Sequence[LabelSpec] | None
    ) -> Job:
        """Store a new job (``accepted``) with every row; rows already refused count as failed."""
        job_id = uuid.uuid4()
        failed = sum(1 for row in rows if row.error)
        label_json = [label.model_dump() for label in labels] if labels else None
        with self.database.transaction() as cursor:
            cursor.execute(
                "INSERT INTO nlp_jobs (id, owner, task, status, labels, total, done, failed)"
                " VALUES (%s, %s, %s, 'accepted', %s, %s, %s, %s)"
                " RETURNING *",
                (
                    str(job_id),
                    owner,
                    task,
                    Json(label_json) if label_json else None,
                    len(rows),
                    failed,
                    failed,
                ),
            )
            job = _job(cursor.fetchone())
            execute_values(
                cursor,
                "INSERT INTO nlp_job_rows (job_id, line, text, error) VALUES %s",
                [(str(job_id), row.line, row.text, row.error) for row in rows],
                page_size=1000,
            )
        return job

    def get(self, job_id: uuid.UUID) -> Job | None:
        """The job, or None."""
        with self.database.transaction() as cursor:
            cursor.execute("SELECT * FROM nlp_jobs WHERE id = %s", (str(job_id),))
            found = cursor.fetchone()
        return _job(found) if found else None

    def visible(self, job_id: uuid.UUID, owner: str, *, admin: bool) -> Job:
        """The job if ``owner`` may see it (an admin sees every job); 404 otherwise."""
        job = self.get(job_id)
        if job is None or (job.owner != owner and not admin):
            raise NotFound(f"No job {job_id}")
        return job

    def list_for(self, owner: str, limit: int) -> list[Job]:
        """``owner``'s latest jobs, newest first."""
        with self.database.transaction() as cursor:
            cursor.execute(
                "SELECT * FROM nlp_jobs WHERE owner = %s ORDER BY created_at DESC, id LIMIT %s",
                (owner, limit),
            )
            return [_job(row) for row in cursor.fetchall()]

    def mark(
        self, job_id: uuid.UUID, status: str, *, only_from: Sequence[str], error: str | None = None
    ) -> Job | None:
        """Move the job to ``status`` if it is in one of ``only_from``; the job moved, or None."""
        with self.database.transaction() as cursor:
            cursor.execute(
                "UPDATE nlp_jobs SET status = %s, error = COALESCE(%s, error), updated_at = now()"
                " WHERE id = %s AND status = ANY(%s) RETURNING *",
                (status, error, str(job_id), list(only_from)),
            )
            found = cursor.fetchone()
        return _job(found) if found else None

    def cancel(self, job: Job) -> Job:
        """Cancel a job that has not finished; 409 if it has."""
        cancelled = self.mark(job.id, "cancelled", only_from=("accepted", "queued", "running"))
        if cancelled is None:
            current = self.get(job.id)
            raise Conflict(
                f"Job {job.id} has already finished ({current.status if current else 'gone'})"
            )
        return cancelled

    def start(self, job_id: uuid.UUID) -> Job | None:
        """Take the job up (``running``, one attempt more); None if it is finished or gone."""
        with self.database.transaction() as cursor:
            cursor.execute(
                "UPDATE nlp_jobs SET status = 'running', attempts = attempts + 1,"
                " updated_at = now()"
                " WHERE id = %s AND status IN ('accepted', 'queued', 'running')"
                " RETURNING *",
                (str(job_id),),
            )
            found = cursor.fetchone()
        return _job(found) if found else None

    def pending(self, job_id: uuid.UUID, limit: int) -> list[Row]:
        """The next rows without a result or an error, in line order."""
        with self.database.transaction() as cursor:
            cursor.execute(
                "SELECT line, text FROM nlp_job_rows WHERE job_id = %s AND result IS NULL"
                " AND error IS NULL ORDER BY line LIMIT %s",
                (str(job_id), limit),
            )
            return [Row(row["line"], row["text"]) for row in cursor.fetchall()]

    def record(
        self, job_id: uuid.UUID, results: Sequence[tuple[int, dict[str, Any] | None, str | None]]
    ) -> str:
        """Store a chunk's results (``line, result, error``) and progress; the job's status.

        One transaction, so a job taken up again never counts a row twice.
        A cancelled job keeps nothing more.
        """
        with self.database.transaction() as cursor:
            cursor.execute("SELECT status FROM nlp_jobs WHERE id = %s FOR UPDATE", (str(job_id),))
            found = cursor.fetchone()
            if found is None or found["status"] != "running":
                return str(found["status"]) if found else "gone"
            execute_values(
                cursor,
                "UPDATE nlp_job_rows AS row SET result = new.result::jsonb, error = new.error"
                " FROM (VALUES %s) AS new (job_id, line, result, error)"
                " WHERE row.job_id = new.job_id::uuid AND row.line = new.line"
                " AND row.result IS NULL AND row.error IS NULL",
                [
                    (str(job_id), line, json.dumps(result) if result is not None else None, error)
                    for line, result, error in results
                ],
                template="(%s, %s, %s, %s)",
                page_size=1000,
            )
            cursor.execute(
                "UPDATE nlp_jobs SET done = done + %s, failed = failed + %s, updated_at = now()"
                " WHERE id = %s",
                (
                    len(results),
                    sum(1 for _, _, error in results if error),
                    str(job_id),
                ),
            )
        return "running"

    def finish(self, job_id: uuid.UUID) -> Job | None:
        """Count the labels and mark the job ``ready`` (if it is still running)."""
        with self.database.transaction() as cursor:
            cursor.execute(
                "SELECT result->>'label' AS label, count(*) AS count FROM nlp_job_rows"
                " WHERE job_id = %s AND result IS NOT NULL GROUP BY 1",
                (str(job_id),),
            )
            counts = {row["label"]: int(row["count"]) for row in cursor.fetchall()}
            cursor.execute(
                "SELECT count(*) AS failed FROM nlp_job_rows"
                " WHERE job_id = %s AND error IS NOT NULL",
                (str(job_id),),
            )
            failed = int(cursor.fetchone()["failed"])  # type: ignore[index]
            cursor.execute(
                "UPDATE nlp_jobs SET status = 'ready', statistics = %s, updated_at = now()"
                " WHERE id = %s AND status = 'running' RETURNING *",
                (Json(statistics(counts, failed)), str(job_id)),
            )
            found = cursor.fetchone()
        return _job(found) if found else None

    def stale_accepted(self, older_than_seconds: float) -> list[uuid.UUID]:
        """Jobs stored but never queued (the broker was away when they came)."""
        with self.database.transaction() as cursor:
            cursor.execute(
                "SELECT id FROM nlp_jobs WHERE status = 'accepted'"
                " AND updated_at < now() - make_interval(secs => %s) ORDER BY created_at",
                (older_than_seconds,),
            )
            return [uuid.UUID(str(row["id"])) for row in cursor.fetchall()]

    def results(self, job_id: uuid.UUID, *, after: int, limit: int) -> list[dict[str, Any]]:
        """Rows after line ``after``, in line order, with their result or error."""
        with self.database.transaction() as cursor:
            cursor.execute(
                "SELECT line, text, result, error FROM nlp_job_rows WHERE job_id = %s AND line > %s"
                " ORDER BY line LIMIT %s",
                (str(job_id), after, limit),
            )
            return [dict(row) for row in cursor.fetchall()]

    def all_results(self, job_id: uuid.UUID, page: int = 2000) -> Iterator[dict[str, Any]]:
        """Every row of the job in line order, a page at a time."""
        after = 0
        while True:
            rows = self.results(job_id, after=after, limit=page)
            yield from rows
            if len(rows) < page:
                return
            after = rows[-1]["line"]


def results_cursor(job_id: uuid.UUID, line: int) -> str:
    """The opaque cursor of the page after ``line`` of this job."""
    return encode_payload({"job": str(job_id), "line": line})


def line_after(cursor: str | None, job_id: uuid.UUID) -> int:
    """Where a results page starts (0: the beginning); 400 for a cursor of another job."""
    if not cursor:
        return 0
    payload = decode_payload(cursor)
    line = payload.get("line")
    if payload.get("job") != str(job_id) or not isinstance(line, int) or line < 0:
        raise InvalidCursor("not a cursor of this job's results")
    return line
