"""A note's sentiment, published by the NLP service, is kept on the note and shown with it.

``NoteSentiments.apply`` against the real database, then the consumer process
(``python -m customer_service.consumer``) taking ``nlp.note_analysed`` from a real
RabbitMQ exchange and ignoring customer events.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

import requests

from customer_service.note_sentiment import NoteSentiments
from customer_service.store import CustomerStore
from shared.database import Database
from shared.events.envelope import CREATED, NOTE_ANALYSED, Event
from shared.events.publisher import ConfirmingPublisher, Outgoing
from shared.events.topology import queues_of
from shared.services import service_named
from tests.customer_service.api_client import CustomerApi
from tests.support import broker
from tests.support.processes import WorkerProcess

CONSUMER = next(
    process.target for process in service_named("customer").workers if process.name == "consumer"
)


def analysed(customer: dict[str, Any], note: dict[str, Any], label: str = "negative") -> Event:
    """The ``nlp.note_analysed`` event the NLP service derives from ``note``."""
    return Event(
        type=NOTE_ANALYSED,
        source="nlp_service",
        subject=customer["id"],
        version=customer["version"],
        time=note["created_at"],
        data={
            "model": {"name": "all-MiniLM-L6-v2", "version": "test"},
            "embedding": [0.6, 0.8],
            "note": {
                "id": note["id"],
                "created_at": note["created_at"],
                "sentiment": {"label": label, "score": 0.91, "method": "head"},
            },
        },
    )


def test_a_note_shows_its_sentiment_once_applied_and_a_repeat_changes_nothing(
    api: CustomerApi, customer_database: str
) -> None:
    customer = api.create_ok()
    note = api.add_note(customer["id"], {"body": "The invoice was wrong again."}).get_json()
    assert note["sentiment"] is None
    database = Database(customer_database, pool_size=1)
    try:
        apply = NoteSentiments(CustomerStore(database)).apply
        event = analysed(customer, note)

        assert apply([event]) == 1
        assert apply([event, event]) == 0
        assert apply([analysed(customer, {**note, "id": str(uuid.uuid4())})]) == 0
        relabelled = analysed(customer, note, label="neutral")
        assert apply([relabelled]) == 1
        assert apply([event]) == 1
    finally:
        database.close()

    assert api.notes(customer["id"]).get_json()["items"][0]["sentiment"] == {
        "label": "negative",
        "score": 0.91,
        "method": "head",
    }


def test_the_consumer_process_keeps_published_sentiment_on_the_note(
    api: CustomerApi,
    customer_database: str,
    events_exchange: str,
    worker_for_test: Callable[..., WorkerProcess],
) -> None:
    customer = api.create_ok()
    note = api.add_note(customer["id"], {"body": "Thanks, all sorted!"}).get_json()
    worker = worker_for_test(
        CONSUMER,
        {
            "CUSTOMER_DATABASE_URL": customer_database,
            "AMQP_URL": broker.AMQP_URL,
            "EVENTS_EXCHANGE": events_exchange,
        },
    )
    publisher = ConfirmingPublisher(broker.AMQP_URL, events_exchange)
    created = Event(type=CREATED, subject=customer["id"], version=1, data=customer)
    try:
        # The service's queue is bound to nlp.note_analysed only, not to customer events.
        assert not queues_of(events_exchange, "customer_service").takes(created.type)
        event = analysed(customer, note, label="positive")
        publisher.publish([Outgoing(event.type, event.to_json(), event.id)])
    finally:
        publisher.close()

    deadline = time.monotonic() + 20
    sentiment = None
    while sentiment is None and time.monotonic() < deadline:
        sentiment = api.notes(customer["id"]).get_json()["items"][0]["sentiment"]
        time.sleep(0.1)
    assert sentiment == {"label": "positive", "score": 0.91, "method": "head"}, worker.output()
    assert (
        'events_applied_total{consumer="customer_service"} 1.0'
        in requests.get(worker.metrics_url, timeout=5).text
    )
