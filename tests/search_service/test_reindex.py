"""Rebuilding the index from the customer service while events keep being applied.

The customer service here is its real app on its own database, served over HTTP
in this process (the search service reaches it through discovery, as in
production), trusting the same test issuer as the search app.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.serving import BaseWSGIServer, make_server

from customer_service.app import DATABASE_EXTENSION as CUSTOMER_DATABASE
from customer_service.app import create_app as create_customer_app
from customer_service.settings import Settings as CustomerSettings
from search_service.app import DATABASE_EXTENSION, create_app
from search_service.events import EventIndexer
from search_service.reindex import Reindexer, ReindexRun
from search_service.service import ReindexAlreadyRunning, ReindexService
from search_service.settings import Settings
from search_service.source import CustomerSource
from search_service.store import SearchStore
from shared.discovery import StaticDiscovery
from tests.search_service.customer_events import CustomerHistory
from tests.support.databases import Query
from tests.support.tokens import TestIssuer


@pytest.fixture(scope="module")
def customer_service(
    make_database: Callable[[str], str], issuer: TestIssuer
) -> Iterator[tuple[str, FlaskClient]]:
    """The customer service's URL and a client of the same app, on a database of its own."""
    app = create_customer_app(
        CustomerSettings(CUSTOMER_DATABASE_URL=make_database("customer_service")),
        key_source=issuer.key_source,
    )
    server: BaseWSGIServer = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}", app.test_client()
    server.shutdown()
    app.extensions[CUSTOMER_DATABASE].close()


@pytest.fixture(scope="module")
def reindex_app(
    search_database: str, issuer: TestIssuer, customer_service: tuple[str, FlaskClient]
) -> Iterator[Flask]:
    """The search API finding that customer service through discovery."""
    url, _ = customer_service
    app = create_app(
        Settings(SEARCH_DATABASE_URL=search_database),
        key_source=issuer.key_source,
        discovery=StaticDiscovery({"customer_service": [url]}),
    )
    yield app
    app.extensions[DATABASE_EXTENSION].close()


@pytest.fixture
def customers(
    customer_service: tuple[str, FlaskClient], issuer: TestIssuer, query: Query
) -> Callable[..., dict[str, Any]]:
    """Create a customer in the customer service (its events go nowhere here)."""
    _, client = customer_service

    def create(name: str, **fields: Any) -> dict[str, Any]:
        body = {"name": name, "email": f"{name.split()[0].lower()}-{time.time_ns()}@example.com"}
        response = client.post("/customers", json={**body, **fields}, headers=issuer.headers())
        assert response.status_code == 201, response.get_data(as_text=True)
        return dict(response.get_json())

    return create


def run_to_the_end(client: FlaskClient, issuer: TestIssuer, job: dict[str, Any]) -> dict[str, Any]:
    """Follow a job until it is no longer running."""
    deadline = time.monotonic() + 20
    while job["status"] == "running" and time.monotonic() < deadline:
        time.sleep(0.05)
        job = client.get(f"/search/reindex/{job['id']}", headers=issuer.headers()).get_json()
    return job


@pytest.mark.usefixtures("empty_index")
def test_a_reindex_brings_every_live_customer_in_and_reports_its_counts(
    reindex_app: Flask,
    issuer: TestIssuer,
    customers: Callable[..., dict[str, Any]],
    customer_service: tuple[str, FlaskClient],
) -> None:
    listed = [customers(f"Listed {n}", company="Reindex Co") for n in range(3)]
    deleted = customers("Deleted Meanwhile")
    _, customer_client = customer_service
    customer_client.delete(f"/customers/{deleted['id']}", headers=issuer.headers())
    client = reindex_app.test_client()

    started = client.post("/search/reindex", headers=issuer.headers())
    job = run_to_the_end(client, issuer, started.get_json())
    found = client.get("/search", query_string={"q": "listed"}, headers=issuer.headers("viewer"))

    assert started.status_code == 202
    assert started.headers["Location"] == f"/search/reindex/{started.get_json()['id']}"
    assert job["status"] == "succeeded", job
    assert job["finished_at"] is not None
    assert job["seen"] >= 3
    assert job["upserted"] == job["seen"]
    assert {hit["id"] for hit in found.get_json()["items"]} == {c["id"] for c in listed}


@pytest.mark.usefixtures("empty_index")
def test_a_reindex_removes_the_missing_and_never_undoes_an_event(
    search_store: SearchStore,
    indexer: EventIndexer,
    issuer: TestIssuer,
    customers: Callable[..., dict[str, Any]],
    customer_service: tuple[str, FlaskClient],
    query: Query,
) -> None:
    url, _ = customer_service
    live = customers("Still Here")
    # The index knows a newer version of this one than the listing will show.
    newer = CustomerHistory({"id": live["id"], "name": "Still Here"})
    newer.update(name="Renamed By Event")
    newer.update(city="Leeds")
    indexer.apply(newer.events)
    # Deleted in the source while its delete event was lost: only the reindex can tell.
    lost = CustomerHistory({"name": "Lost Delete"})
    indexer.apply(lost.events)
    runs: list[ReindexRun] = []
    service = ReindexService(search_store, runs.append)

    job = service.start(issuer.token())
    # Created after the job started, and not in the listing (its customer is elsewhere).
    arrived = CustomerHistory({"name": "Arrived Meanwhile"})
    indexer.apply(arrived.events)
    Reindexer(search_store, CustomerSource(StaticDiscovery({"customer_service": [url]}))).run(
        runs[0]
    )

    finished = service.job(job.id)
    rows = {
        row["name"]: row["deleted"]
        for row in query("SELECT name, deleted FROM documents WHERE customer_id = ANY(%s::uuid[])",
                         ([live["id"], lost.id, arrived.id],))
    }  # fmt: skip
    assert finished.status == "succeeded"
    assert rows == {"Renamed By Event": False, "Lost Delete": True, "Arrived Meanwhile": False}
    assert finished.removed >= 1


@pytest.mark.usefixtures("empty_index")
def test_one_job_runs_at_a_time_and_an_abandoned_one_gives_way(
    search_store: SearchStore, issuer: TestIssuer, query: Query
) -> None:
    service = ReindexService(search_store, lambda run: None)  # launched, never runs
    first = service.start(issuer.token())

    with pytest.raises(ReindexAlreadyRunning, match=str(first.id)):
        service.start(issuer.token())
    query("UPDATE reindex_jobs SET heartbeat_at = now() - interval '1 hour'")
    abandoned = service.job(first.id)
    second = service.start(issuer.token())

    assert abandoned.status == "failed"
    assert "abandoned" in str(abandoned.error)
    assert second.status == "running"


@pytest.mark.usefixtures("empty_index")
def test_a_job_fails_with_the_reason_when_the_customer_service_refuses_or_is_away(
    reindex_app: Flask, app: Flask, issuer: TestIssuer
) -> None:
    # A token that may reindex but not read customers: the customer service says 403.
    token = issuer.headers("admin", scope="search:reindex")
    refused = reindex_app.test_client().post("/search/reindex", headers=token)
    refused_job = run_to_the_end(reindex_app.test_client(), issuer, refused.get_json())
    # The session app's discovery points at a port nothing listens on.
    away = app.test_client().post("/search/reindex", headers=issuer.headers())
    away_job = run_to_the_end(app.test_client(), issuer, away.get_json())

    assert refused_job["status"] == "failed"
    assert "403" in refused_job["error"]
    assert away_job["status"] == "failed"
    assert "cannot reach the customer service" in away_job["error"]
