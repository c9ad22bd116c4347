"""Traffic for the observability tests: a short load through the gateway, and an incident.

:func:`put_load` uses every service the way a client does (customers with notes,
listing, search, analytics, NLP calls and a batch job), as a user of its own so
that the per-user NLP rate limit of the shared platform's users is left alone,
and waits until the events it caused have reached search. :func:`cause_incident`
breaks a small stack of its own: its gateway forwards customer calls to a port
where nothing listens (so its circuit breaker opens), and its analytics consumer
receives a message that is not an event (so it dead-letters it).
"""

from __future__ import annotations

import csv
import io
import time
import uuid
from collections.abc import Callable
from typing import Any

import pika
import requests

from tests.support import broker
from tests.support.stack import Stack, create_user_with_cli

Poll = Callable[[], Any]


def wait_until(check: Poll, timeout: float, what: str) -> Any:
    """Poll ``check`` until it returns something truthy; fail naming ``what`` at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        assert time.monotonic() < deadline, f"{what}: not after {timeout} s"
        time.sleep(0.2)


def _user_headers(stack: Stack) -> dict[str, str]:
    username = f"observer-{uuid.uuid4().hex[:8]}"
    password = create_user_with_cli(stack.gateway_database, username, "agent")
    return {"Authorization": f"Bearer {stack.login(username, password)['access_token']}"}


def _ok(response: requests.Response, *statuses: int) -> dict[str, Any]:
    assert response.status_code in (statuses or (200,)), (
        f"{response.request.method} {response.url}: {response.status_code} {response.text[:300]}"
    )
    return dict(response.json()) if response.content else {}


def _job_csv(rows: int) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["id", "comment"])
    for number in range(rows):
        writer.writerow([number, "Great service, thanks!" if number % 2 else "Late again."])
    return buffer.getvalue().encode()


#: How long the steady part of the load lasts: several scrapes, so every rate has two samples.
STEADY_SECONDS = 10.0


def put_load(stack: Stack, customers: int = 8) -> None:
    """Customer, search, analytics and NLP calls through the gateway; events reach search.

    A first burst (customers with notes, an NLP batch job), then a steady mix of every
    kind of call for :data:`STEADY_SECONDS`: a counter's first sample is where a rate
    starts, so what happens before a series is first scraped shows in no rate.
    """
    headers = _user_headers(stack)
    api = stack.api
    session = requests.Session()
    session.headers.update(headers)
    marker = uuid.uuid4().hex[:8]

    def create(number: int) -> dict[str, Any]:
        customer = _ok(
            session.post(
                f"{api}/customers",
                json={
                    "name": f"Observed Customer {marker} {number}",
                    "email": f"observed-{marker}-{number}@example.com",
                    "country": ("GB", "FR", "DE")[number % 3],
                    "tags": ["observed"],
                },
                timeout=10,
            ),
            201,
        )
        _ok(
            session.post(
                f"{api}/customers/{customer['id']}/notes",
                json={"body": "Very happy with the fast answer." if number % 2 else "Slow again."},
                timeout=10,
            ),
            201,
        )
        return customer

    created = [create(number) for number in range(customers // 2)]

    def submit_job() -> str:
        job = _ok(
            session.post(
                f"{api}/nlp/jobs",
                files={"file": ("comments.csv", _job_csv(40), "text/csv")},
                data={"task": "sentiment", "column": "comment"},
                timeout=30,
            ),
            202,
        )
        return str(job["id"])

    def job_done(job: str) -> bool:
        time.sleep(0.5)  # the NLP routes' own rate limit is low: poll gently
        status = str(_ok(session.get(f"{api}/nlp/jobs/{job}", timeout=10))["status"])
        assert status != "error", status
        return status == "ready"

    first_job = submit_job()
    texts = ["The fix works, thank you!", "Third outage this week.", "Invoice overdue"]
    ends = time.monotonic() + STEADY_SECONDS
    turn = 0
    while time.monotonic() < ends or len(created) < customers:
        if len(created) < customers:
            created.append(create(len(created)))
        first = created[0]
        etag = session.get(f"{api}/customers/{first['id']}", timeout=10).headers["ETag"]
        status = ("active", "lead")[turn % 2]
        _ok(
            session.patch(
                f"{api}/customers/{first['id']}",
                json={"status": status},
                headers={"If-Match": etag},
                timeout=10,
            )
        )
        _ok(session.get(f"{api}/customers", params={"tag": "observed", "limit": "5"}, timeout=10))
        _ok(session.get(f"{api}/search", params={"q": "observed custmer"}, timeout=10))
        _ok(session.get(f"{api}/search/suggest", params={"q": "obs"}, timeout=10))
        _ok(session.get(f"{api}/analytics/summary", timeout=10))
        _ok(session.get(f"{api}/analytics/breakdown", params={"dimension": "country"}, timeout=10))
        # The NLP routes' own rate limit (120 a minute) stays far away.
        # New texts each turn: repeated ones would come from the prediction cache, not the model.
        task = ("sentiment", "embed", "classify")[turn % 3]
        body: dict[str, Any] = {
            "texts": [f"{text} (call {turn})" for text in texts[: 1 + turn % 3]]
        }
        if task == "classify":
            body["labels"] = [{"name": "billing"}, {"name": "shipping"}]
        _ok(session.post(f"{api}/nlp/{task}", json=body, timeout=30))
        turn += 1
        time.sleep(0.3)

    def searchable() -> bool:
        found = _ok(session.get(f"{api}/search", params={"q": f"observed {marker}"}, timeout=10))
        return len(found.get("items", [])) == customers

    wait_until(searchable, 60, "the load's customers in search")
    # A second job once the first is done: the job metrics' series exist by then, so the
    # second one's chunks and rows show as rates.
    wait_until(lambda: job_done(first_job), 90, "the first NLP batch job")
    second_job = submit_job()
    wait_until(lambda: job_done(second_job), 90, "the second NLP batch job")


def cause_incident(incident: Stack) -> None:
    """Open the incident gateway's breaker on customer_service; dead-letter one message."""
    for _ in range(4):
        response = requests.get(f"{incident.api}/customers", headers=incident.headers(), timeout=15)
        assert response.status_code == 503, response.text
    connection = pika.BlockingConnection(pika.URLParameters(broker.AMQP_URL))
    try:
        connection.channel().basic_publish(
            incident.events_exchange,
            "customer.created",
            b"this is not an event",
            pika.BasicProperties(content_type="application/json", delivery_mode=2),
        )
    finally:
        connection.close()
    consumer = incident.workers["analytics-consumer"]

    def dead_lettered() -> bool:
        metrics = requests.get(consumer.metrics_url, timeout=5).text
        return "events_dead_lettered_total{" in metrics

    wait_until(dead_lettered, 30, "the incident consumer's dead letter")
