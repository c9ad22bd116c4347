"""The importer (``python -m customer_service.importer``): queued CSV imports -> customers.

It wakes on ``NOTIFY customer_imports`` (sent when a job is queued) and looks
anyway every ``IMPORT_POLL_SECONDS``. It claims the oldest job no live importer
holds (``FOR UPDATE SKIP LOCKED``, so several importers share the queue) and
creates its customers ``IMPORT_CHUNK_SIZE`` rows per transaction, through the
same store and outbox as the API: the relay publishes their
``customer.created`` events. Each chunk commits the job's progress with it and
beats the job's lease; a job whose importer died (no chunk for
``IMPORT_LEASE_SECONDS``) is taken over where it stopped. On SIGTERM it
finishes its chunk and gives the job back to the queue. A job that fails for a
reason of its own (not the database being away) is marked failed with the
reason, and the importer goes on with the next.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections import Counter as Counts

from prometheus_client import Counter, Gauge

from customer_service.import_store import IMPORT_CHANNEL, ImportStore
from customer_service.imports import LOST, RELEASED, ImportRunner
from customer_service.notifications import ChannelListener
from customer_service.settings import Settings
from shared.database import Database
from shared.events.process import DATABASE_AWAY
from shared.worker import WorkerState, run_worker

logger = logging.getLogger(__name__)

ROWS = Counter(
    "customer_import_rows_total", "CSV rows the importer processed, by outcome", ["outcome"]
)
JOBS_FINISHED = Counter(
    "customer_import_jobs_finished_total",
    "Import jobs this importer ended, by status (released: given back on stop)",
    ["status"],
)
JOBS = Gauge("customer_import_jobs", "Import jobs waiting or being run, by status", ["status"])
#: How often the jobs gauge is refreshed while idle, in seconds.
GAUGE_EVERY = 5.0
OUTCOMES = ("created", "existing", "failed")


def count_rows(counts: Counts[str], state: WorkerState) -> None:
    """Add a chunk's outcomes to the rows counter; the loop is alive."""
    for outcome, rows in counts.items():
        ROWS.labels(outcome).inc(rows)
    state.beat()


def import_jobs(state: WorkerState, settings: Settings, worker: str) -> None:
    """Run queued jobs until ``state.stopping`` is set."""
    database = Database(
        settings.database_url,
        pool_size=1,
        connect_timeout=settings.database_connect_timeout_seconds,
        statement_timeout_ms=settings.database_statement_timeout_ms,
        application_name="customer_service.importer",
    )
    runner = ImportRunner(
        ImportStore(database),
        worker=worker,
        chunk_size=settings.import_chunk_size,
        lease_seconds=settings.import_lease_seconds,
    )
    listener: ChannelListener | None = None
    try:
        listener = ChannelListener(
            settings.database_url, settings.database_connect_timeout_seconds, IMPORT_CHANNEL
        )
        database.ping()
        state.ready()
        logger.info("importing queued CSV files")
        next_gauge = 0.0
        while not state.stopping.is_set():
            state.beat()
            if time.monotonic() >= next_gauge:
                for status, jobs in runner.unfinished_jobs().items():
                    JOBS.labels(status).set(jobs)
                next_gauge = time.monotonic() + GAUGE_EVERY
            job = runner.claim()
            if job is None:
                listener.wait(settings.import_poll_seconds)
                continue
            logger.info("importing %s (job %s) from row %d", job.filename, job.id, job.processed)
            next_gauge = 0.0
            try:
                status = runner.run(
                    job,
                    stopping=state.stopping.is_set,
                    after_chunk=lambda counts: count_rows(counts, state),
                )
            except DATABASE_AWAY:
                raise  # the job stays ours; the runner starts again after a back-off
            except Exception as error:
                logger.exception("import job %s failed", job.id)
                status = runner.fail(job.id, f"internal error: {type(error).__name__}")
            if status != LOST:
                JOBS_FINISHED.labels(status).inc()
            logger.info("import job %s: %s", job.id, status)
            if status == RELEASED:
                break
    finally:
        if listener is not None:
            listener.close()
        database.close()


def main() -> None:
    """Run the importer under the shared worker runner."""
    settings = Settings()
    # One name per process, kept across restarts of the work loop: the jobs it holds stay its own.
    worker = f"customer_service.importer:{uuid.uuid4()}"
    for outcome in OUTCOMES:
        ROWS.labels(outcome)
    run_worker(
        lambda state: import_jobs(state, settings, worker),
        service="customer_service.importer",
        metrics_bind=settings.metrics_bind,
        transient=DATABASE_AWAY,
        log_level=settings.log_level,
    )


if __name__ == "__main__":
    main()
