"""The connection pool and unit of work, against a real throwaway PostgreSQL database."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator

import psycopg2
import pytest

from shared.database import Database, create_database, drop_database
from shared.errors import ServiceUnavailable
from tests.support.databases import POSTGRES, database_url
from tests.support.processes import free_port


class Boom(Exception):
    """Raised by a test inside a transaction."""


def database_exists(url: str) -> bool:
    name = psycopg2.extensions.parse_dsn(url)["dbname"]
    with psycopg2.connect(f"{POSTGRES}/postgres") as conn, conn.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
        found = cursor.fetchone() is not None
    conn.close()
    return found


@pytest.fixture(scope="module")
def url() -> Iterator[str]:
    url = database_url("shared")
    create_database(url)
    with psycopg2.connect(url) as conn, conn.cursor() as cursor:
        cursor.execute("CREATE TABLE notes (id uuid PRIMARY KEY, body text NOT NULL)")
    conn.close()
    yield url
    drop_database(url)


@pytest.fixture
def database(url: str) -> Iterator[Database]:
    database = Database(url, pool_size=2, statement_timeout_ms=2000)
    yield database
    database.close()


def note_bodies(database: Database) -> set[str]:
    with database.transaction() as cursor:
        cursor.execute("SELECT body FROM notes")
        return {row["body"] for row in cursor.fetchall()}


def test_transaction_commits_when_the_block_ends(database, url):
    body = f"committed-{uuid.uuid4().hex}"
    with database.transaction() as cursor:
        cursor.execute("INSERT INTO notes (id, body) VALUES (%s, %s)", (uuid.uuid4(), body))

    # Seen from a connection outside the pool too.
    with psycopg2.connect(url) as conn, conn.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM notes WHERE body = %s", (body,))
        assert cursor.fetchone() == (1,)
    conn.close()


def test_exception_rolls_everything_back(database):
    first, second = f"lost-{uuid.uuid4().hex}", f"lost-{uuid.uuid4().hex}"

    def write_both_then_fail() -> None:
        with database.transaction() as cursor:
            cursor.execute("INSERT INTO notes (id, body) VALUES (%s, %s)", (uuid.uuid4(), first))
            cursor.execute("INSERT INTO notes (id, body) VALUES (%s, %s)", (uuid.uuid4(), second))
            raise Boom

    with pytest.raises(Boom):
        write_both_then_fail()

    assert not {first, second} & note_bodies(database)


def test_failed_statement_rolls_back_and_leaves_the_pool_usable(database):
    body = f"dup-{uuid.uuid4().hex}"
    note_id = uuid.uuid4()

    def insert_twice() -> None:
        with database.transaction() as cursor:
            cursor.execute("INSERT INTO notes (id, body) VALUES (%s, %s)", (note_id, body))
            cursor.execute("INSERT INTO notes (id, body) VALUES (%s, %s)", (note_id, body))

    with pytest.raises(psycopg2.errors.UniqueViolation):
        insert_twice()

    assert body not in note_bodies(database)


def test_rows_are_dicts_and_uuids_round_trip(database):
    note_id = uuid.uuid4()
    with database.transaction() as cursor:
        cursor.execute(
            "INSERT INTO notes (id, body) VALUES (%s, %s) RETURNING id, body", (note_id, "hi")
        )
        row = cursor.fetchone()

    assert row == {"id": note_id, "body": "hi"}
    assert isinstance(row["id"], uuid.UUID)


def test_sessions_run_in_utc(database):
    with database.transaction() as cursor:
        cursor.execute("SHOW TimeZone")
        assert cursor.fetchone() == {"TimeZone": "UTC"}


def test_pool_reuses_its_connections(database):
    backends = []
    for _ in range(3):
        with database.transaction() as cursor:
            cursor.execute("SELECT pg_backend_pid() AS pid")
            backends.append(cursor.fetchone()["pid"])

    # A pool that opens a new server session per transaction is no pool at all.
    assert len(set(backends)) == 1, backends


def test_more_threads_than_connections_wait_instead_of_failing(database):
    in_use, most_in_use, finished = 0, 0, []
    lock = threading.Lock()
    failures: list[BaseException] = []

    def work() -> None:
        nonlocal in_use, most_in_use
        try:
            with database.transaction() as cursor:
                with lock:
                    in_use += 1
                    most_in_use = max(most_in_use, in_use)
                cursor.execute("SELECT pg_sleep(0.15)")
                with lock:
                    in_use -= 1
            finished.append(True)
        except BaseException as error:
            failures.append(error)

    threads = [threading.Thread(target=work) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=20)

    assert failures == []
    assert len(finished) == 6
    assert most_in_use == 2


def test_unreachable_database_is_service_unavailable():
    database = Database(f"postgresql://postgres@127.0.0.1:{free_port()}/nowhere", connect_timeout=1)

    with pytest.raises(ServiceUnavailable) as caught, database.transaction():
        pass

    assert caught.value.status == 503
    with pytest.raises(ServiceUnavailable):
        database.ping()


def test_connection_broken_while_in_use_is_503_and_the_next_call_works(database):
    with pytest.raises(ServiceUnavailable), database.transaction() as cursor:
        cursor.execute("SELECT pg_terminate_backend(pg_backend_pid())")

    database.ping()
    with database.transaction() as cursor:
        cursor.execute("SELECT 41 + 1 AS answer")
        assert cursor.fetchone() == {"answer": 42}


def test_statement_timeout_is_service_unavailable_not_a_hang(url):
    database = Database(url, pool_size=1, statement_timeout_ms=200)
    try:
        started = time.monotonic()
        with pytest.raises(ServiceUnavailable) as caught, database.transaction() as cursor:
            cursor.execute("SELECT pg_sleep(10)")

        assert time.monotonic() - started < 5
        assert "statement timeout" in caught.value.detail
        database.ping()
    finally:
        database.close()


def test_create_database_is_idempotent():
    url = database_url("shared_create")
    try:
        assert create_database(url) is True
        assert create_database(url) is False
        assert database_exists(url)
    finally:
        drop_database(url)

    assert not database_exists(url)
    drop_database(url)  # dropping what is gone is fine too


def test_drop_database_disconnects_open_sessions():
    url = database_url("shared_drop")
    create_database(url)
    database = Database(url, pool_size=1)
    try:
        with database.connection():
            drop_database(url)
            assert not database_exists(url)
    finally:
        database.close()
        drop_database(url)
