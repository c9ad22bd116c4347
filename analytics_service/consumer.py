"""The event consumer (``python -m analytics_service.consumer``): customer events -> rollups.

It reads this service's own durable queue on the events exchange
(``shared.events.consumer``) and applies each batch of events in one
transaction of the analytics database (``AnalyticsService.apply``), acking the
batch only after that transaction has committed. Applying is idempotent and
order-proof, so a redelivered or reordered event changes nothing it should not.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence

import pika.exceptions
import psycopg2

from analytics_service.events import change_of
from analytics_service.service import AnalyticsService, utc_now
from analytics_service.settings import Settings
from analytics_service.store import AnalyticsStore
from shared.database import Database
from shared.errors import ServiceUnavailable
from shared.events.consumer import EventConsumer
from shared.events.envelope import Event
from shared.events.topology import ConsumerQueues
from shared.worker import WorkerState, run_worker

logger = logging.getLogger(__name__)

PACKAGE = "analytics_service"
#: What means "the database is away", not "this batch is wrong": the batch goes back to
#: the queue (never to the dead letters) and the runner starts again after a back-off.
TRANSIENT = (psycopg2.OperationalError, ServiceUnavailable)
#: ... and what means "the broker is away", for the runner.
WORKER_TRANSIENT = (*TRANSIENT, pika.exceptions.AMQPError, OSError)


class LoopHeartbeat(threading.Event):
    """The worker's stop flag as the consumer loop sees it: each look at it is a heartbeat.

    The loop looks at it between messages and every few milliseconds while the
    queue is idle, so ``/healthz`` stays alive exactly while the loop turns, events
    or not.
    """

    def __init__(self, state: WorkerState) -> None:
        super().__init__()
        self._state = state

    def is_set(self) -> bool:
        """Whether the worker is stopping (and a beat: the loop is alive)."""
        self._state.beat()
        return self._state.stopping.is_set()


def consume(state: WorkerState, settings: Settings) -> None:
    """Apply the queue's events until ``state.stopping`` is set."""
    database = Database(
        settings.database_url,
        pool_size=1,
        connect_timeout=settings.database_connect_timeout_seconds,
        statement_timeout_ms=settings.database_statement_timeout_ms,
        application_name="analytics_service.consumer",
    )
    service = AnalyticsService(AnalyticsStore(database), clock=utc_now)

    def apply(events: Sequence[Event]) -> int:
        return service.apply([change_of(event) for event in events])

    consumer = EventConsumer(
        settings.amqp_url,
        ConsumerQueues(settings.events_exchange, PACKAGE),
        apply,
        transient=TRANSIENT,
    )
    try:
        database.ping()
        logger.info("applying customer events from exchange %s", settings.events_exchange)
        consumer.run(LoopHeartbeat(state), on_ready=state.ready)
    finally:
        database.close()


def main() -> None:
    """Run the consumer under the shared worker runner."""
    settings = Settings()
    run_worker(
        lambda state: consume(state, settings),
        service="analytics_service.consumer",
        metrics_bind=settings.metrics_bind,
        transient=WORKER_TRANSIENT,
        log_level=settings.log_level,
    )


if __name__ == "__main__":
    main()
