"""The service as operators run it: gunicorn, environment variables, health and metrics."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest
import requests

from tests.support.databases import POSTGRES
from tests.support.processes import ServiceProcess, free_port
from tests.support.tokens import TestIssuer

PROBLEM_JSON = "application/problem+json"
StartService = Callable[..., ServiceProcess]


def environment(database_url: str) -> dict[str, str]:
    """Settings for a process; no gateway runs, so the JWKS URL points at a closed port."""
    return {
        "CUSTOMER_DATABASE_URL": database_url,
        "JWT_JWKS_URL": f"http://127.0.0.1:{free_port()}/.well-known/jwks.json",
        "DATABASE_CONNECT_TIMEOUT_SECONDS": "1",
        "LOG_LEVEL": "WARNING",
    }


@pytest.fixture(scope="module")
def service(start_service: StartService, customer_database: str) -> Iterator[ServiceProcess]:
    """The service under gunicorn on the test database (one worker, so metrics add up)."""
    service = start_service("customer_service", environment(customer_database), workers=1)
    yield service
    service.stop()


def test_a_running_service_guards_its_api_and_reports_its_health(service: ServiceProcess) -> None:

    anonymous = requests.get(f"{service.url}/customers", timeout=5)
    healthz = requests.get(f"{service.url}/healthz", timeout=5)
    readyz = requests.get(f"{service.url}/readyz", timeout=5)
    metrics = requests.get(service.metrics_url, timeout=5)
    not_on_the_api = requests.get(f"{service.url}/metrics", timeout=5)

    assert anonymous.status_code == 401
    assert anonymous.headers["Content-Type"] == PROBLEM_JSON
    assert anonymous.json()["status"] == 401
    assert anonymous.headers["X-Request-ID"]
    assert healthz.status_code == 200
    assert healthz.json() == {"status": "ok", "service": "customer_service"}
    # No gateway runs here: without its signing keys the service is alive but not ready.
    assert readyz.status_code == 503
    assert readyz.headers["Content-Type"] == PROBLEM_JSON
    assert readyz.json()["checks"]["postgres"] == "ok"
    assert readyz.json()["checks"]["jwks"].startswith("unreachable")
    assert "jwks" in readyz.json()["detail"]
    assert metrics.status_code == 200
    assert metrics.headers["Content-Type"].startswith("text/plain")
    assert 'route="/customers",service="customer_service",status="401"' in metrics.text
    # The API's own listener has no /metrics: a token is asked for, like anywhere else.
    assert not_on_the_api.status_code == 401


def test_a_token_is_refused_with_503_while_the_signing_keys_cannot_be_fetched(
    service: ServiceProcess,
) -> None:
    response = requests.get(f"{service.url}/customers", headers=TestIssuer().headers(), timeout=10)

    assert response.status_code == 503
    assert response.headers["Content-Type"] == PROBLEM_JSON


@pytest.mark.parametrize(
    "database_url",
    [
        f"{POSTGRES}/clientele_no_such_database",
        f"postgresql://postgres@127.0.0.1:{free_port()}/clientele_customers",
    ],
    ids=["missing-database", "nothing-listening"],
)
def test_readiness_names_postgres_when_it_cannot_be_reached(
    service_for_test: StartService, database_url: str
) -> None:
    service = service_for_test("customer_service", environment(database_url), workers=1)

    healthz = requests.get(f"{service.url}/healthz", timeout=5)
    readyz = requests.get(f"{service.url}/readyz", timeout=10)

    assert healthz.status_code == 200
    assert readyz.status_code == 503
    assert readyz.headers["Content-Type"] == PROBLEM_JSON
    assert "postgres" in readyz.json()["detail"]
    assert readyz.json()["checks"]["postgres"].startswith("unreachable")


def test_a_stopping_service_closes_its_idle_kept_alive_connections_at_once(
    start_service: StartService, customer_database: str
) -> None:
    service = start_service("customer_service", environment(customer_database), workers=1)
    client = requests.Session()
    # The connection stays open after the answer, idle, as a client's pool keeps it.
    assert client.get(f"{service.url}/healthz", timeout=5).status_code == 200

    started = time.monotonic()
    service.stop()
    stopped_in = time.monotonic() - started

    # gunicorn waits up to its graceful timeout (10 s) for connections still open; one
    # waiting for its next request has nothing to finish and is closed at once.
    assert service.process.returncode == 0
    assert stopped_in < 5.0, f"stopping took {stopped_in:.1f} s"
    # ... by the worker ending its wait, not by the worker dying of its stop.
    output = service.output()
    assert "Traceback" not in output, output
    assert "exited with code" not in output, output
    client.close()
