"""The gateway as it runs in production: gunicorn, several workers, real HTTP."""

from __future__ import annotations

import threading
import uuid

import jwt
import psycopg2
import pytest
import requests

from gateway.auth.components import build_auth, open_database
from gateway.settings import Settings
from shared.auth import JwksKeySource, TokenVerifier
from tests.gateway.conftest import FAST_HASHING, REDIS_URL

pytestmark = pytest.mark.e2e

FAST_HASHING_ENV = {key.upper(): str(value) for key, value in FAST_HASHING.items()}


def isolated_env(database_url: str) -> dict[str, str]:
    """Environment of a gateway process on ``database_url`` with rate limits of its own."""
    return {
        "GATEWAY_DATABASE_URL": database_url,
        "REDIS_URL": REDIS_URL,
        "RATE_LIMIT_KEY_PREFIX": f"clientele-test-{uuid.uuid4().hex[:12]}",
        **FAST_HASHING_ENV,
    }


@pytest.fixture
def fresh_database(make_database):
    """A database no test has touched, with one user and no signing key yet."""
    url = make_database("gateway")
    settings = Settings(GATEWAY_DATABASE_URL=url, **FAST_HASHING)
    database = open_database(settings)
    build_auth(settings, database).accounts.create_user(
        "operator", "a-long-enough-password", "agent"
    )
    database.close()
    return url


def test_workers_starting_together_share_one_signing_key_and_report_ready(
    service_for_test, fresh_database
):
    gateway = service_for_test(
        "gateway",
        isolated_env(fresh_database),
        workers=2,
    )
    barrier = threading.Barrier(8)
    kids: list[str] = []
    failures: list[str] = []

    def first_request(index: int) -> None:
        barrier.wait()
        if index % 2:
            response = requests.get(f"{gateway.url}/.well-known/jwks.json", timeout=10)
            found = [key["kid"] for key in response.json()["keys"]] if response.ok else []
        else:
            response = requests.post(
                f"{gateway.url}/api/v1/auth/token",
                json={"username": "operator", "password": "a-long-enough-password"},
                timeout=10,
            )
            found = [jwt.get_unverified_header(response.json()["access_token"])["kid"]]
        if response.status_code != 200:
            failures.append(f"{response.status_code} {response.text}")
        kids.extend(found)

    threads = [threading.Thread(target=first_request, args=(index,)) for index in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert failures == [], gateway.output()
    with psycopg2.connect(fresh_database) as conn, conn.cursor() as cursor:
        cursor.execute("SELECT kid FROM signing_keys")
        rows = cursor.fetchall()
    conn.close()
    assert len(rows) == 1
    assert set(kids) == {rows[0][0]}
    assert len(kids) == 8

    ready = requests.get(f"{gateway.url}/readyz", timeout=10)
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"postgres": "ok", "redis": "ok"}


def test_a_service_verifies_gateway_tokens_through_the_published_jwks(
    service_for_test, fresh_database
):
    gateway = service_for_test(
        "gateway",
        isolated_env(fresh_database),
        workers=1,
    )
    token = requests.post(
        f"{gateway.url}/api/v1/auth/token",
        json={"username": "operator", "password": "a-long-enough-password"},
        timeout=10,
    ).json()["access_token"]
    verifier = TokenVerifier(
        keys=JwksKeySource(f"{gateway.url}/.well-known/jwks.json"),
        issuer="clientele-gateway",
        audience="clientele",
    )

    principal = verifier.verify(token)

    assert principal.name == "operator"
    assert principal.scopes == {
        "customers:read",
        "customers:write",
        "search:read",
        "analytics:read",
        "nlp:read",
    }
