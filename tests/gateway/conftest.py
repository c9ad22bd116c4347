"""The gateway on a fresh database per test, with helpers to make users and log in."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg2
import psycopg2.extras
import pytest
from flask import Flask
from flask.testing import FlaskClient

from gateway.app import auth_components, create_app
from gateway.auth.components import AuthComponents
from gateway.auth.models import Clock, utc_now
from gateway.edge.routes import Route
from gateway.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
REDIS_URL = "redis://127.0.0.1:6379/0"
#: Argon2 at its cheapest: tests check behaviour, not hashing cost.
FAST_HASHING: dict[str, Any] = {
    "password_hash_time_cost": 1,
    "password_hash_memory_kib": 8,
    "password_hash_parallelism": 1,
}


@dataclass(frozen=True)
class Credentials:
    """A user the test created, with the password it chose."""

    id: str
    username: str
    password: str
    role: str


@pytest.fixture(scope="session")
def session_gateway_database(make_database: Callable[[str], str]) -> str:
    """A fresh, migrated gateway database for this test session (one per xdist worker)."""
    return make_database("gateway")


@pytest.fixture
def gateway_database(session_gateway_database: str) -> str:
    """The session's gateway database, emptied: every test starts from a clean slate.

    Emptying takes milliseconds where creating and migrating a database takes a
    few hundred; the schema is the same either way.
    """
    with psycopg2.connect(session_gateway_database) as conn, conn.cursor() as cursor:
        cursor.execute(
            "SELECT string_agg(quote_ident(tablename), ', ') FROM pg_tables"
            " WHERE schemaname = 'public' AND tablename <> 'alembic_version'"
        )
        row = cursor.fetchone()
        assert row is not None
        cursor.execute(f"TRUNCATE {row[0]} CASCADE")
    conn.close()
    return session_gateway_database


@pytest.fixture
def make_settings(gateway_database: str) -> Callable[..., Settings]:
    """Factory: settings for the test database; keys activate at once unless told otherwise."""

    def make(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "GATEWAY_DATABASE_URL": gateway_database,
            "redis_url": REDIS_URL,
            "jwt_key_activation_delay_seconds": 0,
            # Rate limits have their own tests (tests/e2e); here they must not get in the way.
            "rate_limit_auth": "100000/minute",
            "rate_limit_key_prefix": f"clientele-test-{uuid.uuid4().hex[:12]}",
            **FAST_HASHING,
            **overrides,
        }
        return Settings(**values)

    return make


@pytest.fixture
def make_app(make_settings: Callable[..., Settings]) -> Iterator[Callable[..., Flask]]:
    """Factory: a gateway app with settings overrides, a clock, routes; its pool closed after."""
    apps: list[Flask] = []

    def make(
        *, clock: Clock = utc_now, routes: tuple[Route, ...] | None = None, **overrides: Any
    ) -> Flask:
        app = create_app(make_settings(**overrides), clock=clock, routes=routes)
        app.config["TESTING"] = True
        apps.append(app)
        return app

    yield make
    for app in apps:
        auth_components(app).database.close()


@pytest.fixture
def app(make_app: Callable[..., Flask]) -> Flask:
    """The gateway with test settings."""
    return make_app()


@pytest.fixture
def auth(app: Flask) -> AuthComponents:
    """The app's authentication auth."""
    return auth_components(app)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    """A test client of the gateway."""
    return app.test_client()


@pytest.fixture
def make_user(auth: AuthComponents) -> Callable[..., Credentials]:
    """Factory: a user with ``role`` and a fresh random password."""

    def make(role: str = "agent", username: str | None = None) -> Credentials:
        name = username or f"{role}-{secrets.token_hex(4)}"
        password = secrets.token_urlsafe(16)
        user = auth.accounts.create_user(name, password, role)
        return Credentials(str(user.id), user.username, password, role)

    return make


@pytest.fixture
def login(client: FlaskClient, make_user: Callable[..., Credentials]) -> Callable[..., Any]:
    """Factory: log a user in (a new one of ``role`` unless given); the token answer."""

    def log_in(role: str = "agent", credentials: Credentials | None = None) -> dict[str, Any]:
        user = credentials or make_user(role)
        response = client.post(
            "/api/v1/auth/token", json={"username": user.username, "password": user.password}
        )
        assert response.status_code == 200, response.get_json()
        return response.get_json()

    return log_in


@pytest.fixture
def auth_headers(login: Callable[..., dict[str, Any]]) -> Callable[[str], dict[str, str]]:
    """Factory: an ``Authorization`` header for a fresh user of ``role``."""

    def headers(role: str = "admin") -> dict[str, str]:
        return {"Authorization": f"Bearer {login(role)['access_token']}"}

    return headers


@pytest.fixture
def query(gateway_database: str) -> Callable[..., list[dict[str, Any]]]:
    """Run SQL against the test database directly; the rows as dicts."""

    def run(sql: str, params: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
        with (
            psycopg2.connect(gateway_database) as conn,
            conn.cursor(cursor_factory=psycopg2.extras.RealDictCursor) as cursor,
        ):
            cursor.execute(sql, params)
            rows = cursor.fetchall() if cursor.description else []
        conn.close()
        return [dict(row) for row in rows]

    return run


@pytest.fixture
def run_cli(gateway_database):
    """Run ``python -m gateway.cli`` against the test database; the finished process."""

    def run(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
        environment = {
            key: value
            for key, value in os.environ.items()
            if key not in {"ADMIN_USERNAME", "ADMIN_PASSWORD", "DATABASE_URL"}
        }
        environment.update(
            {
                "GATEWAY_DATABASE_URL": gateway_database,
                "PASSWORD_HASH_TIME_COST": "1",
                "PASSWORD_HASH_MEMORY_KIB": "8",
                "PASSWORD_HASH_PARALLELISM": "1",
                **env,
            }
        )
        return subprocess.run(
            [sys.executable, "-m", "gateway.cli", *args],
            cwd=ROOT,
            env=environment,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    return run


@pytest.fixture
def auth_headers_for(make_user):
    """Factory: an admin's bearer header for a given app (it may not be the default one)."""

    def headers(app) -> dict[str, str]:
        user = make_user("admin")
        token = app.test_client().post(
            "/api/v1/auth/token", json={"username": user.username, "password": user.password}
        )
        return {"Authorization": f"Bearer {token.get_json()['access_token']}"}

    return headers
