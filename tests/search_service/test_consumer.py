"""The consumer as operators run it: a real process between RabbitMQ and the search database."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import pytest
import requests

from search_service.consumer import PACKAGE
from shared.events.publisher import ConfirmingPublisher, Outgoing
from shared.events.topology import ConsumerQueues
from tests.search_service.customer_events import CustomerHistory
from tests.search_service.nlp_events import cosine_of, note_analysed, profile_embedded
from tests.support import broker
from tests.support.databases import Query
from tests.support.processes import WorkerProcess

StartWorker = Callable[..., WorkerProcess]


def publish(exchange: str, *bodies: tuple[str, bytes]) -> None:
    """Publish ``(routing key, body)`` messages and wait for the broker's confirms."""
    publisher = ConfirmingPublisher(broker.AMQP_URL, exchange, connection_name="search-tests")
    try:
        publisher.connect()
        publisher.publish(
            [
                Outgoing(routing_key=key, body=body, message_id=f"test-{n}")
                for n, (key, body) in enumerate(bodies)
            ]
        )
    finally:
        publisher.close()


def eventually(check: Callable[[], Any], timeout: float = 15.0) -> Any:
    """Poll ``check`` until it returns something truthy, or fail at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result or time.monotonic() > deadline:
            return result
        time.sleep(0.05)


@pytest.fixture
def consumer(
    worker_for_test: StartWorker, search_database: str, events_exchange: str, empty_index: None
) -> WorkerProcess:
    return worker_for_test(
        "search_service.consumer",
        {
            "SEARCH_DATABASE_URL": search_database,
            "AMQP_URL": broker.AMQP_URL,
            "EVENTS_EXCHANGE": events_exchange,
        },
    )


def test_published_events_become_searchable_and_a_bad_message_is_dead_lettered(
    consumer: WorkerProcess, events_exchange: str, query: Query
) -> None:
    ada = CustomerHistory({"name": "Ada Lovelace"})
    ada.update(name="Ada King")
    ada.add_note("Wants the analytical engine brochure.")
    gone = CustomerHistory({"name": "Gone Customer"})
    gone.delete()
    events = [*ada.events, *gone.events]

    publish(
        events_exchange,
        *((event.type, event.to_json()) for event in reversed(events)),
        ("customer.updated", b'{"not": "an event"}'),
    )

    def indexed() -> list[dict[str, Any]]:
        rows = query("SELECT name, deleted, version FROM documents ORDER BY name")
        notes = query("SELECT 1 FROM notes")
        return rows if len(rows) == 2 and notes else []

    assert eventually(indexed) == [
        {"name": "Ada King", "deleted": False, "version": 2},
        {"name": "Gone Customer", "deleted": True, "version": 2},
    ]
    dead = ConsumerQueues(events_exchange, PACKAGE).dead
    assert eventually(lambda: broker.message_count(dead) == 1)
    metrics = requests.get(consumer.metrics_url, timeout=5).text
    assert 'events_dead_lettered_total{consumer="search_service",reason="invalid"} 1.0' in metrics
    assert requests.get(f"{consumer.url}/healthz", timeout=5).status_code == 200


def test_nlp_events_are_applied_once_in_effect_and_an_invalid_one_is_dead_lettered(
    consumer: WorkerProcess, events_exchange: str, query: Query
) -> None:
    ada = CustomerHistory({"name": "Ada Lovelace"})
    ada.update(company="Analytical Engines")
    old, new = (profile_embedded(ada.id, version, cosine_of(version)) for version in (1, 2))
    note = note_analysed(ada.id, 2, cosine_of(45))
    # Newest first, then the older profile vector and a redelivered note: they change nothing.
    events = [ada.events[-1], new, note, old, note]
    invalid = {**new.to_document(), "data": {"model": {"name": "m", "version": "1"}}}

    publish(
        events_exchange,
        *((event.type, event.to_json()) for event in events),
        ("nlp.profile_embedded", json.dumps(invalid).encode()),
    )

    def stored() -> list[dict[str, Any]]:
        rows = query("SELECT kind, version FROM embeddings ORDER BY kind")
        return rows if len(rows) == 2 else []

    assert eventually(stored) == [{"kind": "note", "version": 2}, {"kind": "profile", "version": 2}]
    dead = ConsumerQueues(events_exchange, PACKAGE).dead
    assert eventually(lambda: broker.message_count(dead) == 1)

    def counted() -> str:
        metrics = requests.get(consumer.metrics_url, timeout=5).text
        done = 'events_consumed_total{consumer="search_service"} 6.0' in metrics
        return metrics if done else ""

    metrics = eventually(counted)
    assert 'events_dead_lettered_total{consumer="search_service",reason="invalid"} 1.0' in metrics
    # Applied: the customer's snapshot, the newer profile vector, the note's; skipped: the rest.
    assert 'events_applied_total{consumer="search_service"} 3.0' in metrics
    assert 'events_skipped_total{consumer="search_service"} 2.0' in metrics


def test_sigterm_stops_the_consumer_cleanly(consumer: WorkerProcess) -> None:
    assert consumer.probe("/readyz") == 200

    assert consumer.stop() == 0
