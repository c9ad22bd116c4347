"""The outbox relay (``python -m customer_service.relay``): outbox rows -> RabbitMQ, with confirms.

It wakes on ``NOTIFY customer_outbox`` (every transaction that writes an event
sends one on commit) and looks anyway every ``RELAY_POLL_SECONDS``, in case a
notification was missed while it was reconnecting. Each round claims up to
``RELAY_BATCH_SIZE`` rows, publishes them as persistent messages on the topic
exchange, waits for the broker to confirm every one, and only then marks them
published, in the claim's own transaction. Published rows are pruned after
``OUTBOX_RETENTION_SECONDS``. Several relays may run side by side (see
``outbox.py``).
"""

from __future__ import annotations

import logging
import time

from prometheus_client import Counter, Gauge, Histogram

from customer_service.notifications import ChannelListener
from customer_service.outbox import Outbox
from customer_service.settings import Settings
from customer_service.store import OUTBOX_CHANNEL
from shared.database import Database
from shared.events.process import BROKER_AWAY, DATABASE_AWAY
from shared.events.publisher import ConfirmingPublisher, Outgoing, PublishFailed, declare_topology
from shared.worker import WorkerState, run_worker

logger = logging.getLogger(__name__)

BACKLOG = Gauge("outbox_backlog", "Outbox rows waiting to be published")
PUBLISHED = Counter("outbox_published_total", "Events published and confirmed by the broker")
PRUNED = Counter("outbox_pruned_total", "Published outbox rows deleted after the retention period")
CONFIRM_SECONDS = Histogram(
    "outbox_confirm_seconds",
    "From publishing a batch to the broker's last confirm",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10),
)
#: What means "the broker or the database is away", not "this code is wrong".
TRANSIENT: tuple[type[BaseException], ...] = (PublishFailed, *BROKER_AWAY, *DATABASE_AWAY)
#: How often the backlog gauge is refreshed and old rows pruned, in seconds.
BACKLOG_EVERY = 5.0
PRUNE_EVERY = 60.0


def publish_pending_events(outbox: Outbox, publisher: ConfirmingPublisher, batch_size: int) -> int:
    """Publish one batch of unpublished rows; return how many the broker confirmed."""
    with outbox.claim(batch_size) as claim:
        if not claim.events:
            return 0
        started = time.perf_counter()
        publisher.publish(
            [
                Outgoing(
                    routing_key=event.event_type,
                    body=event.envelope.encode("utf-8"),
                    message_id=event.event_id,
                )
                for event in claim.events
            ]
        )
        CONFIRM_SECONDS.observe(time.perf_counter() - started)
        claim.mark_published()
    PUBLISHED.inc(len(claim.events))
    return len(claim.events)


def relay(state: WorkerState, settings: Settings) -> None:
    """Publish the outbox until ``state.stopping`` is set."""
    database = Database(
        settings.database_url,
        pool_size=2,
        connect_timeout=settings.database_connect_timeout_seconds,
        statement_timeout_ms=settings.database_statement_timeout_ms,
        application_name="customer_service.relay",
    )
    publisher = ConfirmingPublisher(
        settings.amqp_url,
        settings.events_exchange,
        confirm_timeout_seconds=settings.relay_confirm_timeout_seconds,
        connection_name="customer_service.relay",
    )
    listener: ChannelListener | None = None
    try:
        listener = ChannelListener(
            settings.database_url, settings.database_connect_timeout_seconds, OUTBOX_CHANNEL
        )
        declare_topology(settings.amqp_url, settings.events_exchange)
        publisher.connect()
        outbox = Outbox(database)
        state.ready()
        logger.info("relaying the outbox to exchange %s", settings.events_exchange)
        next_backlog = next_prune = 0.0
        while not state.stopping.is_set():
            state.beat()
            published = publish_pending_events(outbox, publisher, settings.relay_batch_size)
            now = time.monotonic()
            if now >= next_backlog:
                BACKLOG.set(outbox.backlog())
                next_backlog = now + BACKLOG_EVERY
            if now >= next_prune:
                PRUNED.inc(outbox.prune(settings.outbox_retention_seconds))
                next_prune = now + PRUNE_EVERY
            if published < settings.relay_batch_size:
                listener.wait(settings.relay_poll_seconds)
    finally:
        publisher.close()
        if listener is not None:
            listener.close()
        database.close()


def main() -> None:
    """Run the relay under the shared worker runner."""
    settings = Settings()
    run_worker(
        lambda state: relay(state, settings),
        service="customer_service.relay",
        metrics_bind=settings.metrics_bind,
        transient=TRANSIENT,
        log_level=settings.log_level,
    )


if __name__ == "__main__":
    main()
