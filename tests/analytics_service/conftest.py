"""Fixtures for the analytics service: its own database, the app on it, tokens, rollups."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack
from datetime import UTC, datetime
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from analytics_service.app import create_app
from analytics_service.events import batch_of
from analytics_service.rollups import Bucket, DailyKey
from analytics_service.service import AnalyticsService
from analytics_service.settings import Settings
from analytics_service.store import AnalyticsStore
from shared.database import Database
from shared.events.envelope import Event
from tests.analytics_service.customer_source import CustomerServiceThread
from tests.support.clock import MovableClock
from tests.support.databases import Query
from tests.support.service_fixtures import serving, sql_on
from tests.support.tokens import TestIssuer

#: "Now" for the apps these tests build: the histories (history.START) end before it.
NOW = datetime(2026, 3, 20, 12, 0, tzinfo=UTC)
TABLES = ("customers", "notes", "churns", "dimension_counts", "daily_counts", "note_sentiments")


@pytest.fixture(scope="session")
def analytics_database(make_database: Callable[[str], str]) -> str:
    """URL of a migrated database used by this package's tests only."""
    return make_database("analytics_service")


@pytest.fixture(scope="session")
def database(analytics_database: str) -> Iterator[Database]:
    """A connection pool on the test database, for applying events directly."""
    pool = Database(analytics_database, pool_size=2)
    yield pool
    pool.close()


@pytest.fixture
def clock() -> MovableClock:
    """The clock of the apps built here, at ``NOW``."""
    return MovableClock(NOW)


@pytest.fixture
def make_app(
    analytics_database: str, issuer: TestIssuer, clock: MovableClock
) -> Iterator[Callable[..., Flask]]:
    """Factory: the analytics app on the test database, with settings overridden."""
    with ExitStack() as built:

        def make(**overrides: Any) -> Flask:
            settings = Settings(ANALYTICS_DATABASE_URL=analytics_database, **overrides)
            app = create_app(settings, key_source=issuer.key_source, clock=clock)
            return built.enter_context(serving(app))

        yield make


@pytest.fixture
def app(make_app: Callable[..., Flask]) -> Flask:
    """The analytics app with its default settings."""
    return make_app()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    """A Flask test client for the app."""
    return app.test_client()


@pytest.fixture
def query(analytics_database: str) -> Iterator[Query]:
    """Run SQL against the test database directly (autocommit); the rows as dicts."""
    with sql_on(analytics_database) as run:
        yield run


@pytest.fixture
def analytics(database: Database, query: Query) -> AnalyticsService:
    """The service on emptied tables: every count a test sees is its own."""
    query(f"TRUNCATE {', '.join(TABLES)}")
    return AnalyticsService(AnalyticsStore(database), clock=lambda: NOW)


Deliver = Callable[[Sequence[Event]], int]


@pytest.fixture
def deliver(analytics: AnalyticsService) -> Deliver:
    """Apply events as the consumer does, as one batch; how many changed anything."""

    def apply(events: Sequence[Event]) -> int:
        batch = batch_of(events)
        return analytics.apply(batch.changes, batch.sentiments)

    return apply


class Rollups:
    """The rollup rows, and what a recount of the per-customer rows and logs says."""

    def __init__(self, database: Database) -> None:
        self._store = AnalyticsStore(database)

    def dimensions(self) -> dict[Bucket, int]:
        """Every live-customer bucket with its count."""
        with self._store.transaction() as tx:
            return tx.dimension_counts()

    def daily(self) -> dict[DailyKey, int]:
        """Every (metric, day) with its count."""
        with self._store.transaction() as tx:
            return tx.daily_counts()

    def recounted(self) -> tuple[dict[Bucket, int], dict[DailyKey, int]]:
        """Both rollups recounted from the per-customer rows, the churn log and the note log."""
        with self._store.transaction() as tx:
            return tx.recount_dimensions(), tx.recount_daily()

    def kept(self) -> tuple[dict[Bucket, int], dict[DailyKey, int]]:
        """Both rollups as kept."""
        return self.dimensions(), self.daily()


@pytest.fixture
def rollups(analytics: AnalyticsService, database: Database) -> Rollups:
    """The rollups of the emptied test database."""
    return Rollups(database)


@pytest.fixture(scope="session")
def customer_service(
    make_database: Callable[[str], str], issuer: TestIssuer
) -> Iterator[CustomerServiceThread]:
    """The real customer service over HTTP, trusting the same issuer."""
    service = CustomerServiceThread(make_database("customer_service"), issuer)
    yield service
    service.stop()


@pytest.fixture
def source(
    customer_service: CustomerServiceThread, analytics: AnalyticsService
) -> CustomerServiceThread:
    """The customer service emptied (as the analytics tables are) for this test."""
    customer_service.empty()
    return customer_service


@pytest.fixture
def reconciling_client(
    make_app: Callable[..., Flask], source: CustomerServiceThread
) -> FlaskClient:
    """A client of the analytics app whose discovery finds ``source``."""
    return make_app(DISCOVERY_STATIC=f"customer_service={source.url}").test_client()
