"""Liveness and readiness, with real PostgreSQL and Redis as the dependencies."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient
from prometheus_client import REGISTRY
from redis.backoff import NoBackoff
from redis.retry import Retry

from shared.database import Database
from shared.errors import PROBLEM_JSON
from shared.web.health import HealthCheck
from tests.support.databases import POSTGRES
from tests.support.processes import free_port


@pytest.fixture
def live_database() -> Iterator[Database]:
    database = Database(f"{POSTGRES}/postgres", pool_size=1)
    yield database
    database.close()


@pytest.fixture
def dead_database() -> Iterator[Database]:
    database = Database(f"postgresql://postgres@127.0.0.1:{free_port()}/postgres", pool_size=1)
    yield database
    database.close()


@pytest.fixture
def live_redis() -> Iterator[redis.Redis]:
    client = redis.Redis(host="127.0.0.1", port=6379, socket_timeout=2, socket_connect_timeout=2)
    yield client
    client.close()


@pytest.fixture
def dead_redis() -> Iterator[redis.Redis]:
    # No retries: a refused connection should be reported at once, not after backoff.
    client = redis.Redis(
        host="127.0.0.1",
        port=free_port(),
        socket_timeout=1,
        socket_connect_timeout=1,
        retry=Retry(NoBackoff(), 0),
    )
    yield client
    client.close()


@pytest.fixture
def app_with(make_app: Callable[..., Flask]) -> Callable[[dict[str, HealthCheck]], Flask]:
    return lambda checks: make_app(readiness=checks)


def test_healthz_answers_while_dependencies_are_down(app_with, dead_database, service_name):
    app = app_with({"database": dead_database.ping})

    response = app.test_client().get("/healthz")

    assert response.status_code == 200
    assert response.get_json() == {"status": "ok", "service": service_name}


def test_readyz_is_200_when_every_dependency_answers(
    app_with, live_database, live_redis, service_name
):
    app = app_with({"database": live_database.ping, "redis": live_redis.ping})

    response = app.test_client().get("/readyz")

    assert response.status_code == 200
    assert response.get_json() == {
        "status": "ready",
        "service": service_name,
        "checks": {"database": "ok", "redis": "ok"},
    }


def test_readyz_with_no_dependencies_is_ready(app_with):
    assert app_with({}).test_client().get("/readyz").status_code == 200


def test_readyz_names_a_dead_database(app_with, dead_database, live_redis, service_name):
    app = app_with({"database": dead_database.ping, "redis": live_redis.ping})

    response = app.test_client().get("/readyz")

    assert response.status_code == 503
    assert response.mimetype == PROBLEM_JSON
    assert response.headers["Retry-After"] == "5"
    body = response.get_json(force=True)
    assert body["type"] == "urn:clientele:problem:not-ready"
    assert body["status"] == 503
    assert body["detail"] == f"{service_name} is not ready: database unreachable"
    assert body["checks"]["redis"] == "ok"
    assert body["checks"]["database"].startswith("unreachable: ServiceUnavailable")


def test_readyz_names_a_dead_redis(app_with, live_database, dead_redis, service_name):
    app = app_with({"database": live_database.ping, "redis": dead_redis.ping})

    response = app.test_client().get("/readyz")

    assert response.status_code == 503
    body = response.get_json(force=True)
    assert body["detail"] == f"{service_name} is not ready: redis unreachable"
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["redis"].startswith("unreachable: ConnectionError")


def test_readyz_names_every_dead_dependency(app_with, dead_database, dead_redis, service_name):
    app = app_with({"redis": dead_redis.ping, "database": dead_database.ping})

    body = app.test_client().get("/readyz").get_json(force=True)

    assert body["detail"] == f"{service_name} is not ready: database, redis unreachable"
    assert all(result.startswith("unreachable") for result in body["checks"].values())


def test_readyz_recovers_when_the_dependency_comes_back(app_with, live_database):
    healthy = {"value": False}

    def flaky() -> None:
        if not healthy["value"]:
            raise ConnectionRefusedError("still starting")

    app = app_with({"database": live_database.ping, "search": flaky})
    client = app.test_client()

    assert client.get("/readyz").status_code == 503
    assert shown_ready(client) == 0
    healthy["value"] = True
    assert client.get("/readyz").status_code == 200
    assert shown_ready(client) == 1


def shown_ready(client: FlaskClient) -> float | None:
    """What the ``service_ready`` metric says of the app behind ``client``."""
    service = client.get("/healthz").get_json()["service"]
    return REGISTRY.get_sample_value("service_ready", {"service": service})
