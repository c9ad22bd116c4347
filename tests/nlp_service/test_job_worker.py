"""The batch worker, a real process (``python -m nlp_service.worker``): real broker, real model.

One worker for the module, on a queue of its own, with small chunks and short
slices, retries and re-queueing so that each behaviour shows within seconds:
scoring with statistics, resuming after ``kill -9``, cancelling, a job that
keeps failing, and a job stored while the queue was away.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests

from nlp_service import tasks
from nlp_service.job_service import JobService
from nlp_service.jobs import Job, JobStore, Row, read_texts
from nlp_service.schemas import JobTask, LabelSpec
from nlp_service.settings import Settings
from shared.auth import Principal
from shared.database import Database
from tests.support import broker
from tests.support.processes import WorkerProcess
from tests.support.service_fixtures import sql_on

pytestmark = pytest.mark.timeout(300)

#: Rows per forward pass and seconds per run: small, so a job spans many chunks and runs.
CHUNK_ROWS = 8
MAX_RETRIES = 2


@pytest.fixture(scope="module")
def worker_queue() -> Iterator[str]:
    """The module's own jobs queue (deleted at the end)."""
    with broker.own_queue("nlp-worker") as name:
        yield name


@pytest.fixture(scope="module")
def job_worker(
    start_worker: Callable[..., WorkerProcess],
    nlp_database: str,
    worker_queue: str,
    cache_namespace: str,
) -> Iterator[WorkerProcess]:
    """The batch worker, ready (model loaded, consuming ``worker_queue``)."""
    worker = start_worker(
        "nlp_service.worker",
        {
            "NLP_DATABASE_URL": nlp_database,
            "NLP_JOBS_QUEUE": worker_queue,
            "NLP_CACHE_NAMESPACE": cache_namespace,
            "AMQP_URL": broker.AMQP_URL,
            "NLP_TORCH_THREADS": "1",
            "NLP_JOB_CHUNK_ROWS": str(CHUNK_ROWS),
            "NLP_JOB_SLICE_SECONDS": "1",
            "NLP_JOB_MAX_RETRIES": str(MAX_RETRIES),
            "NLP_JOB_RETRY_SECONDS": "0.2",
            "NLP_JOB_REQUEUE_SECONDS": "1",
            "LOG_LEVEL": "INFO",
        },
        ready=False,
    )
    worker.wait_for("/readyz", timeout=120)  # the model loads first
    yield worker
    worker.stop()


@pytest.fixture(scope="module")
def store(nlp_database: str) -> Iterator[JobStore]:
    """The jobs of the worker's database."""
    database = Database(nlp_database, pool_size=2)
    yield JobStore(database)
    database.close()


@pytest.fixture(scope="module")
def jobs(store: JobStore, worker_queue: str) -> JobService:
    """Submits jobs as the API does, to the worker's queue."""
    settings = Settings(nlp_jobs_queue=worker_queue)
    return JobService(store, tasks.queue_to(settings))


OWNER = Principal(subject=str(uuid.uuid4()), name="ada", role="agent", scopes=frozenset())


def _submit(jobs: JobService, texts: list[Any], **options: Any) -> Job:
    return jobs.submit(OWNER, JobTask(task="sentiment", **options), read_texts(texts))


def _wait(store: JobStore, job: Job, done: Callable[[Job], bool], timeout: float = 120) -> Job:
    deadline = time.monotonic() + timeout
    while True:
        current = store.get(job.id)
        assert current is not None
        if done(current) or time.monotonic() > deadline:
            return current
        time.sleep(0.1)


def _unique(count: int) -> list[str]:
    """Texts no cache has seen: each costs a forward pass."""
    return [
        f"Order {uuid.uuid4().hex[:8]} arrived, thanks for the quick help" for _ in range(count)
    ]


def test_a_job_is_scored_with_its_statistics_and_rows_that_fail_alone(
    job_worker: WorkerProcess, jobs: JobService, store: JobStore
) -> None:
    texts = [
        "Absolutely love this product, the support team was wonderful!",
        "Terrible experience. The invoice was wrong and nobody answered.",
        "   ",
        "Fantastic service, thank you so much, I am delighted",
        "This is the worst company I have ever dealt with, awful",
    ]

    job = _wait(store, _submit(jobs, texts), lambda job: job.status == "ready")

    assert job.status == "ready", job
    assert (job.total, job.done, job.failed) == (5, 5, 1)
    assert job.statistics == {
        "scored": 4,
        "failed": 1,
        "labels": [
            {"label": "negative", "count": 2, "share": 0.5},
            {"label": "positive", "count": 2, "share": 0.5},
        ],
    }
    rows = store.results(job.id, after=0, limit=10)
    assert [row["result"]["label"] if row["result"] else row["error"] for row in rows] == [
        "positive",
        "negative",
        "must not be blank",
        "positive",
        "negative",
    ]


def test_a_classify_job_ranks_the_callers_labels(
    job_worker: WorkerProcess, jobs: JobService, store: JobStore
) -> None:
    labels = [
        LabelSpec(name="billing", description="invoices, payments and refunds"),
        LabelSpec(name="shipping", description="deliveries, parcels and couriers"),
    ]
    job = jobs.submit(
        OWNER,
        JobTask(task="classify", labels=labels),
        read_texts(["My invoice is overdue and I was charged twice", "The parcel never arrived"]),
    )

    job = _wait(store, job, lambda job: job.status == "ready")

    rows = store.results(job.id, after=0, limit=10)
    assert [row["result"]["label"] for row in rows] == ["billing", "shipping"]
    assert [label["name"] for label in rows[0]["result"]["labels"]] == ["billing", "shipping"]


def _rows_scored(worker: WorkerProcess) -> float:
    metrics = requests.get(worker.metrics_url, timeout=5).text
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in metrics.splitlines()
        if line.startswith("nlp_job_rows_total{") and 'outcome="scored"' in line
    )


def test_a_worker_killed_mid_job_resumes_from_its_last_finished_chunk(
    job_worker: WorkerProcess, jobs: JobService, store: JobStore, nlp_database: str
) -> None:
    total = 30 * CHUNK_ROWS
    job = _submit(jobs, _unique(total))
    running = _wait(store, job, lambda job: job.done >= 3 * CHUNK_ROWS)
    assert running.status == "running", running

    job_worker.kill()
    at_kill = store.get(job.id)
    assert at_kill is not None
    assert 0 < at_kill.done < total
    job_worker.restart(timeout=120)
    finished = _wait(store, job, lambda job: job.status == "ready")

    assert (finished.done, finished.failed) == (total, 0)
    assert finished.attempts >= 2
    # The new process scored only what was left: nothing finished before the kill again.
    assert _rows_scored(job_worker) <= total - at_kill.done
    with sql_on(nlp_database) as query:
        (missing,) = query(
            "SELECT count(*) AS n FROM nlp_job_rows WHERE job_id = %s AND result IS NULL",
            (str(job.id),),
        )
    assert missing["n"] == 0


def test_a_cancelled_job_stops_after_its_current_chunk(
    job_worker: WorkerProcess, jobs: JobService, store: JobStore
) -> None:
    total = 40 * CHUNK_ROWS
    job = _submit(jobs, _unique(total))
    _wait(store, job, lambda job: job.done >= CHUNK_ROWS)

    cancelled = store.cancel(job)
    time.sleep(2)  # longer than a chunk and a slice: a job still running would move on
    later = store.get(job.id)

    assert cancelled.status == "cancelled"
    assert later is not None
    assert later.status == "cancelled"
    assert later.done <= cancelled.done + CHUNK_ROWS
    assert later.done < total


def test_a_job_that_keeps_failing_ends_in_error_with_the_reason(
    job_worker: WorkerProcess, store: JobStore, nlp_database: str, worker_queue: str
) -> None:
    # A job whose stored labels are not labels (as a bad migration or hand edit would leave
    # them): every run fails on them, and the retries end it in error.
    labels = [LabelSpec(name="billing"), LabelSpec(name="shipping")]
    job = store.create(OWNER.subject, "classify", [Row(1, "invoice overdue")], labels)
    # Queued as the API marks it, at once: a job left `accepted` for a second is queued by
    # the worker's own sweep too (NLP_JOB_REQUEUE_SECONDS=1), and two runs would count.
    with sql_on(nlp_database) as query:
        query(
            "UPDATE nlp_jobs SET labels = '[{\"title\": \"billing\"}]', status = 'queued'"
            " WHERE id = %s",
            (str(job.id),),
        )
    tasks.send_job(job.id, worker_queue)

    failed = _wait(store, job, lambda job: job.status == "error", timeout=60)

    assert failed.status == "error"
    assert failed.error is not None
    assert "ValidationError" in failed.error
    assert failed.attempts == MAX_RETRIES + 1


def test_a_job_stored_while_the_queue_was_away_is_queued_by_the_worker(
    job_worker: WorkerProcess, store: JobStore
) -> None:
    # Stored, never queued: what the API leaves when the broker refuses the message.
    job = store.create(OWNER.subject, "sentiment", read_texts(["Thanks, all sorted!"]), None)

    finished = _wait(store, job, lambda job: job.status == "ready", timeout=60)

    assert finished.status == "ready"
    assert finished.statistics is not None
    assert finished.statistics["labels"][0]["label"] == "positive"


def test_the_worker_serves_its_probes_and_metrics(job_worker: WorkerProcess) -> None:
    assert job_worker.probe("/healthz") == 200
    assert job_worker.probe("/readyz") == 200
    assert "nlp_job_chunk_seconds_bucket" in requests.get(job_worker.metrics_url, timeout=5).text
