"""One real model per test process, shared by the NLP tests (loading it takes seconds)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator

import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient

from nlp_service.app import create_app, engine_options
from nlp_service.engine import Engine
from nlp_service.settings import Settings
from tests.support import broker
from tests.support.service_fixtures import serving
from tests.support.tokens import TestIssuer

LOCAL_REDIS = "redis://127.0.0.1:6379/0"


@pytest.fixture(scope="session")
def engine() -> Engine:
    """The packaged all-MiniLM-L6-v2 with the shipped sentiment head, loaded and warmed up.

    One torch thread: three xdist workers and the stacks' NLP processes share two cores,
    and torch's spinning threads would take the CPU the other tests wait on."""
    return Engine(engine_options(Settings(NLP_TORCH_THREADS=1))).load()


@pytest.fixture(scope="session")
def nlp_database(make_database: Callable[[str], str]) -> str:
    """URL of a migrated NLP database used by this package's tests only."""
    return make_database("nlp_service")


@pytest.fixture(scope="session")
def cache_namespace() -> Iterator[str]:
    """A Redis key prefix of this test process's own (deleted at the end)."""
    namespace = f"clientele-test-nlp-{uuid.uuid4().hex[:10]}"
    yield namespace
    client = redis.Redis.from_url(LOCAL_REDIS)
    keys = list(client.scan_iter(f"{namespace}:*"))
    if keys:
        client.delete(*keys)


@pytest.fixture(scope="session")
def jobs_queue() -> Iterator[str]:
    """A batch jobs queue of this test process's own (deleted at the end)."""
    with broker.own_queue("nlp-jobs") as name:
        yield name


@pytest.fixture(scope="session")
def app(
    engine: Engine, nlp_database: str, issuer: TestIssuer, cache_namespace: str, jobs_queue: str
) -> Iterator[Flask]:
    """The NLP API on the shared engine, trusting ``issuer``'s key; jobs go to ``jobs_queue``."""
    settings = Settings(
        NLP_DATABASE_URL=nlp_database, database_pool_size=2, nlp_jobs_queue=jobs_queue
    )
    app = create_app(
        settings, key_source=issuer.key_source, engine=engine, cache_namespace=cache_namespace
    )
    with serving(app):
        yield app


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    """A Flask test client for the app."""
    return app.test_client()
