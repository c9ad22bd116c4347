"""How fast the outbox relay moves events to RabbitMQ, against plain publishing in the same run.

Starts a relay (a real process) on a fresh customer database and its own
exchange, then commits N outbox rows in one transaction (the commit NOTIFYs the
relay) and times until the last row is marked published: every event
persistent, routed to each consuming service's durable queue, confirmed by the
broker, marked in PostgreSQL. Baselines measured in the same run, same message
size, same queues:

- ``pika, a confirm per message``: ``BlockingChannel`` with confirms on, what
  a relay written the obvious way does;
- ``pika, no confirms``: fire and forget, an upper bound that guarantees nothing.

Run with ``python -m bench.relay_throughput [--events N] [--batch N]``.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pika
import psycopg2
import psycopg2.extras

from shared.events.envelope import CREATED, Event
from shared.events.publisher import declare_topology
from shared.events.topology import ConsumerQueues, consuming_packages
from tests.support import broker
from tests.support.databases import drop_database, migrated_database
from tests.support.processes import WorkerProcess


def envelope(number: int) -> Event:
    """A realistic created event (about 600 bytes)."""
    subject = str(uuid.uuid4())
    stamp = "2026-11-30T07:00:00.000000Z"
    return Event(
        type=CREATED,
        subject=subject,
        version=1,
        time=stamp,
        data={
            "id": subject,
            "name": f"Zoë Müller {number}",
            "email": f"zoe.{number}@example.com",
            "phone": "+49 30 1234567",
            "company": "Müller & Söhne GmbH",
            "country": "DE",
            "city": "Berlin",
            "segment": "enterprise",
            "status": "lead",
            "tags": ["vip", "newsletter"],
            "attributes": {"source": "import", "score": number % 100},
            "created_at": stamp,
            "updated_at": stamp,
            "version": 1,
            "deleted_at": None,
        },
    )


@contextmanager
def exchange_with_queues() -> Iterator[str]:
    """A fresh exchange with every consuming service's queues; deleted after."""
    exchange = broker.unique_exchange()
    declare_topology(broker.AMQP_URL, exchange)
    try:
        yield exchange
    finally:
        broker.delete_exchange(exchange)


def purge(exchange: str) -> None:
    """Empty every consuming service's queue on ``exchange``."""
    channel = broker.channel()
    try:
        for package in consuming_packages(CREATED):
            channel.queue_purge(ConsumerQueues(exchange, package).main)
    finally:
        channel.connection.close()


def relay_rate(events: list[Event], batch: int, logs: Path) -> float:
    """Events per second through a relay process, commit to last row marked."""
    url = migrated_database("customer_service", "bench")
    try:
        with exchange_with_queues() as exchange:
            relay = WorkerProcess(
                "customer_service.relay",
                {
                    "CUSTOMER_DATABASE_URL": url,
                    "AMQP_URL": broker.AMQP_URL,
                    "EVENTS_EXCHANGE": exchange,
                    "RELAY_BATCH_SIZE": str(batch),
                    "LOG_LEVEL": "WARNING",
                },
            ).start(logs)
            connection = psycopg2.connect(url)
            try:
                with connection, connection.cursor() as cursor:
                    psycopg2.extras.execute_values(
                        cursor,
                        "INSERT INTO outbox (event_id, event_type, subject, envelope) VALUES %s",
                        [(e.id, e.type, e.subject, json.dumps(e.to_document())) for e in events],
                        page_size=1000,
                    )
                    cursor.execute("NOTIFY customer_outbox")
                started = time.perf_counter()
                connection.autocommit = True
                with connection.cursor() as cursor:
                    while True:
                        cursor.execute("SELECT count(*) FROM outbox WHERE published_at IS NULL")
                        (pending,) = cursor.fetchone() or (0,)
                        if pending == 0:
                            break
                        time.sleep(0.005)
                elapsed = time.perf_counter() - started
            finally:
                connection.close()
                relay.stop()
            return len(events) / elapsed
    finally:
        drop_database(url)


def pika_rate(events: list[Event], *, confirms: bool) -> float:
    """Events per second published one by one on a ``BlockingChannel``."""
    with exchange_with_queues() as exchange:
        connection = pika.BlockingConnection(pika.URLParameters(broker.AMQP_URL))
        channel = connection.channel()
        if confirms:
            channel.confirm_delivery()
        bodies = [(e.type, e.to_json(), e.id) for e in events]
        started = time.perf_counter()
        for routing_key, body, message_id in bodies:
            channel.basic_publish(
                exchange,
                routing_key,
                body,
                pika.BasicProperties(
                    delivery_mode=pika.DeliveryMode.Persistent, message_id=message_id
                ),
                mandatory=True,
            )
        # The broker has taken everything once a synchronous call returns behind them.
        channel.queue_declare(
            ConsumerQueues(exchange, consuming_packages(CREATED)[0]).main, passive=True
        )
        elapsed = time.perf_counter() - started
        connection.close()
        purge(exchange)
        return len(events) / elapsed


def main() -> None:
    """Measure and print the relay's rate and the baselines'."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--baseline-events", type=int, default=5_000)
    args = parser.parse_args()
    events = [envelope(n) for n in range(args.events)]
    sample = events[: args.baseline_events]
    queues = len(consuming_packages(CREATED))
    print(f"{args.events} events, ~{len(events[0].to_json())} bytes, {queues} consumer queues each")
    with tempfile.TemporaryDirectory() as logs:
        relay = relay_rate(events, args.batch, Path(logs))
    confirmed = pika_rate(sample, confirms=True)
    unconfirmed = pika_rate(sample, confirms=False)
    print("| path | events/s | vs a confirm per message |")
    print("|---|---|---|")
    print(
        f"| relay (batch {args.batch}, pipelined confirms, marked in PostgreSQL) "
        f"| {relay:,.0f} | {relay / confirmed:.1f}x |"
    )
    print(f"| pika, a confirm per message | {confirmed:,.0f} | 1.0x |")
    print(
        f"| pika, no confirms (guarantees nothing) | {unconfirmed:,.0f} "
        f"| {unconfirmed / confirmed:.1f}x |"
    )
    print(f"target >= 5,000 events/s: {'met' if relay >= 5000 else 'MISSED'} ({relay:,.0f})")


if __name__ == "__main__":
    main()
