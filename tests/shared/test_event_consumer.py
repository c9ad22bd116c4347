"""The event consumer on a real RabbitMQ: batches acked after apply, bad ones dead-lettered.

``apply`` here is the test's own list; what the consumer owes any service is
that an event is acked only once ``apply`` returned, that a message it cannot
read never reaches ``apply``, and that a failing event is retried, then kept.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import pika
import pytest
from prometheus_client import REGISTRY

from shared.errors import ServiceUnavailable
from shared.events.consumer import ATTEMPTS_HEADER, ConsumerOptions, EventConsumer
from shared.events.envelope import CREATED, Event
from shared.events.publisher import ConfirmingPublisher, Outgoing, declare_topology
from shared.events.topology import ConsumerQueues
from tests.support import broker

PACKAGE = "search_service"


def event(**changes: Any) -> Event:
    """A valid created event for a new customer."""
    subject = str(uuid.uuid4())
    data: dict[str, Any] = {
        "id": subject,
        "name": "Zoë Müller",
        "email": f"{subject[:8]}@example.com",
        "phone": None,
        "company": None,
        "country": "DE",
        "city": None,
        "segment": None,
        "status": "lead",
        "tags": [],
        "attributes": {},
        "created_at": "2026-11-30T07:00:00.000000Z",
        "updated_at": "2026-11-30T07:00:00.000000Z",
        "version": 1,
        "deleted_at": None,
    }
    return Event(type=CREATED, subject=subject, version=1, data=data, **changes)


@pytest.fixture
def queues(events_exchange: str) -> ConsumerQueues:
    """The search service's queues on this test's exchange, declared."""
    declare_topology(broker.AMQP_URL, events_exchange, [PACKAGE])
    return ConsumerQueues(events_exchange, PACKAGE)


@pytest.fixture
def publish(events_exchange: str, queues: ConsumerQueues) -> Iterator[Callable[..., None]]:
    """Publish raw bodies (or events) on the exchange, confirmed."""
    publisher = ConfirmingPublisher(broker.AMQP_URL, events_exchange)

    def send(*items: Event | bytes) -> None:
        publisher.publish(
            [
                Outgoing(CREATED, item.to_json(), item.id)
                if isinstance(item, Event)
                else Outgoing(CREATED, item, "raw")
                for item in items
            ]
        )

    yield send
    publisher.close()


class Running:
    """An :class:`EventConsumer` on a thread, stopped at the end of the test."""

    def __init__(self, consumer: EventConsumer) -> None:
        self.stopping = threading.Event()
        self.ready = threading.Event()
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(consumer,), daemon=True)
        self._thread.start()
        assert self.ready.wait(10), self.error

    def _run(self, consumer: EventConsumer) -> None:
        try:
            consumer.run(self.stopping, on_ready=self.ready.set)
        except BaseException as error:  # the test reads it
            self.error = error
            self.ready.set()

    def stop(self) -> None:
        self.stopping.set()
        self._thread.join(15)
        assert not self._thread.is_alive()


def wait_until(condition: Callable[[], bool], timeout: float = 15.0) -> None:
    """Poll ``condition`` until true; fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


def test_events_are_applied_in_batches_and_acked_after_apply(
    queues: ConsumerQueues, publish: Callable[..., None]
) -> None:
    applied: list[list[str]] = []

    def apply(events: Sequence[Event]) -> int:
        applied.append([e.id for e in events])
        return len(events)

    sent = [event() for _ in range(50)]
    publish(*sent)
    running = Running(
        EventConsumer(
            broker.AMQP_URL,
            queues,
            apply,
            options=ConsumerOptions(batch_size=20, idle_seconds=0.05),
        )
    )
    wait_until(lambda: sum(map(len, applied)) == 50)
    running.stop()

    assert [i for batch in applied for i in batch] == [e.id for e in sent]
    assert max(map(len, applied)) == 20
    assert broker.message_count(queues.main) == 0


def test_a_message_that_is_not_an_event_goes_to_the_dead_letter_queue(
    queues: ConsumerQueues, publish: Callable[..., None]
) -> None:
    applied: list[Event] = []
    good = event()
    publish(b"{not json", good)

    def apply(events: Sequence[Event]) -> int:
        applied.extend(events)
        return len(events)

    running = Running(
        EventConsumer(broker.AMQP_URL, queues, apply, options=ConsumerOptions(depth_seconds=0.05))
    )
    wait_until(lambda: len(applied) == 1 and broker.message_count(queues.dead) == 1)
    # The queue depths the metrics show follow: the dead letter waits for a human.
    wait_until(lambda: queued("dead") == 1 and queued("main") == 0)
    running.stop()

    assert [e.id for e in applied] == [good.id]


def queued(queue: str) -> float | None:
    """What ``events_queue_messages`` shows for this consumer's ``queue`` (main or dead)."""
    return REGISTRY.get_sample_value("events_queue_messages", {"consumer": PACKAGE, "queue": queue})


def test_a_failing_event_is_retried_then_dead_lettered_while_the_others_go_on(
    queues: ConsumerQueues, publish: Callable[..., None]
) -> None:
    poison, fine = event(), event()
    attempts: list[str] = []

    def apply(events: Sequence[Event]) -> int:
        attempts.extend(e.id for e in events)
        if any(e.id == poison.id for e in events):
            raise ValueError("cannot apply this one")
        return len(events)

    publish(poison, fine)
    options = ConsumerOptions(max_attempts=3, retry_base_seconds=0.05, idle_seconds=0.05)
    running = Running(EventConsumer(broker.AMQP_URL, queues, apply, options=options))
    wait_until(lambda: broker.message_count(queues.dead) == 1)
    running.stop()

    assert attempts.count(poison.id) >= 3
    assert fine.id in attempts
    channel = broker.channel()
    try:
        _method, properties, body = channel.basic_get(queues.dead, auto_ack=True)
    finally:
        channel.connection.close()
    assert Event.from_json(body).id == poison.id
    assert properties.headers[ATTEMPTS_HEADER] == 2


def test_a_database_outage_stops_the_consumer_without_acking(
    queues: ConsumerQueues, publish: Callable[..., None]
) -> None:
    def apply(events: Sequence[Event]) -> int:
        raise ServiceUnavailable("Database unavailable")

    publish(event(), event())
    running = Running(
        EventConsumer(broker.AMQP_URL, queues, apply, transient=(ServiceUnavailable,))
    )
    running._thread.join(15)

    assert isinstance(running.error, ServiceUnavailable)
    wait_until(lambda: broker.message_count(queues.main) == 2)
    assert broker.message_count(queues.dead) == 0


def test_stopping_releases_what_was_prefetched_but_not_applied(
    queues: ConsumerQueues, publish: Callable[..., None]
) -> None:
    gate = threading.Event()
    applied: list[str] = []

    def apply(events: Sequence[Event]) -> int:
        gate.wait(10)
        applied.extend(e.id for e in events)
        return len(events)

    publish(*[event() for _ in range(30)])
    running = Running(
        EventConsumer(
            broker.AMQP_URL, queues, apply, options=ConsumerOptions(batch_size=5, prefetch=30)
        )
    )
    time.sleep(0.3)  # let it prefetch and start on a batch
    running.stopping.set()
    gate.set()
    running.stop()

    # The batch in hand was applied and acked; everything else is back in the queue.
    assert 0 < len(applied) < 30
    wait_until(lambda: broker.message_count(queues.main) == 30 - len(applied))


def test_retried_messages_come_back_through_the_retry_queue(queues: ConsumerQueues) -> None:
    channel = broker.channel()
    try:
        body = event().to_json()
        channel.basic_publish(
            "", queues.retry, body, pika.BasicProperties(expiration="50", message_id="m")
        )
        wait_until(lambda: broker.message_count(queues.main) == 1)
    finally:
        channel.connection.close()
