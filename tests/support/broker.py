"""RabbitMQ for tests: a unique exchange per test (its consumers' queues are named after it)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pika

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
