"""The importer as a real process: progress while it runs, a kill, a stop, its probes and metrics.

Each test has a customer database of its own. To catch the importer mid-job
without timing anything, the test holds a row lock the job must wait for: an
uncommitted customer with the email of row 36, so the chunks before it commit
and the chunk holding it waits until the test lets go.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import psycopg2
import pytest
import requests

from customer_service.import_schemas import ImportCreate, ImportJobRead
from customer_service.import_store import ImportStore
from customer_service.imports import ImportService
from shared.database import Database
from tests.support.processes import WorkerProcess

IMPORTER = "customer_service.importer"
ROWS = 60
CHUNK = 10
#: The row whose email the test holds: line 37, in the fourth chunk (rows 31-40).
HELD_ROW = 35


@pytest.fixture
def database_url(make_database: Callable[[str], str]) -> str:
    """A customer database of this test's own."""
    return make_database("customer_service")


@pytest.fixture
def imports(database_url: str) -> Iterator[ImportService]:
    """The import use cases on that database, as the API calls them."""
    database = Database(database_url, pool_size=1)
    yield ImportService(ImportStore(database), max_bytes=1_048_576)
    database.close()


StartImporter = Callable[..., WorkerProcess]


@pytest.fixture
def start_importer(
    worker_for_test: Callable[..., WorkerProcess], database_url: str
) -> StartImporter:
    """Factory: an importer on this test's database; keywords add to its settings."""

    def start(**settings: str) -> WorkerProcess:
        env = {
            "CUSTOMER_DATABASE_URL": database_url,
            "IMPORT_CHUNK_SIZE": str(CHUNK),
            # The held chunk waits for the test, longer than the default statement timeout.
            "DATABASE_STATEMENT_TIMEOUT_MS": "120000",
        }
        return worker_for_test(IMPORTER, {**env, **settings})

    return start


def emails(count: int) -> list[str]:
    """``count`` emails no other test uses."""
    run = uuid.uuid4().hex[:8]
    return [f"row{n}-{run}@example.com" for n in range(count)]


def submit(imports: ImportService, addresses: list[str]) -> ImportJobRead:
    """Queue a file of one customer per address."""
    content = "name,email\r\n" + "".join(f"Row {n},{a}\r\n" for n, a in enumerate(addresses))
    request = ImportCreate(
        filename="people.csv", mapping={"name": "name", "email": "email"}, content=content
    )
    return imports.submit(request, submitted_by="tests")


#: Sessions of the test database waiting for a lock another holds.
WAITING_ON_A_LOCK = (
    "SELECT count(*) FROM pg_stat_activity"
    " WHERE datname = current_database() AND wait_event_type = 'Lock'"
)


@contextmanager
def holding_email(database_url: str, email: str) -> Iterator[None]:
    """An uncommitted customer with ``email``: a create of the same email waits for the block."""
    connection = psycopg2.connect(database_url)
    try:
        with connection.cursor() as cursor:
            cursor.execute("INSERT INTO customers (name, email) VALUES ('Holder', %s)", [email])
        yield
    finally:
        connection.rollback()
        connection.close()


def wait_for_job(
    imports: ImportService,
    job_id: uuid.UUID,
    worker: WorkerProcess,
    check: Callable[[ImportJobRead], bool],
    timeout: float = 60,
) -> ImportJobRead:
    """Poll the job until ``check`` holds; at the deadline, fail showing the worker's output."""
    deadline = time.monotonic() + timeout
    while not check(job := imports.get_job(job_id)):
        assert time.monotonic() < deadline, f"{job}\n{worker.output()}"
        time.sleep(0.05)
    return job


def scalar(database_url: str, statement: str, *params: object) -> int:
    """The one value ``statement`` selects."""
    connection = psycopg2.connect(database_url)
    try:
        with connection.cursor() as cursor:
            cursor.execute(statement, params)
            (value,) = cursor.fetchone() or (0,)
            return int(value)
    finally:
        connection.close()


def test_progress_shows_while_the_job_runs_and_metrics_count_rows_and_jobs(
    imports: ImportService, database_url: str, start_importer: StartImporter
) -> None:
    addresses = emails(ROWS)
    importer = start_importer()

    with holding_email(database_url, addresses[HELD_ROW]):
        job = submit(imports, addresses)
        running = wait_for_job(imports, job.id, importer, lambda j: j.processed == 30)
        # Still 30 once more: the chunk with the held row cannot commit before the test lets go.
        assert imports.get_job(job.id).processed == 30

    done = wait_for_job(imports, job.id, importer, lambda j: j.status == "succeeded")

    assert (job.status, job.total) == ("queued", ROWS)
    assert (running.status, running.created, running.failed) == ("running", 30, 0)
    assert running.finished_at is None
    assert (done.processed, done.created, done.existing, done.failed) == (ROWS, ROWS, 0, 0)
    assert done.finished_at is not None
    assert importer.probe("/readyz") == 200
    metrics = requests.get(importer.metrics_url, timeout=5).text
    assert f'customer_import_rows_total{{outcome="created"}} {float(ROWS)}' in metrics
    assert 'customer_import_rows_total{outcome="failed"} 0.0' in metrics
    assert 'customer_import_jobs_finished_total{status="succeeded"} 1.0' in metrics
    assert "customer_import_jobs{status=" in metrics


def test_a_job_whose_importer_was_killed_is_resumed_and_creates_each_row_once(
    imports: ImportService, database_url: str, start_importer: StartImporter
) -> None:
    addresses = emails(ROWS)
    first = start_importer()

    with holding_email(database_url, addresses[HELD_ROW]):
        job = submit(imports, addresses)
        wait_for_job(imports, job.id, first, lambda j: j.processed == 30)
        first.kill()

    # Its last commit was chunk three: the fourth, cut short, left nothing behind.
    left = imports.get_job(job.id)
    second = start_importer(IMPORT_LEASE_SECONDS="1")
    done = wait_for_job(imports, job.id, second, lambda j: j.status == "succeeded")

    assert (left.status, left.processed) == ("running", 30)
    assert (done.created, done.existing, done.failed) == (ROWS, 0, 0)
    assert scalar(database_url, "SELECT count(*) FROM customers") == ROWS
    assert scalar(database_url, "SELECT count(DISTINCT line) FROM import_rows") == ROWS
    assert scalar(database_url, "SELECT count(*) FROM import_rows") == ROWS
    created_events = "SELECT count(*) FROM outbox WHERE event_type = 'customer.created'"
    assert scalar(database_url, created_events) == ROWS


def test_on_sigterm_it_finishes_its_chunk_and_gives_the_job_back(
    imports: ImportService, database_url: str, start_importer: StartImporter
) -> None:
    addresses = emails(ROWS)
    first = start_importer()

    with holding_email(database_url, addresses[HELD_ROW]):
        job = submit(imports, addresses)
        wait_for_job(imports, job.id, first, lambda j: j.processed == 30)
        # Inside its fourth chunk, waiting on the held row (between chunks, it would
        # rightly stop before starting another).
        deadline = time.monotonic() + 30
        while not scalar(database_url, WAITING_ON_A_LOCK):
            assert time.monotonic() < deadline, first.output()
            time.sleep(0.05)
        assert first.process is not None
        first.process.terminate()

    # Its chunk's rows, once the held one is free, on a machine the suite keeps busy.
    assert first.stop(timeout=45) == 0
    given_back = imports.get_job(job.id)
    second = start_importer()
    done = wait_for_job(imports, job.id, second, lambda j: j.status == "succeeded")

    # The chunk it was in when told to stop was finished, not dropped.
    assert (given_back.status, given_back.processed) == ("queued", 40)
    assert (done.created, done.failed) == (ROWS, 0)
    assert scalar(database_url, "SELECT count(*) FROM customers") == ROWS


def test_several_importers_share_the_queue(
    imports: ImportService, database_url: str, start_importer: StartImporter
) -> None:
    jobs = [submit(imports, emails(25)) for _ in range(4)]
    importers = [start_importer(IMPORT_CHUNK_SIZE="5") for _ in range(2)]

    for job in jobs:
        done = wait_for_job(imports, job.id, importers[0], lambda j: j.status == "succeeded")
        assert (done.created, done.failed) == (25, 0)
    assert scalar(database_url, "SELECT count(*) FROM customers") == 100
    finished = [
        float(line.split()[-1])
        for importer in importers
        for line in requests.get(importer.metrics_url, timeout=5).text.splitlines()
        if line.startswith('customer_import_jobs_finished_total{status="succeeded"}')
    ]
    assert sum(finished) == 4
