"""Faults on the event spine: nothing lost, nothing counted twice, whatever dies mid-stream.

While a writer creates, updates, deletes customers and adds notes through the
gateway, the relay is killed (``kill -9``) and started again, then each
consumer, then the broker goes away and comes back, then old events are
delivered again, duplicated and out of order, on purpose. Once the writer
stops and the queues drain, every customer of the source of truth must be in
the search index and in the analytics service at its latest version (deleted
ones deleted), every note indexed and counted once, and every rollup equal to
a recount from the source.

``make test`` runs one short round, with the broker taken away by cutting the
stack's connections to it (a proxy: other tests share the broker). ``make soak``
runs many rounds (``SOAK_ROUNDS``) and restarts the real RabbitMQ
(``rabbitmqctl stop_app`` / ``start_app``; ``SOAK_BROKER=rabbitmqctl``), alone.
"""

from __future__ import annotations

import os
import random
import subprocess
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import psycopg2
import psycopg2.extras
import pytest
import requests

from shared.events.envelope import CREATED
from shared.events.publisher import ConfirmingPublisher, Outgoing
from shared.events.topology import ConsumerQueues, consuming_packages
from shared.services import load_services
from tests.e2e.conftest import Stack
from tests.support import broker
from tests.support.service_fixtures import sql_on
from tests.support.tcp_proxy import CuttableProxy

ROUNDS = int(os.environ.get("SOAK_ROUNDS", "1"))
BROKER_FAULT = os.environ.get("SOAK_BROKER", "proxy")
#: How long the queues may take to drain once the writer stops.
SETTLE_SECONDS = 90.0
# A round (kills, an outage, redelivery, settling) plus stopping its stack, on a loaded
# machine: more than the default two minutes, bounded all the same.
pytestmark = pytest.mark.timeout(360 * ROUNDS)


@pytest.fixture(scope="module")
def proxy() -> Iterator[CuttableProxy]:
    """Every connection of the stack's processes to RabbitMQ passes here."""
    proxy = CuttableProxy("127.0.0.1", 5672)
    yield proxy
    proxy.close()


@pytest.fixture(scope="module")
def faulty_stack(start_stack: Callable[..., Stack], proxy: CuttableProxy) -> Iterator[Stack]:
    """A stack of its own, the event spine's services, whose broker connections pass the proxy."""
    stack = start_stack(
        amqp_url=broker.AMQP_URL.replace(":5672", f":{proxy.port}"),
        only=("customer", "search", "analytics"),
    )
    yield stack
    stack.stop()


@dataclass
class Writer:
    """Changes customers through the gateway until stopped, as a front end would."""

    stack: Stack
    stopping: threading.Event = field(default_factory=threading.Event)
    counts: Counter[str] = field(default_factory=Counter)
    live: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    def _call(self, method: str, path: str, **options: Any) -> requests.Response:
        headers = {**self.stack.headers(), **options.pop("headers", {})}
        return requests.request(
            method, f"{self.stack.api}{path}", headers=headers, timeout=10, **options
        )

    def step(self, chance: random.Random) -> None:
        roll = chance.random()
        if roll < 0.35 or len(self.live) < 5:
            tag = chance.choice(["vip", "newsletter", "trial", "partner"])
            body = {
                "name": f"Faulty {uuid.uuid4().hex[:8]}",
                "email": f"faulty-{uuid.uuid4().hex}@example.com",
                "country": chance.choice(["FR", "DE", "JP", "BR"]),
                "segment": chance.choice(["smb", "enterprise", None]),
                "tags": [tag],
            }
            response = self._call("POST", "/customers", json=body)
            if response.status_code == 201:
                self.live.append(response.json()["id"])
            kind = "created"
        elif roll < 0.7:
            customer = chance.choice(self.live)
            change = {
                "status": chance.choice(["lead", "active", "churned"]),
                "country": chance.choice(["FR", "DE", "JP", "BR", None]),
                "tags": chance.sample(["vip", "newsletter", "trial", "partner"], 2),
            }
            response = self._call(
                "PATCH", f"/customers/{customer}", json=change, headers={"If-Match": "*"}
            )
            kind = "updated"
        elif roll < 0.85:
            customer = chance.choice(self.live)
            response = self._call(
                "POST", f"/customers/{customer}/notes", json={"body": "Called about renewal."}
            )
            kind = "noted"
        elif roll < 0.95 or not self.deleted:
            customer = self.live.pop(chance.randrange(len(self.live)))
            response = self._call("DELETE", f"/customers/{customer}")
            if response.status_code == 204:
                self.deleted.append(customer)
            kind = "deleted"
        else:
            customer = self.deleted.pop(chance.randrange(len(self.deleted)))
            response = self._call("POST", f"/customers/{customer}/restore")
            if response.status_code == 200:
                self.live.append(customer)
            kind = "restored"
        if response.status_code >= 300:
            self.failures.append(f"{kind}: {response.status_code} {response.text[:200]}")
        else:
            self.counts[kind] += 1

    def run(self) -> None:
        chance = random.Random(7)
        while not self.stopping.is_set():
            self.step(chance)


def redeliver_old_events(stack: Stack, how_many: int) -> int:
    """Publish published events again, each twice, shuffled: duplicates and reordering."""
    connection = psycopg2.connect(stack.databases["customer"])
    try:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT event_id::text, event_type, envelope::text FROM outbox"
                " WHERE published_at IS NOT NULL ORDER BY random() LIMIT %s",
                [how_many],
            )
            rows = cursor.fetchall()
    finally:
        connection.close()
    messages = [Outgoing(kind, body.encode(), event_id) for event_id, kind, body in rows] * 2
    random.Random(11).shuffle(messages)
    publisher = ConfirmingPublisher(broker.AMQP_URL, stack.events_exchange)
    try:
        publisher.publish(messages)
    finally:
        publisher.close()
    return len(messages)


def take_the_broker_away(proxy: CuttableProxy, seconds: float) -> None:
    """The broker goes away and comes back (the proxy, or RabbitMQ itself in soak runs)."""
    if BROKER_FAULT == "rabbitmqctl":
        subprocess.run(["rabbitmqctl", "stop_app"], check=True, capture_output=True)
        time.sleep(seconds)
        subprocess.run(["rabbitmqctl", "start_app"], check=True, capture_output=True)
    else:
        proxy.cut()
        time.sleep(seconds)
        proxy.restore()


def rows(url: str, sql: str) -> list[dict[str, Any]]:
    """Every row of ``sql`` on the database at ``url``."""
    with sql_on(url) as query:
        return query(sql)


def differences(stack: Stack) -> dict[str, Any]:
    """Where the search index and the analytics service disagree with the source (empty: none)."""
    source = {
        str(row["id"]): row
        for row in rows(
            stack.databases["customer"],
            "SELECT id, version, deleted_at IS NOT NULL AS deleted, status, country, segment,"
            " tags, created_at::date AS day FROM customers",
        )
    }
    source_notes = rows(
        stack.databases["customer"],
        "SELECT id::text AS id, customer_id::text AS customer FROM notes",
    )
    found: dict[str, Any] = {}

    indexed = {
        str(row["customer_id"]): (row["version"], row["deleted"])
        for row in rows(
            stack.databases["search"], "SELECT customer_id, version, deleted FROM documents"
        )
    }
    expected = {cid: (row["version"], row["deleted"]) for cid, row in source.items()}
    if indexed != expected:
        found["search documents"] = sorted(
            cid for cid in expected.keys() | indexed.keys() if indexed.get(cid) != expected.get(cid)
        )[:10]
    indexed_notes = {
        r["id"] for r in rows(stack.databases["search"], "SELECT note_id::text AS id FROM notes")
    }
    if indexed_notes != {note["id"] for note in source_notes}:
        found["search notes"] = len(indexed_notes ^ {note["id"] for note in source_notes})

    mirrored = {
        str(row["id"]): (row["version"], row["deleted"])
        for row in rows(stack.databases["analytics"], "SELECT id, version, deleted FROM customers")
    }
    if mirrored != expected:
        found["analytics customers"] = len(set(mirrored.items()) ^ set(expected.items()))
    recount: Counter[tuple[str, str]] = Counter()
    for row in source.values():
        if row["deleted"]:
            continue
        recount["status", row["status"]] += 1
        recount["country", row["country"] or ""] += 1
        recount["segment", row["segment"] or ""] += 1
        for tag in row["tags"] or [""]:
            recount["tag", tag] += 1
    rollups = {
        (row["dimension"], row["value"]): row["count"]
        for row in rows(
            stack.databases["analytics"], "SELECT dimension, value, count FROM dimension_counts"
        )
        if row["count"]
    }
    if rollups != dict(recount):
        found["dimension rollups"] = {
            key: (rollups.get(key), recount.get(key))
            for key in rollups.keys() | recount.keys()
            if rollups.get(key) != recount.get(key)
        }
    daily = {
        (row["metric"], row["day"]): row["count"]
        for row in rows(stack.databases["analytics"], "SELECT metric, day, count FROM daily_counts")
        if row["count"] and row["metric"] in ("signups", "notes")
    }
    expected_daily: Counter[tuple[str, Any]] = Counter(
        ("signups", r["day"]) for r in source.values()
    )
    expected_daily.update(
        ("notes", r["day"])
        for r in rows(stack.databases["customer"], "SELECT created_at::date AS day FROM notes")
    )
    if daily != dict(expected_daily):
        found["daily rollups"] = {
            key: (daily.get(key), expected_daily.get(key))
            for key in daily.keys() | expected_daily.keys()
            if daily.get(key) != expected_daily.get(key)
        }
    return found


def checked_consumers(stack: Stack) -> tuple[str, ...]:
    """The stack's consumers of customer changes (the NLP service is not in this stack)."""
    running = {service.package for service in load_services() if service.name in stack.services}
    return tuple(p for p in consuming_packages(CREATED) if p in running)


def settled(stack: Stack) -> bool:
    """No outbox row and no consumer message is waiting."""
    pending = rows(
        stack.databases["customer"], "SELECT count(*) AS n FROM outbox WHERE published_at IS NULL"
    )[0]["n"]
    queues = [
        ConsumerQueues(stack.events_exchange, package) for package in checked_consumers(stack)
    ]
    waiting = sum(broker.message_count(q.main) + broker.message_count(q.retry) for q in queues)
    return pending == 0 and waiting == 0


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_nothing_is_lost_or_counted_twice_through_kills_an_outage_and_redelivery(
    faulty_stack: Stack, proxy: CuttableProxy, round_: int
) -> None:
    stack = faulty_stack
    writer = Writer(stack)
    thread = threading.Thread(target=writer.run, daemon=True)
    thread.start()
    try:
        time.sleep(1.5)
        for name in ["customer-relay", *sorted(n for n in stack.workers if n.endswith("consumer"))]:
            stack.workers[name].kill()
            time.sleep(0.5)
            stack.workers[name].restart()
        take_the_broker_away(proxy, seconds=3.0)
        time.sleep(1.0)
        redelivered = redeliver_old_events(stack, how_many=200)
        time.sleep(1.0)
    finally:
        writer.stopping.set()
        thread.join(30)

    deadline = time.monotonic() + SETTLE_SECONDS
    while not (settled(stack) and not differences(stack)):
        if time.monotonic() > deadline:
            break
        time.sleep(0.5)

    dead = {
        package: broker.message_count(ConsumerQueues(stack.events_exchange, package).dead)
        for package in checked_consumers(stack)
    }
    print(
        f"round {round_}: writes {dict(writer.counts)}, redelivered {redelivered} old events,"
        f" dead-lettered {dead}, differences {differences(stack) or 'none'}"
    )
    assert not writer.failures, writer.failures[:5]
    assert sum(writer.counts.values()) > 20, "the writer hardly wrote: the faults proved nothing"
    assert differences(stack) == {}
    assert dead == dict.fromkeys(checked_consumers(stack), 0)
