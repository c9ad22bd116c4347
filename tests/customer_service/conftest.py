"""Fixtures for the customer API: its own database, an app on it, tokens by role."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient

from customer_service.app import create_app
from customer_service.settings import Settings
from tests.customer_service.api_client import CustomerApi
from tests.support.databases import Query
from tests.support.service_fixtures import serving, sql_on
from tests.support.tokens import TestIssuer


@pytest.fixture(scope="session")
def customer_database(make_database: Callable[[str], str]) -> str:
    """URL of a migrated database used by this package's tests only."""
    return make_database("customer_service")


@pytest.fixture(scope="session")
def settings(customer_database: str) -> Settings:
    """Settings pointing the app at the test database."""
    return Settings(CUSTOMER_DATABASE_URL=customer_database, database_pool_size=10)


@pytest.fixture(scope="session")
def app(settings: Settings, issuer: TestIssuer) -> Iterator[Flask]:
    """The customer API, trusting ``issuer``'s key."""
    with serving(create_app(settings, key_source=issuer.key_source)) as app:
        yield app


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    """A Flask test client for the app."""
    return app.test_client()


@pytest.fixture
def api(client: FlaskClient, issuer: TestIssuer) -> CustomerApi:
    """The test client with tokens by role and shortcuts for common calls."""
    return CustomerApi(client, issuer)


@pytest.fixture
def query(customer_database: str) -> Iterator[Query]:
    """Run SQL against the test database directly (autocommit); the rows as dicts."""
    with sql_on(customer_database) as run:
        yield run
