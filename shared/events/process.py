"""A service's event consumer process, and what counts as "a dependency is away".

Every consuming service's ``consumer.py`` is a few lines: it says how to build
its ``apply`` from a database pool and calls :func:`run_consumer`, which opens
the pool, consumes the service's queue under the shared worker runner
(``shared.worker``) and beats the worker's liveness on every turn of the loop,
events or not.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import pika.exceptions
import psycopg2

from shared.database import Database
from shared.errors import ServiceUnavailable
from shared.events.consumer import Apply, EventConsumer
from shared.events.topology import queues_of
from shared.settings import EventSettings
from shared.worker import WorkerState, run_worker

logger = logging.getLogger(__name__)

#: The database is away: not the event's fault, so never dead-lettered; the batch
#: goes back to the queue and the runner tries again after a back-off.
DATABASE_AWAY: tuple[type[BaseException], ...] = (psycopg2.OperationalError, ServiceUnavailable)
#: The broker is away (refused, dropped, closed).
BROKER_AWAY: tuple[type[BaseException], ...] = (pika.exceptions.AMQPError, OSError)


def consume_events(
    state: WorkerState,
    settings: EventSettings,
    *,
    package: str,
    database_url: str,
    make_apply: Callable[[Database], Apply],
) -> None:
    """Apply ``package``'s queue with ``make_apply(database)`` until ``state.stopping``."""
    database = Database(
        database_url,
        pool_size=1,
        connect_timeout=settings.database_connect_timeout_seconds,
        statement_timeout_ms=settings.database_statement_timeout_ms,
        application_name=f"{package}.consumer",
    )
    try:
        database.ping()
        consumer = EventConsumer(
            settings.amqp_url,
            queues_of(settings.events_exchange, package),
            make_apply(database),
            transient=DATABASE_AWAY,
        )
        logger.info("applying events from exchange %s", settings.events_exchange)
        consumer.run(state.stopping, on_ready=state.ready, on_tick=state.beat)
    finally:
        database.close()


def run_consumer(
    settings: EventSettings,
    *,
    package: str,
    database_url: str,
    make_apply: Callable[[Database], Apply],
) -> None:
    """The whole consumer process of ``package``: runner, logs, probes, back-off."""
    run_worker(
        lambda state: consume_events(
            state, settings, package=package, database_url=database_url, make_apply=make_apply
        ),
        service=f"{package}.consumer",
        metrics_bind=settings.metrics_bind,
        transient=(*DATABASE_AWAY, *BROKER_AWAY),
        log_level=settings.log_level,
    )
