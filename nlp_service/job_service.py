"""Batch jobs as the API offers them: submit (store, then queue), see one's own, shape results.

Framework-free. A job is stored first (``accepted``) and queued after; if the
broker cannot take it then, the upload is not lost: the job stays
``accepted`` and the worker queues it within ``NLP_JOB_REQUEUE_SECONDS``.
Only a job's owner sees it, or an admin; anyone else gets the same 404 as for
a job that does not exist.
"""

from __future__ import annotations

import csv
import io
import logging
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

from nlp_service.jobs import Job, JobStore, Row
from nlp_service.schemas import JobTask
from shared.auth import Principal

logger = logging.getLogger(__name__)

#: The role that sees every job.
ADMIN_ROLE = "admin"
CSV_COLUMNS = ("line", "text", "label", "score", "error")


class JobService:
    """Submits jobs and finds them for their owners."""

    def __init__(self, store: JobStore, queue: Callable[[uuid.UUID], None]) -> None:
        self.store = store
        self.queue = queue

    def submit(self, principal: Principal, options: JobTask, rows: Sequence[Row]) -> Job:
        """Store the job with its rows, then queue it; the job as stored."""
        job = self.store.create(principal.subject, options.task, rows, options.labels)
        try:
            self.queue(job.id)
        except Exception as error:  # the broker away: the worker queues it later
            logger.warning("job %s stored but not queued yet: %s", job.id, error)
            return job
        return self.store.mark(job.id, "queued", only_from=("accepted",)) or job

    def visible(self, principal: Principal, job_id: uuid.UUID) -> Job:
        """The job if ``principal`` owns it or is an admin; 404 otherwise."""
        return self.store.visible(job_id, principal.subject, admin=principal.role == ADMIN_ROLE)


def result_item(row: dict[str, Any]) -> dict[str, Any]:
    """One row of ``GET /nlp/jobs/{id}/results``: line, text, then its result or its error."""
    return {
        "line": row["line"],
        "text": row["text"],
        "result": row["result"],
        "error": row["error"],
    }


def results_csv(rows: Iterable[dict[str, Any]]) -> Iterator[str]:
    """The rows as CSV lines (header first), the label and score of each result."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)

    def flush() -> str:
        text = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        return text

    writer.writerow(CSV_COLUMNS)
    yield flush()
    for row in rows:
        result = row["result"] or {}
        writer.writerow(
            (
                row["line"],
                row["text"],
                result.get("label", ""),
                result.get("score", ""),
                row["error"] or "",
            )
        )
        yield flush()
