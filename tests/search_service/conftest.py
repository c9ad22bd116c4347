"""Fixtures for the search service: its own database, emptied per test, an app and tokens."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from search_service.app import create_app
from search_service.events import EventIndexer
from search_service.settings import Settings
from search_service.store import SearchStore
from shared.database import Database
from shared.discovery import StaticDiscovery
from tests.search_service import INDEX_TABLES
from tests.search_service.customer_events import CustomerHistory
from tests.support.databases import Query
from tests.support.service_fixtures import serving, sql_on
from tests.support.tokens import TestIssuer


@pytest.fixture(scope="session")
def search_database(make_database: Callable[[str], str]) -> str:
    """URL of a migrated database used by this package's tests (one per xdist worker)."""
    return make_database("search_service")


@pytest.fixture(scope="session")
def customer_service_urls() -> list[str]:
    """Where the app's discovery finds the customer service; a test may point it elsewhere."""
    return ["http://127.0.0.1:9"]


@pytest.fixture(scope="session")
def app(
    search_database: str, issuer: TestIssuer, customer_service_urls: list[str]
) -> Iterator[Flask]:
    """The search API on the test database, trusting ``issuer``'s key."""
    app = create_app(
        Settings(SEARCH_DATABASE_URL=search_database),
        key_source=issuer.key_source,
        discovery=StaticDiscovery({"customer_service": customer_service_urls}),
    )
    with serving(app):
        yield app


@pytest.fixture(scope="session")
def search_store(search_database: str) -> Iterator[SearchStore]:
    """The store the consumer would use, on the test database."""
    database = Database(search_database, pool_size=2)
    yield SearchStore(database)
    database.close()


@pytest.fixture
def query(search_database: str) -> Iterator[Query]:
    """Run SQL against the test database directly (autocommit); the rows as dicts."""
    with sql_on(search_database) as run:
        yield run


@pytest.fixture
def empty_index(query: Query) -> None:
    """Start from an empty index: totals and facets count every document."""
    query(f"TRUNCATE {INDEX_TABLES}, reindex_jobs, embeddings")


@pytest.fixture
def indexer(search_store: SearchStore, empty_index: None) -> EventIndexer:
    """Applies events to the (emptied) test index."""
    return EventIndexer(search_store)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    """A Flask test client for the app."""
    return app.test_client()


@pytest.fixture
def index_customers(indexer: EventIndexer) -> Callable[..., list[CustomerHistory]]:
    """Index customers (each a dict of fields) through their created events."""

    def index(*customers: dict[str, Any]) -> list[CustomerHistory]:
        histories = [CustomerHistory(dict(fields)) for fields in customers]
        indexer.apply([history.events[0] for history in histories])
        return histories

    return index


@pytest.fixture
def search(client: FlaskClient, issuer: TestIssuer) -> Callable[..., Any]:
    """``GET /search`` as a viewer; asserts 200 and returns the page."""

    def run(**params: Any) -> dict[str, Any]:
        response = client.get("/search", query_string=params, headers=issuer.headers("viewer"))
        assert response.status_code == 200, response.get_data(as_text=True)
        page: dict[str, Any] = response.get_json()
        return page

    return run
