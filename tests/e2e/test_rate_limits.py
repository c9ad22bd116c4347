"""Rate limits counted in Redis, exact across several gateway workers."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from tests.e2e.conftest import Stack

API_LIMIT = 30
AUTH_LIMIT = 5


@pytest.fixture(scope="module")
def limited(start_stack) -> Iterator[Stack]:
    """A stack whose gateway (3 workers) allows few requests; stopped after the module."""
    stack = start_stack(
        {"RATE_LIMIT_API": f"{API_LIMIT}/minute", "RATE_LIMIT_AUTH": f"{AUTH_LIMIT}/minute"},
        gateway_workers=3,
        only=("customer",),
    )
    yield stack
    stack.stop()


def test_concurrent_clients_get_exactly_the_limit_across_workers(limited: Stack) -> None:
    # Logging in the three users cost nothing against the API limit; every request
    # below is the viewer's, from 16 threads over fresh connections (so several workers).
    url = f"{limited.api}/customers"
    headers = limited.headers("viewer")

    def call(_: int) -> requests.Response:
        return requests.get(url, headers=headers, timeout=10)

    with ThreadPoolExecutor(max_workers=16) as pool:
        responses = list(pool.map(call, range(API_LIMIT + 20)))
    statuses = [response.status_code for response in responses]
    assert statuses.count(200) == API_LIMIT
    assert statuses.count(429) == 20

    refused = next(response for response in responses if response.status_code == 429)
    assert refused.headers["Content-Type"] == "application/problem+json"
    assert int(refused.headers["Retry-After"]) >= 1
    assert refused.headers["RateLimit-Limit"] == str(API_LIMIT)
    assert refused.headers["RateLimit-Remaining"] == "0"
    assert int(refused.headers["RateLimit-Reset"]) >= 1
    allowed = next(response for response in responses if response.status_code == 200)
    assert allowed.headers["RateLimit-Limit"] == str(API_LIMIT)

    # Another principal has its own budget.
    other = requests.get(url, headers=limited.headers("agent"), timeout=10)
    assert other.status_code == 200


def test_login_is_limited_per_client_address(limited: Stack) -> None:
    # The fixture's three logins came from this address too.
    username, _ = limited.users["viewer"]
    statuses = [
        requests.post(
            f"{limited.api}/auth/token",
            json={"username": username, "password": "wrong-password"},
            timeout=10,
        ).status_code
        for _ in range(AUTH_LIMIT)
    ]
    assert statuses == [401] * (AUTH_LIMIT - 3) + [429] * 3
    refused = requests.post(
        f"{limited.api}/auth/token", json={"username": username, "password": "x"}, timeout=10
    )
    assert refused.status_code == 429
    assert "Retry-After" in refused.headers
