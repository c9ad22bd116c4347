"""The outbox relay as a real process: every event reaches RabbitMQ, confirmed, in order.

Each test has its own customer database and its own exchange, with a queue of
the test's own bound to it (the tap) to read what was published; the relay
declares the consuming services' queues on it as well.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator

import psycopg2
import pytest
import requests

from customer_service.schemas import CustomerCreate, CustomerUpdate
from customer_service.service import CustomerService, ExpectedVersion
from customer_service.store import CustomerStore
from shared.database import Database
from shared.events.envelope import CREATED
from shared.events.topology import ROUTING_PATTERN, ConsumerQueues, consuming_packages
from tests.support import broker
from tests.support.processes import WorkerProcess
from tests.support.tcp_proxy import CuttableProxy

ANY_VERSION = ExpectedVersion((), any_version=True)
RELAY = "customer_service.relay"


@pytest.fixture
def tap(events_exchange: str) -> Iterator[str]:
    """A queue bound to every customer event on the test's exchange."""
    with broker.tap(events_exchange, ROUTING_PATTERN) as queue:
        yield queue


@pytest.fixture
def database_url(make_database: Callable[[str], str]) -> str:
    """A customer database of this test's own."""
    return make_database("customer_service")


@pytest.fixture
def customers(database_url: str) -> Iterator[CustomerService]:
    """The customer use cases on that database, as the API would call them."""
    database = Database(database_url, pool_size=2)
    yield CustomerService(CustomerStore(database), idempotency_retention_seconds=60)
    database.close()


StartRelay = Callable[..., WorkerProcess]


@pytest.fixture
def start_relay(
    worker_for_test: Callable[..., WorkerProcess], database_url: str, events_exchange: str
) -> StartRelay:
    """Factory: a relay on this test's database and exchange; keywords add to its settings."""

    def start(**settings: str) -> WorkerProcess:
        env = {
            "CUSTOMER_DATABASE_URL": database_url,
            "AMQP_URL": broker.AMQP_URL,
            "EVENTS_EXCHANGE": events_exchange,
        }
        return worker_for_test(RELAY, {**env, **settings})

    return start


def create(customers: CustomerService, count: int) -> list[str]:
    """Create ``count`` customers; their ids."""
    return [
        str(
            customers.create_customer(
                CustomerCreate(name=f"Customer {n}", email=f"c{n}-{uuid.uuid4().hex[:8]}@ex.com"),
                idempotency=None,
            ).customer.id
        )
        for n in range(count)
    ]


ROWS = "SELECT count(*) FROM outbox"
PUBLISHED = "SELECT count(*) FROM outbox WHERE published_at IS NOT NULL"
UNPUBLISHED = "SELECT count(*) FROM outbox WHERE published_at IS NULL"


def outbox_count(database_url: str, count: str) -> int:
    """The ``count`` (:data:`ROWS`, :data:`PUBLISHED`, :data:`UNPUBLISHED`) of outbox rows."""
    connection = psycopg2.connect(database_url)
    try:
        with connection.cursor() as cursor:
            cursor.execute(count)
            (rows,) = cursor.fetchone() or (0,)
            return int(rows)
    finally:
        connection.close()


def wait_until(
    check: Callable[[], bool], worker: WorkerProcess, *, timeout: float, every: float
) -> None:
    """Poll ``check`` until it holds; at the deadline, fail showing the worker's output."""
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, worker.output()
        time.sleep(every)


def test_every_event_is_published_confirmed_and_marked(
    customers: CustomerService,
    database_url: str,
    events_exchange: str,
    tap: str,
    start_relay: StartRelay,
) -> None:
    ids = create(customers, 30)
    customers.update_customer(
        uuid.UUID(ids[0]), CustomerUpdate(status="active"), expected=ANY_VERSION
    )

    relay = start_relay()
    events = broker.received(tap, 31)

    assert sorted({event.subject for event in events}) == sorted(ids)
    assert [(e.type, e.version) for e in events if e.subject == ids[0]] == [
        ("customer.created", 1),
        ("customer.updated", 2),
    ]
    for package in consuming_packages(CREATED):
        assert broker.message_count(ConsumerQueues(events_exchange, package).main) == 31
    assert outbox_count(database_url, UNPUBLISHED) == 0
    metrics = requests.get(relay.metrics_url, timeout=5).text
    assert "outbox_published_total 31.0" in metrics
    assert relay.probe("/readyz") == 200


def test_a_commit_wakes_the_relay_without_waiting_for_its_poll(
    customers: CustomerService, tap: str, start_relay: StartRelay
) -> None:
    start_relay(RELAY_POLL_SECONDS="300")

    [customer] = create(customers, 1)

    # Polling every 300 s, only LISTEN/NOTIFY can bring it within the 20 s allowed here.
    assert [event.subject for event in broker.received(tap, 1, timeout=20)] == [customer]


def test_a_relay_killed_mid_stream_loses_nothing(
    customers: CustomerService, database_url: str, tap: str, start_relay: StartRelay
) -> None:
    ids = set(create(customers, 600))

    first = start_relay(RELAY_BATCH_SIZE="20")
    wait_until(lambda: outbox_count(database_url, PUBLISHED) >= 40, first, timeout=30, every=0.01)
    first.kill()
    published_before = outbox_count(database_url, PUBLISHED)
    start_relay(RELAY_BATCH_SIZE="20")
    events = broker.received(tap, len(ids) + 20, timeout=20)

    assert published_before < len(ids), "the relay finished before it could be killed"
    assert {event.subject for event in events} == ids
    assert outbox_count(database_url, UNPUBLISHED) == 0
    # At least once: a batch confirmed but not yet marked when killed comes again, no more.
    assert len(events) - len(ids) <= 20


def test_two_relays_share_the_work_and_keep_each_customers_order(
    customers: CustomerService, tap: str, start_relay: StartRelay
) -> None:
    ids = create(customers, 40)
    for round_ in range(5):
        for customer in ids:
            customers.update_customer(
                uuid.UUID(customer), CustomerUpdate(city=f"City {round_}"), expected=ANY_VERSION
            )

    relays = [start_relay(RELAY_BATCH_SIZE="7") for _ in range(2)]
    events = broker.received(tap, 40 * 6)

    versions: dict[str, list[int]] = {}
    for event in events:
        versions.setdefault(event.subject, []).append(event.version)
    assert versions == {customer: [1, 2, 3, 4, 5, 6] for customer in ids}
    shares = [
        float(line.split()[-1])
        for relay in relays
        for line in requests.get(relay.metrics_url, timeout=5).text.splitlines()
        if line.startswith("outbox_published_total ")
    ]
    assert sum(shares) == 240


def test_with_the_broker_away_it_says_not_ready_then_catches_up(
    customers: CustomerService, tap: str, start_relay: StartRelay
) -> None:
    proxy = CuttableProxy("127.0.0.1", 5672)
    try:
        relay = start_relay(
            AMQP_URL=broker.AMQP_URL.replace("127.0.0.1:5672", f"127.0.0.1:{proxy.port}")
        )
        proxy.cut()
        ids = set(create(customers, 5))

        wait_until(lambda: relay.probe("/readyz") == 503, relay, timeout=20, every=0.1)
        assert relay.probe("/healthz") == 200
        assert "not ready" in requests.get(f"{relay.url}/readyz", timeout=5).text

        proxy.restore()
        assert {event.subject for event in broker.received(tap, 5)} == ids
        relay.wait_for("/readyz", timeout=30)
        assert "worker_restarts_total" in requests.get(relay.metrics_url, timeout=5).text
    finally:
        proxy.close()


def test_sigterm_stops_it_cleanly_and_published_rows_are_pruned(
    customers: CustomerService, database_url: str, tap: str, start_relay: StartRelay
) -> None:
    create(customers, 3)
    relay = start_relay(OUTBOX_RETENTION_SECONDS="0", LOG_LEVEL="INFO")
    assert len(broker.received(tap, 3)) == 3
    create(customers, 2)
    assert len(broker.received(tap, 2)) == 2

    assert relay.stop() == 0
    # The first round pruned the first three (retention 0); the last two wait for the next.
    assert outbox_count(database_url, ROWS) <= 2
    last = json.loads(relay.output().splitlines()[-1])
    assert (last["message"], last["logger"], last["event_id"]) == ("stopped", "shared.worker", "-")
