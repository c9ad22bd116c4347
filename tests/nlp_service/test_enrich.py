"""Customer events -> NLP events: the enricher on the real model, then the consumer process.

The enricher embeds the newest profile of each customer in a batch and scores and
embeds every note; what it derives fits ``nlp-event.schema.json`` and keeps its ids
across redeliveries. The process (``python -m nlp_service.consumer``) takes customer
events from a real RabbitMQ exchange and publishes the derived events on it.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest

from nlp_service.engine import Engine
from nlp_service.enrich import Enricher, profile_text
from nlp_service.service import NlpService
from shared.events.envelope import (
    CREATED,
    DELETED,
    NOTE_ADDED,
    NOTE_ANALYSED,
    PROFILE_EMBEDDED,
    UPDATED,
    Event,
)
from shared.events.publisher import ConfirmingPublisher, Outgoing, declare_topology
from tests.support import broker
from tests.support.processes import WorkerProcess

STAMP = "2026-11-30T07:00:00.000000Z"


def snapshot(customer_id: str, version: int, **changes: Any) -> dict[str, Any]:
    """A customer as an event carries it."""
    return {
        "id": customer_id,
        "name": "Zoë Müller",
        "email": f"{customer_id[:8]}@example.com",
        "phone": None,
        "company": "Northwind Clinics",
        "country": "DE",
        "city": "Berlin",
        "segment": "enterprise",
        "status": "active",
        "tags": ["healthcare", "renewal"],
        "attributes": {},
        "created_at": STAMP,
        "updated_at": STAMP,
        "version": version,
        "deleted_at": None,
        **changes,
    }


def change(kind: str, customer_id: str, version: int, **changes: Any) -> Event:
    """A customer event of ``kind`` at ``version``."""
    return Event(
        type=kind,
        subject=customer_id,
        version=version,
        time=STAMP,
        data=snapshot(customer_id, version, **changes),
    )


def note(customer_id: str, body: str) -> Event:
    """A ``customer.note_added`` event carrying ``body``."""
    data = snapshot(customer_id, 1)
    data["note"] = {
        "id": str(uuid.uuid4()),
        "author": "agent@example.com",
        "body": body,
        "created_at": STAMP,
    }
    return Event(type=NOTE_ADDED, subject=customer_id, version=1, time=STAMP, data=data)


@pytest.fixture(scope="module")
def nlp(engine: Engine) -> NlpService:
    """The NLP use cases on the shared engine, without a cache."""
    return NlpService(engine, None, cache_ttl_seconds=0)


def test_a_batch_derives_the_newest_profile_of_each_customer_and_every_note(
    nlp: NlpService,
) -> None:
    first, second = str(uuid.uuid4()), str(uuid.uuid4())
    praise = note(first, "Thank you so much, the new dashboard is fantastic and saves us hours!")
    complaint = note(second, "Still waiting on the refund, this is the third time I ask. Terrible.")
    batch = [
        change(CREATED, first, 1),
        praise,
        change(UPDATED, first, 3, name="Zoe Mueller"),
        change(UPDATED, first, 2),
        change(DELETED, second, 4, deleted_at=STAMP),
        complaint,
    ]

    derived = Enricher(nlp, lambda events: None).derive(batch)

    assert [(e.type, e.subject, e.version) for e in derived] == [
        (NOTE_ANALYSED, first, 1),
        (PROFILE_EMBEDDED, first, 3),
        (NOTE_ANALYSED, second, 1),
    ]
    for event in derived:
        assert Event.from_json(event.to_json()) == event  # fits nlp-event.schema.json
        assert event.source == "nlp_service"
        assert abs(np.linalg.norm(event.data["embedding"]) - 1.0) < 1e-3
    assert derived[0].data["note"]["sentiment"]["label"] == "positive"
    assert derived[2].data["note"]["sentiment"]["label"] == "negative"
    assert derived[0].data["note"]["id"] == praise.data["note"]["id"]
    profile = nlp.vectors([profile_text(batch[2].data)])[0]
    assert np.allclose(derived[1].data["embedding"], profile, atol=1e-5)
    # A redelivered batch derives the same ids, so consumers see duplicates, not news.
    again = Enricher(nlp, lambda events: None).derive(batch)
    assert [e.id for e in again] == [e.id for e in derived]


def test_a_profile_embeds_its_name_company_and_tags_and_reads_like_them(nlp: NlpService) -> None:
    data = snapshot(str(uuid.uuid4()), 1)
    assert profile_text(data) == "Zoë Müller. Northwind Clinics. healthcare, renewal"
    assert profile_text({**data, "company": None, "tags": []}) == "Zoë Müller"
    clinic, shipping = (
        nlp.vectors([profile_text(data), "hospital and medical practice"]),
        nlp.vectors(["container freight and port logistics"]),
    )
    assert float(clinic[0] @ clinic[1]) > float(clinic[0] @ shipping[0])


def test_a_batch_with_nothing_to_derive_publishes_nothing(nlp: NlpService) -> None:
    published: list[list[Event]] = []
    enricher = Enricher(nlp, lambda events: published.append(list(events)))
    gone = change(DELETED, str(uuid.uuid4()), 2, deleted_at=STAMP)

    assert enricher.apply([gone]) == 0
    assert published == [[]]


@pytest.fixture(scope="module")
def consumer_exchange() -> Iterator[str]:
    """An exchange of this module's own, deleted with its queues after."""
    exchange = broker.unique_exchange()
    yield exchange
    broker.delete_exchange(exchange)


# Its own waits (the model's load, then the events) run past the suite's 120 s default.
@pytest.mark.timeout(300)
def test_the_consumer_process_publishes_what_it_derives_on_the_exchange(
    start_worker: Callable[..., WorkerProcess], consumer_exchange: str, cache_namespace: str
) -> None:
    worker = start_worker(
        "nlp_service.consumer",
        {
            "AMQP_URL": broker.AMQP_URL,
            "EVENTS_EXCHANGE": consumer_exchange,
            "NLP_CACHE_NAMESPACE": cache_namespace,
            "NLP_TORCH_THREADS": "1",
            "LOG_LEVEL": "INFO",
        },
        ready=False,
    )
    try:
        worker.wait_for("/readyz", timeout=120)  # the model loads first
        customer = str(uuid.uuid4())
        events = [change(CREATED, customer, 1), note(customer, "Great call, they want to renew.")]
        declare_topology(broker.AMQP_URL, consumer_exchange)
        with broker.tap(consumer_exchange, "nlp.#") as tap:
            publisher = ConfirmingPublisher(broker.AMQP_URL, consumer_exchange)
            try:
                publisher.publish([Outgoing(e.type, e.to_json(), e.id) for e in events])
            finally:
                publisher.close()
            derived = broker.received(tap, 2, timeout=30)
    finally:
        worker.stop()

    assert sorted((e.type, e.subject) for e in derived) == [
        (NOTE_ANALYSED, customer),
        (PROFILE_EMBEDDED, customer),
    ], worker.output()
    scored = next(e for e in derived if e.type == NOTE_ANALYSED)
    assert scored.data["note"]["sentiment"]["label"] == "positive"
