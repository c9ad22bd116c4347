"""The consumer (``python -m search_service.consumer``): customer events -> the search index.

It reads the service's own durable queue on the events exchange
(``shared.events.consumer``), applies each batch in one transaction
(``events.EventIndexer``) and acks it only after the commit. A message that is
not a valid event goes to the dead-letter queue; when the database is away the
batch goes back to the queue and the runner starts again after a back-off.
"""

from __future__ import annotations

import threading

import pika.exceptions
import psycopg2

from search_service.events import EventIndexer
from search_service.settings import Settings
from search_service.store import SearchStore
from shared.database import Database
from shared.errors import ServiceUnavailable
from shared.events.consumer import EventConsumer
from shared.events.topology import ConsumerQueues
from shared.worker import WorkerState, run_worker

PACKAGE = "search_service"
#: What means "the database is away", not "this event is wrong": the batch is not
#: dead-lettered, it goes back to the queue and the runner tries again after a back-off.
TRANSIENT = (psycopg2.OperationalError, ServiceUnavailable)
#: ... and what means "the broker is away".
WORKER_TRANSIENT = (*TRANSIENT, pika.exceptions.AMQPError, OSError)


class _BeatingStop(threading.Event):
    """The stop flag the consumer polls on every idle tick, beating the liveness clock.

    ``EventConsumer.run`` looks at its stop flag at least every ``idle_seconds``
    whether messages come or not, and has no other hook: this is how a quiet
    consumer tells ``/healthz`` it is alive.
    """

    def __init__(self, state: WorkerState) -> None:
        super().__init__()
        self._state = state

    def is_set(self) -> bool:
        self._state.beat()
        return self._state.stopping.is_set()


def consume(state: WorkerState, settings: Settings) -> None:
    """Apply events until ``state.stopping`` is set."""
    database = Database(
        settings.database_url,
        pool_size=1,
        connect_timeout=settings.database_connect_timeout_seconds,
        statement_timeout_ms=settings.database_statement_timeout_ms,
        application_name="search_service.consumer",
    )
    try:
        database.ping()
        indexer = EventIndexer(SearchStore(database))
        consumer = EventConsumer(
            settings.amqp_url,
            ConsumerQueues(settings.events_exchange, PACKAGE),
            indexer.apply,
            transient=TRANSIENT,
        )
        consumer.run(_BeatingStop(state), on_ready=state.ready)
    finally:
        database.close()


def main() -> None:
    """Run the consumer under the shared worker runner."""
    settings = Settings()
    run_worker(
        lambda state: consume(state, settings),
        service="search_service.consumer",
        metrics_bind=settings.metrics_bind,
        transient=WORKER_TRANSIENT,
        log_level=settings.log_level,
    )


if __name__ == "__main__":
    main()
