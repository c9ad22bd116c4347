"""Reconcile against the real customer service: drift found, reported and corrected.

The customer service runs as its real app on a real socket; its events are
delivered to the analytics service by the tests (all, or some lost on purpose),
and rollup rows are corrupted straight in the database, as drift would.
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from analytics_service.reconcile import Reconciler
from analytics_service.rollups import Change
from analytics_service.schemas import ReconcileReport
from analytics_service.service import AnalyticsService
from analytics_service.source import HttpCustomerDirectory
from analytics_service.store import AnalyticsStore
from shared.database import Database
from shared.discovery import StaticDiscovery
from shared.events.envelope import NOTE_ADDED
from tests.analytics_service.conftest import Deliver, Rollups
from tests.analytics_service.customer_source import CustomerServiceThread
from tests.analytics_service.history import analysed
from tests.support.databases import Query
from tests.support.tokens import TestIssuer
from tests.support.upstreams import (
    Behaviour,
    BrokenUpstream,
    answers_garbage,
    answers_slowly,
    read_request_head,
)


def today() -> str:
    """Today (UTC), as the customer service dates what it creates now."""
    return datetime.now(UTC).date().isoformat()


#: The rollups after a reconcile that changed nothing: only the row the test put there.
GHOST_ONLY = ({("tag", "ghost"): 5}, {})


def reconcile(client: FlaskClient, issuer: TestIssuer, status: int = 200, **claims: Any) -> Any:
    response = client.post("/analytics/reconcile", headers=issuer.headers("admin", **claims))
    assert response.status_code == status, response.get_json()
    return response.get_json()


@pytest.fixture
def reconcile_source(reconciling_client: FlaskClient, issuer: TestIssuer) -> Callable[..., Any]:
    """``POST /analytics/reconcile`` as an admin (``claims`` overridden) reading ``source``."""

    def run(status: int = 200, **claims: Any) -> Any:
        return reconcile(reconciling_client, issuer, status, **claims)

    return run


@pytest.fixture
def reconcile_directly(
    database: Database, source: CustomerServiceThread, issuer: TestIssuer
) -> Callable[[type[HttpCustomerDirectory], int], ReconcileReport]:
    """Reconcile without the API, reading ``source`` through a directory class in pages."""

    def run(directory_class: type[HttpCustomerDirectory], page_size: int) -> ReconcileReport:
        directory = directory_class(
            StaticDiscovery({"customer_service": [source.url]}),
            issuer.token("admin"),
            timeout_seconds=10,
            page_size=page_size,
        )
        reconciler = Reconciler(
            AnalyticsStore(database), clock=lambda: datetime.now(UTC), max_customers=100
        )
        return reconciler.reconcile(directory)

    return run


@pytest.fixture
def reconcile_with(
    make_app: Callable[..., Flask], issuer: TestIssuer, analytics: AnalyticsService, query: Query
) -> Callable[..., Any]:
    """Reconcile on an app with these settings, over rollups holding only a ghost row."""
    query("INSERT INTO dimension_counts VALUES ('tag', 'ghost', 5)")

    def run(status: int, **settings: str) -> Any:
        return reconcile(make_app(**settings).test_client(), issuer, status)

    return run


def drift_of(report: dict[str, Any]) -> dict[tuple[str, str | None], tuple[int, int]]:
    """The report's drift as (rollup, key) -> (before, after)."""
    return {
        (entry["rollup"], entry["key"]): (entry["before"], entry["after"])
        for entry in report["drift"]
    }


def test_a_reconcile_with_nothing_lost_finds_no_drift(
    reconcile_source: Callable[..., Any],
    source: CustomerServiceThread,
    deliver: Deliver,
    rollups: Rollups,
) -> None:
    ada = source.create(country="FR", tags=["vip"])
    source.update(ada, status="active")
    source.add_note(source.create())
    deliver(source.events())
    kept = rollups.kept()

    report = reconcile_source()

    assert report["source_customers"] == 2
    assert report["customers"] == {"added": 0, "updated": 0, "repaired": 0, "deleted": 0}
    assert report["drift"] == []
    assert rollups.kept() == kept


def test_corrupted_rollup_rows_are_reported_and_set_back_to_their_recount(
    reconcile_source: Callable[..., Any],
    source: CustomerServiceThread,
    deliver: Deliver,
    rollups: Rollups,
    query: Query,
) -> None:
    source.create(country="FR", tags=["vip"])
    source.add_note(source.create(country="FR", status="active"))
    deliver(source.events())
    kept = rollups.kept()
    query("UPDATE dimension_counts SET count = 99 WHERE dimension = 'country' AND value = 'FR'")
    query("DELETE FROM dimension_counts WHERE dimension = 'status' AND value = 'active'")
    query("INSERT INTO dimension_counts VALUES ('tag', 'ghost', 5)")
    query("UPDATE daily_counts SET count = 7 WHERE metric = 'notes'")

    report = reconcile_source()

    assert report["drift"] == [
        {"rollup": "status", "key": "active", "before": 0, "after": 1},
        {"rollup": "country", "key": "FR", "before": 99, "after": 2},
        {"rollup": "tag", "key": "ghost", "before": 5, "after": 0},
        {"rollup": "notes", "key": today(), "before": 7, "after": 1},
    ]
    assert report["customers"] == {"added": 0, "updated": 0, "repaired": 0, "deleted": 0}
    assert rollups.kept() == kept
    assert reconcile_source()["drift"] == []


def test_lost_events_are_made_up_for_from_the_source(
    reconcile_source: Callable[..., Any],
    source: CustomerServiceThread,
    deliver: Deliver,
    rollups: Rollups,
) -> None:
    kept_up = source.create(country="DE")
    changed = source.create(country="FR")
    deleted = source.create(country="FR", tags=["vip"])
    delivered = source.events()
    deliver(delivered)
    # From here on every event is lost.
    source.update(changed, status="churned", country="ES")
    source.delete(deleted)
    source.create(country="IT", segment="smb")
    assert len(source.events()) == len(delivered) + 3

    report = reconcile_source()

    assert report["source_customers"] == 3
    assert report["customers"] == {"added": 1, "updated": 1, "repaired": 0, "deleted": 1}
    assert drift_of(report) == {
        ("status", "lead"): (3, 2),
        ("status", "churned"): (0, 1),
        ("country", "FR"): (2, 0),
        ("country", "ES"): (0, 1),
        ("country", "IT"): (0, 1),
        ("segment", None): (3, 2),
        ("segment", "smb"): (0, 1),
        ("tag", None): (2, 3),
        ("tag", "vip"): (1, 0),
        ("signups", today()): (3, 4),
        # Still churned at the source: the churn is counted, on the day of its last update.
        ("churns", today()): (0, 1),
    }
    assert rollups.kept() == rollups.recounted()
    assert {bucket: n for bucket, n in rollups.dimensions().items() if bucket[0] == "country"} == {
        ("country", "DE"): 1,
        ("country", "ES"): 1,
        ("country", "IT"): 1,
    }
    assert kept_up["version"] == 1
    assert reconcile_source()["drift"] == []


def test_reconcile_leaves_note_sentiment_as_it_is_and_its_customers_take_it_along(
    reconcile_source: Callable[..., Any],
    reconciling_client: FlaskClient,
    source: CustomerServiceThread,
    deliver: Deliver,
    issuer: TestIssuer,
    query: Query,
) -> None:
    """Sentiment is the NLP service's: reconcile keeps it, and moves the customers it joins."""
    lost = source.create(segment="smb")
    source.add_note(lost)
    source.add_note(lost)
    notes = [event for event in source.events() if event.type == NOTE_ADDED]
    # The customer events are lost; only the NLP service's verdicts on the notes arrive.
    deliver([analysed(notes[0], "positive", 0.8), analysed(notes[1], "negative", 0.4)])
    kept = query("SELECT * FROM note_sentiments ORDER BY note_id")

    def sentiment() -> Any:
        response = reconciling_client.get("/analytics/sentiment", headers=issuer.headers("viewer"))
        return response.get_json()

    assert (sentiment()["notes_awaiting_customer"], sentiment()["groups"]) == (2, [])

    report = reconcile_source()

    assert report["customers"]["added"] == 1
    assert query("SELECT * FROM note_sentiments ORDER BY note_id") == kept
    after = sentiment()
    assert after["notes_awaiting_customer"] == 0
    assert [(entry["value"], entry["notes"], entry["mean"]) for entry in after["groups"]] == [
        ("smb", 2, 0.2)
    ]

    source.delete(lost)  # lost too
    reconcile_source()

    assert sentiment()["overall"]["notes"] == 0
    assert query("SELECT * FROM note_sentiments ORDER BY note_id") == kept


def test_a_customer_row_at_the_sources_version_with_other_values_is_repaired(
    reconcile_source: Callable[..., Any],
    source: CustomerServiceThread,
    deliver: Deliver,
    rollups: Rollups,
    query: Query,
) -> None:
    ada = source.create(country="FR", segment="smb")
    deliver(source.events())
    query("UPDATE customers SET country = 'DE', segment = NULL WHERE id = %s", (ada["id"],))

    report = reconcile_source()

    assert report["customers"]["repaired"] == 1
    assert report["drift"] == []  # the rollups were right; only the row was not
    assert query("SELECT country, segment FROM customers") == [{"country": "FR", "segment": "smb"}]


def test_a_deleted_customer_stays_deleted_against_its_late_events(
    reconcile_source: Callable[..., Any],
    source: CustomerServiceThread,
    deliver: Deliver,
    rollups: Rollups,
) -> None:
    ada = source.create(country="FR")
    deliver(source.events())
    ada = source.update(ada, status="active")
    late = source.events()[-1]
    source.delete(ada)  # its event is lost

    report = reconcile_source()
    deliver([late])

    assert report["customers"]["deleted"] == 1
    assert rollups.dimensions().get(("country", "FR"), 0) == 0
    assert rollups.kept() == rollups.recounted()


def test_an_event_applied_during_the_walk_is_not_undone_by_the_older_snapshot(
    reconcile_directly: Callable[..., ReconcileReport],
    source: CustomerServiceThread,
    deliver: Deliver,
    rollups: Rollups,
) -> None:
    customers = {
        str(created["id"]): created for created in (source.create(country="FR") for _ in range(3))
    }
    deliver(source.events())

    class EventsFlowMeanwhile(HttpCustomerDirectory):
        """Reads the first page, then its customer changes and the event is applied."""

        def live_customers(self) -> Iterator[Change]:
            for position, change in enumerate(super().live_customers()):
                yield change
                if position == 0:
                    source.update(customers[str(change.state.id)], country="DE")
                    deliver(source.events()[-1:])

    report = reconcile_directly(EventsFlowMeanwhile, 1)

    assert report.customers.updated == 0
    assert report.drift == []
    assert rollups.dimensions()[("country", "DE")] == 1


def test_a_token_the_customer_service_refuses_is_403_and_changes_nothing(
    reconcile_source: Callable[..., Any],
    source: CustomerServiceThread,
    rollups: Rollups,
) -> None:
    source.create()  # never delivered: a reconcile would add it

    problem = reconcile_source(403, scope="analytics:reconcile")

    assert problem["type"].endswith("source-refused")
    assert "customers:read" in problem["detail"]
    assert rollups.kept() == ({}, {})


@pytest.mark.parametrize(
    ("settings", "status", "slug"),
    [
        ({"DISCOVERY_STATIC": "customer_service=http://127.0.0.1:9"}, 503, "source-unavailable"),
        ({"DISCOVERY_STATIC": "search_service=http://127.0.0.1:9"}, 503, "service-not-found"),
        ({"RECONCILE_MAX_CUSTOMERS": "1"}, 503, "reconcile-too-large"),
        ({"RECONCILE_TIMEOUT_SECONDS": "0.000001"}, 504, "reconcile-timed-out"),
    ],
)
def test_a_reconcile_that_cannot_finish_says_why_and_changes_nothing(
    reconcile_with: Callable[..., Any],
    source: CustomerServiceThread,
    rollups: Rollups,
    settings: dict[str, str],
    status: int,
    slug: str,
) -> None:
    source.create()
    source.create()

    problem = reconcile_with(
        status, **{"DISCOVERY_STATIC": f"customer_service={source.url}", **settings}
    )

    assert problem["type"].endswith(slug)
    assert rollups.kept() == GHOST_ONLY


def test_a_walk_over_many_pages_sees_every_customer(
    reconcile_directly: Callable[..., ReconcileReport],
    source: CustomerServiceThread,
    rollups: Rollups,
) -> None:
    for country in ("FR", "FR", "DE", "ES", "IT"):
        source.create(country=country)
    report = reconcile_directly(HttpCustomerDirectory, 2)

    assert (report.source_customers, report.customers.added) == (5, 5)
    assert rollups.dimensions()[("country", "FR")] == 2
    assert rollups.kept() == rollups.recounted()


def answers_200_with(body: bytes) -> Behaviour:
    """Reads the request, then answers 200 with ``body`` as JSON."""

    def behave(connection: socket.socket) -> None:
        read_request_head(connection)
        connection.sendall(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n"
            b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
        )

    return behave


def answers_status(status: int) -> Behaviour:
    """Reads the request, then answers ``status`` with an empty object."""

    def behave(connection: socket.socket) -> None:
        read_request_head(connection)
        connection.sendall(
            f"HTTP/1.1 {status} X\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{{}}".encode()
        )

    return behave


@pytest.mark.parametrize(
    ("behaviour", "settings", "status", "slug"),
    [
        (answers_garbage, {}, 502, "source-bad-answer"),
        (answers_200_with(b"not json"), {}, 502, "source-bad-answer"),
        (
            answers_200_with(b'{"items": [{"id": "x"}], "next_cursor": null}'),
            {},
            502,
            "source-bad-answer",
        ),
        (
            answers_200_with(b'{"items": [], "next_cursor": "again"}'),
            {},
            502,
            "source-bad-answer",
        ),
        (answers_status(500), {}, 503, "source-unavailable"),
        (answers_status(302), {}, 502, "source-bad-answer"),
        (answers_slowly(5), {"RECONCILE_TIMEOUT_SECONDS": "0.5"}, 504, "reconcile-timed-out"),
    ],
)
def test_a_customer_service_answering_wrong_fails_the_reconcile_and_changes_nothing(
    reconcile_with: Callable[..., Any],
    rollups: Rollups,
    behaviour: Behaviour,
    settings: dict[str, str],
    status: int,
    slug: str,
) -> None:
    upstream = BrokenUpstream(behaviour)
    try:
        problem = reconcile_with(
            status, DISCOVERY_STATIC=f"customer_service={upstream.url}", **settings
        )
    finally:
        upstream.close()

    assert problem["type"].endswith(slug)
    assert rollups.kept() == GHOST_ONLY
