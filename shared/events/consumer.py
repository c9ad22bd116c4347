"""Consuming customer events from a service's own durable queue, exactly once in effect.

Delivery is at least once: a message is acked only after the service's own
transaction that applied it has committed, so a crash in between redelivers it.
The effect is exactly once because the service's ``apply`` is idempotent (it
applies an event only if its version is newer than what it holds, and counts a
note once per note id); this module only moves messages:

* messages are taken ``prefetch`` at a time and applied in batches of up to
  ``batch_size`` (or whatever arrived within ``idle_seconds``), one transaction
  per batch, then acked together; with nothing to apply, the consumer sleeps in
  the broker connection's poll until a message comes (``wait_seconds`` at most),
  instead of waking every ``idle_seconds``;
* a message that is not a valid envelope goes straight to the dead-letter queue;
* if a batch fails, its events are applied one by one; one that still fails is
  sent to the retry queue with a growing delay and the attempt count in its
  headers, and after ``max_attempts`` to the dead-letter queue;
* a ``transient`` error (the database is away) is not the event's fault: the
  consumer stops without acking, the broker requeues the batch, and the worker
  runner retries with back-off.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pika
from prometheus_client import Counter, Gauge, Histogram

from shared.events.envelope import Event, InvalidEvent
from shared.events.topology import ConsumerQueues, declare_consumer_queues
from shared.logs import current_event_id

logger = logging.getLogger(__name__)
ATTEMPTS_HEADER = "x-clientele-attempts"

#: Applies events in one transaction and returns how many of them changed anything.
Apply = Callable[[Sequence[Event]], int]

CONSUMED = Counter("events_consumed_total", "Messages taken from the queue", ["consumer"])
APPLIED = Counter("events_applied_total", "Events that changed the consumer's state", ["consumer"])
SKIPPED = Counter(
    "events_skipped_total",
    "Events that changed nothing (duplicate, older version, note already counted)",
    ["consumer"],
)
RETRIED = Counter("events_retried_total", "Events sent to the retry queue", ["consumer"])
DEAD_LETTERED = Counter(
    "events_dead_lettered_total", "Events sent to the dead-letter queue", ["consumer", "reason"]
)
QUEUED = Gauge(
    "events_queue_messages",
    "Messages waiting in a consumer's queues: main (not delivered yet), dead (for a human)",
    ["consumer", "queue"],
)
LAG = Histogram(
    "event_lag_seconds",
    "From the event's time to the commit that applied it",
    ["consumer"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
)


@dataclass(frozen=True)
class ConsumerOptions:
    """How a consumer takes and retries messages."""

    prefetch: int = 256
    batch_size: int = 100
    #: How long to wait for more messages before applying a partial batch.
    idle_seconds: float = 0.005
    #: With no batch pending, the longest wait for a message before the loop turns (its
    #: liveness beat, the stop check); a message ends the wait at once.
    wait_seconds: float = 0.5
    max_attempts: int = 5
    #: Delay before the first retry; each later one doubles, up to ``retry_max_seconds``.
    retry_base_seconds: float = 1.0
    retry_max_seconds: float = 300.0
    #: How often the depth of the main and dead-letter queues is read for the metrics.
    depth_seconds: float = 5.0


@dataclass
class _Delivery:
    tag: int
    properties: Any
    body: bytes
    event: Event


class EventConsumer:
    """Applies the events of one service's queue with its ``apply`` function."""

    def __init__(
        self,
        url: str,
        queues: ConsumerQueues,
        apply: Apply,
        *,
        options: ConsumerOptions | None = None,
        transient: tuple[type[BaseException], ...] = (),
    ) -> None:
        self._parameters = pika.URLParameters(url)
        self._parameters.client_properties = {"connection_name": queues.main}
        self._queues = queues
        self._apply = apply
        self._options = options or ConsumerOptions()
        self._transient = transient
        self._name = queues.package
        self._channel: Any = None
        self._retry_channel: Any = None

    def run(
        self,
        stopping: threading.Event,
        on_ready: Callable[[], None] = lambda: None,
        on_tick: Callable[[], None] = lambda: None,
    ) -> None:
        """Consume until ``stopping`` is set; the current batch is applied (or released) first.

        ``on_tick`` is called on every turn of the loop, at least every ``wait_seconds``
        with or without messages: the worker's liveness.
        """
        connection = pika.BlockingConnection(self._parameters)
        try:
            self._channel = connection.channel()
            declare_consumer_queues(self._channel, self._queues)
            self._channel.basic_qos(prefetch_count=self._options.prefetch)
            self._retry_channel = connection.channel()
            self._retry_channel.confirm_delivery()
            depth_channel = connection.channel()
            arrived: deque[tuple[Any, Any, bytes]] = deque()
            consumer_tag = self._channel.basic_consume(
                self._queues.main,
                lambda _channel, method, properties, body: arrived.append(
                    (method, properties, body)
                ),
            )
            on_ready()
            batch: list[_Delivery] = []
            measured = -self._options.depth_seconds
            while True:
                # Returns as soon as a message is handed over, else after the time limit.
                connection.process_data_events(
                    time_limit=self._options.idle_seconds if batch else self._options.wait_seconds
                )
                on_tick()
                if time.monotonic() - measured >= self._options.depth_seconds:
                    self._measure_depth(depth_channel)
                    measured = time.monotonic()
                if not arrived:
                    self._flush(batch)
                    if stopping.is_set():
                        break
                    continue
                # Taken one by one, the stop checked after each: what is left goes back.
                while arrived and not stopping.is_set():
                    method, properties, body = arrived.popleft()
                    CONSUMED.labels(self._name).inc()
                    delivery = self._decode(method.delivery_tag, properties, body)
                    if delivery is not None:
                        batch.append(delivery)
                    if len(batch) >= self._options.batch_size:
                        self._flush(batch)
                if stopping.is_set():
                    self._flush(batch)
                    break
            # Prefetched messages not yet applied go back to the queue for the next consumer.
            self._channel.basic_cancel(consumer_tag)
        finally:
            current_event_id.set("-")
            if connection.is_open:
                connection.close()

    def _measure_depth(self, channel: Any) -> None:
        """Read how many messages wait in the main and dead-letter queues (passive declares)."""
        for kind, queue in (("main", self._queues.main), ("dead", self._queues.dead)):
            declared = channel.queue_declare(queue, passive=True)
            QUEUED.labels(self._name, kind).set(declared.method.message_count)

    def _decode(self, tag: int, properties: Any, body: bytes) -> _Delivery | None:
        try:
            return _Delivery(tag, properties, body, Event.from_json(body))
        except InvalidEvent as error:
            logger.error(
                "dead-lettering an invalid message",
                extra={"message_id": properties.message_id, "reason": str(error)},
            )
            DEAD_LETTERED.labels(self._name, "invalid").inc()
            self._channel.basic_nack(tag, requeue=False)
            return None

    def _flush(self, batch: list[_Delivery]) -> None:
        if not batch:
            return
        try:
            applied = self._apply([delivery.event for delivery in batch])
        except self._transient:
            raise
        except Exception:
            logger.exception("a batch of %d events failed; applying them one by one", len(batch))
            for delivery in batch:
                self._apply_alone(delivery)
        else:
            self._channel.basic_ack(batch[-1].tag, multiple=True)
            self._count(batch, applied)
        batch.clear()

    def _apply_alone(self, delivery: _Delivery) -> None:
        current_event_id.set(delivery.event.id)
        try:
            applied = self._apply([delivery.event])
        except self._transient:
            raise
        except Exception as error:
            self._retry_or_bury(delivery, error)
        else:
            self._channel.basic_ack(delivery.tag)
            self._count([delivery], applied)
        finally:
            current_event_id.set("-")

    def _retry_or_bury(self, delivery: _Delivery, error: Exception) -> None:
        headers = dict(delivery.properties.headers or {})
        attempts = int(headers.get(ATTEMPTS_HEADER, 0)) + 1
        if attempts >= self._options.max_attempts:
            logger.error("dead-lettering an event after %d attempts: %r", attempts, error)
            DEAD_LETTERED.labels(self._name, "failed").inc()
            self._channel.basic_nack(delivery.tag, requeue=False)
            return
        delay = min(
            self._options.retry_base_seconds * 2 ** (attempts - 1), self._options.retry_max_seconds
        )
        logger.warning("event failed (attempt %d), retrying in %.1f s: %r", attempts, delay, error)
        headers[ATTEMPTS_HEADER] = attempts
        # Published (and confirmed) before the ack: a crash in between duplicates, never loses.
        self._retry_channel.basic_publish(
            "",
            self._queues.retry,
            delivery.body,
            pika.BasicProperties(
                content_type="application/json",
                delivery_mode=pika.DeliveryMode.Persistent,
                message_id=delivery.properties.message_id,
                type=delivery.properties.type,
                headers=headers,
                expiration=str(int(delay * 1000)),
            ),
        )
        RETRIED.labels(self._name).inc()
        self._channel.basic_ack(delivery.tag)

    def _count(self, deliveries: Sequence[_Delivery], applied: int) -> None:
        APPLIED.labels(self._name).inc(applied)
        SKIPPED.labels(self._name).inc(len(deliveries) - applied)
        now = datetime.now(UTC)
        for delivery in deliveries:
            lag = (now - delivery.event.occurred_at).total_seconds()
            LAG.labels(self._name).observe(max(0.0, lag))
