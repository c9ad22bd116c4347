"""The consumer as a real process: events published on the exchange reach the rollups.

Each test has an exchange of its own, the consumer started on it and on the
test database, and events published with the confirming publisher the relay
uses; the consumer is stopped (SIGTERM) before the exchange goes.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable, Iterator
from typing import Any

import pika
import pytest
import requests

from analytics_service.schemas import SentimentQuery
from analytics_service.service import AnalyticsService, utc_now
from analytics_service.store import AnalyticsStore
from shared.database import Database
from shared.events.envelope import NOTE_ANALYSED, Event
from shared.events.publisher import ConfirmingPublisher, Outgoing
from shared.events.topology import ConsumerQueues
from tests.analytics_service.conftest import Rollups
from tests.analytics_service.history import START, Customer, analysed
from tests.support import broker
from tests.support.processes import WorkerProcess

MODULE = "analytics_service.consumer"
DEADLINE_SECONDS = 30.0


def eventually(check: Callable[[], Any], what: str) -> None:
    """Poll ``check`` until it is true, or fail saying ``what`` never happened."""
    deadline = time.monotonic() + DEADLINE_SECONDS
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"{what} within {DEADLINE_SECONDS:g} s")
        time.sleep(0.1)


def publish(exchange: str, events: list[Event]) -> None:
    """Publish ``events`` as the relay does, each confirmed by the broker."""
    publisher = ConfirmingPublisher(broker.AMQP_URL, exchange)
    try:
        publisher.publish(
            [
                Outgoing(routing_key=event.type, body=event.to_json(), message_id=event.id)
                for event in events
            ]
        )
    finally:
        publisher.close()


def publish_raw(exchange: str, body: bytes, routing_key: str = "customer.created") -> None:
    """Publish bytes that are not a valid event."""
    channel = broker.channel()
    try:
        channel.basic_publish(exchange, routing_key, body, pika.BasicProperties(message_id="junk"))
    finally:
        channel.connection.close()


@pytest.fixture
def consumer_env(analytics_database: str, events_exchange: str) -> dict[str, str]:
    """The consumer's settings: the test database and the test's own exchange."""
    return {
        "ANALYTICS_DATABASE_URL": analytics_database,
        "AMQP_URL": broker.AMQP_URL,
        "EVENTS_EXCHANGE": events_exchange,
    }


@pytest.fixture
def consumer(
    rollups: Rollups, consumer_env: dict[str, str], start_worker: Callable[..., WorkerProcess]
) -> Iterator[WorkerProcess]:
    """The consumer running on emptied tables; stopped before the exchange is deleted."""
    worker = start_worker(MODULE, consumer_env)
    yield worker
    worker.stop()


def test_published_events_in_any_order_reach_the_rollups_once(
    consumer: WorkerProcess, events_exchange: str, rollups: Rollups
) -> None:
    ada, bob = Customer(country="FR", tags=["vip"]), Customer(status="active")
    events = [
        ada.created(),
        ada.updated(status="active"),
        ada.note(),
        bob.created(),
        bob.updated(status="churned"),
        bob.deleted_event(),
    ]
    delivered = events + events[:3]
    random.Random(7).shuffle(delivered)

    publish(events_exchange, delivered)

    expected = {
        ("status", "active"): 1,
        ("country", "FR"): 1,
        ("segment", ""): 1,
        ("tag", "vip"): 1,
    }
    eventually(lambda: rollups.dimensions() == expected, "the rollups never counted the events")
    day = START.date()
    assert rollups.daily() == {("signups", day): 2, ("notes", day): 1, ("churns", day): 1}
    assert rollups.kept() == rollups.recounted()


def test_an_invalid_message_goes_to_the_dead_letter_queue_and_the_next_event_applies(
    consumer: WorkerProcess, events_exchange: str, rollups: Rollups
) -> None:
    dead = ConsumerQueues(events_exchange, "analytics_service").dead
    envelope = Customer().created().to_document()
    envelope["data"]["status"] = "gone"

    publish_raw(events_exchange, b"not json at all")
    publish_raw(events_exchange, json.dumps(envelope).encode())  # valid JSON, not the schema
    publish(events_exchange, [Customer(country="DE").created()])

    eventually(
        lambda: broker.message_count(dead) == 2, "the invalid messages were not dead-lettered"
    )
    eventually(
        lambda: rollups.dimensions().get(("country", "DE")) == 1, "the valid event was not applied"
    )
    assert consumer.probe("/readyz") == 200


def test_note_sentiment_published_in_any_order_is_counted_once_for_its_customer(
    consumer: WorkerProcess, events_exchange: str, rollups: Rollups, database: Database
) -> None:
    ada, bob = Customer(segment="smb"), Customer(segment="enterprise")
    first, second, third = ada.note(), ada.note(), bob.note()
    verdicts = [
        analysed(first, "positive", 0.8),
        analysed(second, "negative", 0.2),
        analysed(third, "neutral", 0.9),
    ]
    moved = ada.updated(segment="enterprise")
    changes = [ada.created(), first, second, bob.created(), third, moved]
    shuffled = changes + verdicts + changes[:2] + verdicts
    random.Random(11).shuffle(shuffled)

    # The NLP service is faster than the customer events: every verdict arrives first.
    publish(events_exchange, verdicts + shuffled)

    analytics = AnalyticsService(AnalyticsStore(database), clock=utc_now)

    def counted() -> bool:
        answer = analytics.sentiment(SentimentQuery())
        return answer.overall.notes == 3 and answer.notes_awaiting_customer == 0

    eventually(counted, "the notes' sentiment was never counted for their customers")
    answer = analytics.sentiment(SentimentQuery())
    assert [(group.value, group.notes, group.mean) for group in answer.groups] == [
        ("enterprise", 3, 0.2)
    ]
    assert rollups.daily()[("notes", START.date())] == 3


def test_a_sentiment_event_breaking_its_schema_is_dead_lettered(
    consumer: WorkerProcess, events_exchange: str, database: Database
) -> None:
    dead = ConsumerQueues(events_exchange, "analytics_service").dead
    ada = Customer()
    broken = analysed(ada.note(), "positive", 0.5).to_document()
    broken["data"]["note"]["sentiment"]["score"] = 1.5

    publish_raw(events_exchange, json.dumps(broken).encode(), routing_key=NOTE_ANALYSED)
    publish(events_exchange, [ada.created(), analysed(ada.note(), "negative", 0.5)])

    analytics = AnalyticsService(AnalyticsStore(database), clock=utc_now)
    eventually(
        lambda: analytics.sentiment(SentimentQuery()).overall.notes == 1,
        "the valid sentiment was not applied",
    )
    eventually(lambda: broker.message_count(dead) == 1, "the broken event was not dead-lettered")
    assert analytics.sentiment(SentimentQuery()).overall.mean == -0.5


def test_sigterm_stops_the_consumer_cleanly(consumer: WorkerProcess) -> None:
    assert consumer.probe("/healthz") == 200

    assert consumer.stop() == 0


def test_a_consumer_without_its_database_is_not_ready_and_stops_cleanly(
    consumer_env: dict[str, str], worker_for_test: Callable[..., WorkerProcess]
) -> None:
    missing = consumer_env["ANALYTICS_DATABASE_URL"].rsplit("/", 1)[0] + "/clientele_test_nowhere"
    worker = worker_for_test(
        MODULE, {**consumer_env, "ANALYTICS_DATABASE_URL": missing}, ready=False
    )

    def says_why() -> bool:
        answer = requests.get(f"{worker.url}/readyz", timeout=2)
        return answer.status_code == 503 and "Database unavailable" in answer.json()["detail"]

    eventually(says_why, "/readyz never said the database is away")
    assert worker.probe("/healthz") == 200
    assert worker.stop() == 0
