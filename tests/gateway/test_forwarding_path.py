"""The forwarding path answers routed calls exactly as the Flask app's own handling does.

Each call is made twice against one gateway: through the app as served
(routed calls take :class:`~gateway.edge.forwarding.ForwardingPath`) and
through the Flask app's own handling behind it (``ForwardingPath.fallback``),
which was the only path before. Status, body and headers must match, but for
values that differ between any two calls (date, request id, the remaining
count, new ids). The upstream is a real customer service process, its tokens
checked against the gateway's keys served over real HTTP; limits are in the
real Redis.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask
from werkzeug.serving import make_server
from werkzeug.test import Client, TestResponse

from gateway.edge.forwarding import ForwardingPath
from tests.support.processes import ServiceProcess, free_port

#: Headers whose values differ from one call to the next whichever path answers.
VOLATILE = {"date", "x-request-id", "ratelimit-remaining", "ratelimit-reset", "etag", "location"}


def _shape(response: TestResponse) -> tuple[int, list[tuple[str, str]], bytes]:
    headers = sorted(
        (name.lower(), "*" if name.lower() in VOLATILE else value)
        for name, value in response.headers.items()
    )
    return response.status_code, headers, response.get_data()


def _both(app: Flask, method: str, path: str, **options: Any) -> tuple[TestResponse, TestResponse]:
    """The same call through the forwarding path, then through the Flask app's own handling."""
    path_served = app.wsgi_app
    assert isinstance(path_served, ForwardingPath)
    fast = Client(app).open(path, method=method, **options)
    flask = Client(path_served.fallback).open(path, method=method, **options)
    return fast, flask


@pytest.fixture
def gateway_and_service(
    make_app: Callable[..., Flask],
    make_database: Callable[[str], str],
    start_service: Callable[..., ServiceProcess],
) -> Iterator[Callable[..., Flask]]:
    """Factory: a gateway app (settings overrides) in front of a customer service process."""
    servers: list[Any] = []

    def start(**overrides: Any) -> Flask:
        service_port = free_port()
        app = make_app(
            discovery_static=f"customer_service=http://127.0.0.1:{service_port}", **overrides
        )
        server = make_server("127.0.0.1", free_port(), app, threaded=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        service = start_service(
            "customer_service",
            {
                "CUSTOMER_DATABASE_URL": make_database("customer_service"),
                "JWT_JWKS_URL": f"http://127.0.0.1:{server.server_port}/.well-known/jwks.json",
            },
            port=service_port,
            workers=1,
        )
        service.wait_for("/readyz", timeout=30)
        return app

    yield start
    for server in servers:
        server.shutdown()


def test_routed_calls_are_answered_alike_by_both_paths(gateway_and_service, auth_headers_for):
    app = gateway_and_service(max_body_bytes=4096)
    admin = auth_headers_for(app)
    created = Client(app).post(
        "/api/v1/customers",
        json={"name": "Ada", "email": f"ada-{uuid.uuid4().hex[:8]}@example.com"},
        headers=admin,
    )
    assert created.status_code == 201
    customer = created.get_json()["id"]
    calls: list[tuple[str, str, dict[str, Any]]] = [
        ("GET", f"/api/v1/customers/{customer}", {}),
        ("GET", "/api/v1/customers?limit=1", {}),
        ("GET", f"/api/v1/customers/{uuid.uuid4()}", {}),  # the service's own 404
        ("GET", f"/api/v1/customers/{customer}/nowhere", {}),  # no such operation: 404
        ("POST", f"/api/v1/customers/{customer}", {"json": {}}),  # 405
        ("POST", "/api/v1/customers", {"data": b"x" * 5000}),  # over the body limit: 413
        ("POST", "/api/v1/customers", {"json": {"name": ""}}),  # the service's 422
        ("GET", "/api/v1/customers/export", {}),  # streamed CSV
        ("GET", f"/api/v1/customers/{customer}", {"headers": {"X-Request-ID": "trace-1"}}),
    ]
    for method, path, options in calls:
        headers = {**admin, **options.pop("headers", {})}
        fast, flask = _both(app, method, path, headers=headers, **options)
        assert _shape(fast) == _shape(flask), (method, path)
        assert fast.headers["X-Request-ID"]
        assert fast.headers["Cache-Control"] == "no-store"
        assert fast.headers["RateLimit-Limit"]

    traced, _ = _both(
        app, "GET", f"/api/v1/customers/{customer}", headers={**admin, "X-Request-ID": "trace-1"}
    )
    assert traced.headers["X-Request-ID"] == "trace-1"
    bad_token = {"Authorization": "Bearer not-a-token"}
    fast, flask = _both(app, "GET", f"/api/v1/customers/{customer}", headers=bad_token)
    assert fast.status_code == 401
    assert _shape(fast) == _shape(flask)


def test_a_created_resource_and_a_deletion_keep_their_shape(gateway_and_service, auth_headers_for):
    app = gateway_and_service()
    admin = auth_headers_for(app)
    answers = []
    for handling in (app, app.wsgi_app.fallback):
        created = Client(handling).post(
            "/api/v1/customers",
            json={"name": "Ada", "email": f"ada-{uuid.uuid4().hex[:8]}@example.com"},
            headers={**admin, "Idempotency-Key": uuid.uuid4().hex},
        )
        assert created.status_code == 201
        assert created.headers["Location"].startswith("/api/v1/customers/")
        deleted = Client(handling).delete(created.headers["Location"], headers=admin)
        answers.append((_shape(created)[:2], _shape(deleted)))
    assert answers[0] == answers[1]
    assert answers[0][1][0] == 204


def test_a_role_without_the_scope_is_refused_alike(gateway_and_service, make_user):
    app = gateway_and_service()
    viewer = make_user("viewer")
    token = Client(app).post(
        "/api/v1/auth/token", json={"username": viewer.username, "password": viewer.password}
    )
    headers = {"Authorization": f"Bearer {token.get_json()['access_token']}"}

    fast, flask = _both(app, "DELETE", f"/api/v1/customers/{uuid.uuid4()}", headers=headers)

    assert fast.status_code == 403
    assert _shape(fast) == _shape(flask)


def test_the_rate_limit_refuses_alike(make_app, auth_headers_for):
    # Nothing listens upstream: a call that got past the limit would be a 503.
    app = make_app(
        rate_limit_api="2/minute",
        discovery_static=f"customer_service=http://127.0.0.1:{free_port()}",
    )
    headers = auth_headers_for(app)
    path = f"/api/v1/customers/{uuid.uuid4()}"
    Client(app).get(path, headers=headers)
    Client(app).get(path, headers=headers)

    fast, flask = _both(app, "GET", path, headers=headers)

    assert fast.status_code == 429
    assert int(fast.headers["Retry-After"]) >= 1
    assert fast.headers["RateLimit-Remaining"] == "0"
    assert _shape(fast) == _shape(flask)


def test_open_circuits_answer_503_with_retry_after_alike(make_app, auth_headers_for):
    app = make_app(
        discovery_static=f"customer_service=http://127.0.0.1:{free_port()}",
        upstream_breaker_fail_max=1,
        upstream_breaker_reset_seconds=30,
    )
    headers = auth_headers_for(app)
    path = f"/api/v1/customers/{uuid.uuid4()}"
    refused = Client(app).get(path, headers=headers)  # nothing listens: the circuit opens
    assert refused.status_code == 503

    fast, flask = _both(app, "GET", path, headers=headers)

    assert fast.status_code == 503
    assert 1 <= int(fast.headers["Retry-After"]) <= 30
    assert fast.headers["Content-Type"] == "application/problem+json"
    assert _shape(fast) == _shape(flask)


def test_calls_the_forwarding_path_leaves_to_flask_are_still_answered(make_app, auth_headers_for):
    app = make_app(discovery_static=f"customer_service=http://127.0.0.1:{free_port()}")
    client = Client(app)

    missing = client.get(f"/api/v1/customers/{uuid.uuid4()}")
    trailing = client.get("/api/v1/customers/", headers=auth_headers_for(app))
    head = client.head(f"/api/v1/customers/{uuid.uuid4()}")

    assert missing.status_code == 401
    assert missing.headers["Content-Type"] == "application/problem+json"
    assert trailing.status_code == 404
    assert head.status_code == 401
