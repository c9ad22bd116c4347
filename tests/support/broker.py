"""RabbitMQ for tests: a unique exchange per test (its consumers' queues are named after it)."""

from __future__ import annotations

import os
import uuid
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


def delete_exchange(exchange: str, packages: tuple[str, ...] | None = None) -> None:
    """Delete ``exchange`` and every consuming service's queues on it."""
    ch = channel()
    try:
        for package in packages if packages is not None else consuming_packages():
            for name, _ in ConsumerQueues(exchange, package).declarations():
                ch.queue_delete(name)
        ch.exchange_delete(exchange)
    finally:
        ch.connection.close()
