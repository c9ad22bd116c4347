"""RabbitMQ for tests: a unique exchange per test (its consumers' queues are named after it)."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pika

from shared.events.envelope import Event
from shared.events.topology import ConsumerQueues, consuming_packages

AMQP_URL = os.environ.get("TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/%2F")


def unique_exchange() -> str:
    """An exchange name no other test uses, in the shape of the real one."""
    return f"clientele-test-{uuid.uuid4().hex[:12]}.customer.events"


def channel() -> Any:
    """A blocking channel on a new connection (close ``channel.connection`` after)."""
    return pika.BlockingConnection(pika.URLParameters(AMQP_URL)).channel()


def message_count(queue: str) -> int:
    """Messages ready in ``queue`` (0 if it does not exist)."""
    ch = channel()
    try:
        return int(ch.queue_declare(queue, passive=True).method.message_count)
    except pika.exceptions.ChannelClosedByBroker:
        return 0
    finally:
        ch.connection.close()


def jobs_queue(exchange: str) -> str:
    """The NLP batch jobs' queue of the stack whose events travel on ``exchange``."""
    return f"{exchange}.nlp.jobs"


def delete_exchange(exchange: str, packages: tuple[str, ...] | None = None) -> None:
    """Delete ``exchange``, every consuming service's queues on it, and its jobs queue."""
    ch = channel()
    try:
        for package in packages if packages is not None else consuming_packages():
            for name, _ in ConsumerQueues(exchange, package).declarations():
                ch.queue_delete(name)
        # Celery routes a queue's tasks through a direct exchange of the queue's name.
        ch.queue_delete(jobs_queue(exchange))
        ch.exchange_delete(jobs_queue(exchange))
        ch.exchange_delete(exchange)
    finally:
        ch.connection.close()


@contextmanager
def own_queue(purpose: str) -> Iterator[str]:
    """A queue name no other test uses (``clientele-test-<purpose>-<random>``), deleted after.

    With the direct exchange of the same name Celery declares to route to it.
    """
    name = f"clientele-test-{purpose}-{uuid.uuid4().hex[:10]}"
    try:
        yield name
    finally:
        ch = channel()
        try:
            ch.queue_delete(name)
            ch.exchange_delete(name)
        finally:
            ch.connection.close()


@contextmanager
def tap(exchange: str, pattern: str) -> Iterator[str]:
    """A queue of the test's own, bound to ``pattern`` on ``exchange``; deleted after."""
    queue = f"{exchange}.tap.{uuid.uuid4().hex[:8]}"
    ch = channel()
    try:
        ch.exchange_declare(exchange, exchange_type="topic", durable=True)
        ch.queue_declare(queue, durable=True)
        ch.queue_bind(queue, exchange, routing_key=pattern)
    finally:
        ch.connection.close()
    try:
        yield queue
    finally:
        ch = channel()
        try:
            ch.queue_delete(queue)
        finally:
            ch.connection.close()


def received(queue: str, count: int, timeout: float = 30.0) -> list[Event]:
    """Take ``count`` events from ``queue`` (fewer if the time runs out)."""
    ch = channel()
    events: list[Event] = []
    deadline = time.monotonic() + timeout
    try:
        while len(events) < count and time.monotonic() < deadline:
            method, _properties, body = ch.basic_get(queue, auto_ack=True)
            if method is None:
                time.sleep(0.05)
                continue
            events.append(Event.from_json(body))
    finally:
        ch.connection.close()
    return events
