"""Rebuilding the index from the customer service while events keep flowing.

A job lists every live customer (``source.py``) and, page by page in one
transaction each, writes those newer than what the index holds (the same version
gate as events, so a listing never overwrites a newer event) and marks every
listed customer as seen by this job's generation. At the end, one statement
tombstones the live documents this job did not see and no event changed since it
started (``start_change``): customers deleted while their delete event was lost
or not yet applied. Nothing is emptied first, so searches never miss a customer.

A job runs in a daemon thread of the web process that started it; it beats a
heartbeat with each page, and a job whose heartbeat stops (its process died) reads
as failed and no longer blocks a new one.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from uuid import UUID

from search_service.documents import document_from_snapshot
from search_service.source import CustomerSource
from search_service.store import SearchStore

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ReindexRun:
    """What a started job needs: its id and generation, where events stood, whose token."""

    job_id: UUID
    generation: int
    start_change: int
    token: str


class Reindexer:
    """Runs reindex jobs against one store and one source."""

    def __init__(self, store: SearchStore, source: CustomerSource) -> None:
        self._store = store
        self._source = source

    def run(self, run: ReindexRun) -> None:
        """Run a job to its end, recording success or why it failed."""
        try:
            for page in self._source.pages(run.token):
                self._apply_page(run, page)
            with self._store.transaction() as tx:
                removed = tx.remove_unseen(run.generation, run.start_change)
                tx.finish_job(run.job_id, "succeeded", removed=removed)
            logger.info("reindex %s succeeded; %d documents removed", run.job_id, removed)
        except Exception as error:
            logger.exception("reindex %s failed", run.job_id)
            self._record_failure(run, str(error) or type(error).__name__)

    def _record_failure(self, run: ReindexRun, reason: str) -> None:
        try:
            with self._store.transaction() as tx:
                tx.finish_job(run.job_id, "failed", error=reason)
        except Exception:
            # The database is away too: the job stops beating, and reads as failed.
            logger.exception("reindex %s: could not record its failure", run.job_id)

    def _apply_page(self, run: ReindexRun, page: list[dict[str, object]]) -> None:
        documents = {
            document.customer_id: document
            for document in (document_from_snapshot(customer) for customer in page)
        }
        with self._store.transaction() as tx:
            upserted = tx.upsert_documents(list(documents.values()), by_event=False)
            tx.mark_seen(documents, run.generation)
            tx.refresh_documents(upserted)
            tx.record_progress(run.job_id, seen=len(documents), upserted=len(upserted))


def thread_launcher(reindexer: Reindexer) -> Callable[[ReindexRun], None]:
    """Launch each job in a daemon thread of this process."""

    def launch(run: ReindexRun) -> None:
        threading.Thread(
            target=reindexer.run, args=(run,), name=f"reindex-{run.job_id}", daemon=True
        ).start()

    return launch
