"""When Redis is unreachable the gateway keeps serving, and says it is not ready."""

from __future__ import annotations

import pytest
from flask import Flask

from shared.web.metrics import metrics_payload
from tests.support.processes import free_port


@pytest.fixture
def app(make_app) -> Flask:
    """The gateway with its Redis (rate limits, readiness) on a port nothing listens on."""
    return make_app(redis_url=f"redis://127.0.0.1:{free_port()}/0", rate_limit_auth="1/minute")


def _rate_limit_errors() -> float:
    metrics = metrics_payload().decode()
    prefix = "gateway_rate_limit_errors_total "
    return sum(float(line.split()[1]) for line in metrics.splitlines() if line.startswith(prefix))


def test_requests_pass_without_rate_limit_headers_and_are_counted(client, login, auth_headers):
    before = _rate_limit_errors()

    # With Redis up, the second login of a minute would be refused (1/minute).
    assert login("admin")["access_token"]
    headers = auth_headers("admin")
    users = client.get("/api/v1/auth/users", headers=headers)

    assert users.status_code == 200
    assert "RateLimit-Limit" not in users.headers
    # Two logins (each: its address limit and its account's failed-login check)
    # and one admin call went through uncounted.
    assert _rate_limit_errors() - before == 2 * 2 + 1


def test_readiness_names_redis(client):
    response = client.get("/readyz")

    assert response.status_code == 503
    body = response.get_json(force=True)
    assert body["checks"]["redis"].startswith("unreachable")
    assert body["checks"]["postgres"] == "ok"
    assert "redis" in body["detail"]
