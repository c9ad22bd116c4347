"""API keys: created once, listed without secrets, used, limited to their scopes, revoked."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from gateway.app import auth_components
from tests.support.clock import MovableClock

API_KEYS = "/api/v1/auth/api-keys"
USERS = "/api/v1/auth/users"
KEY_FORMAT = re.compile(r"clt_[0-9a-f]{12}_[A-Za-z0-9_-]{43}")


@pytest.fixture
def admin(auth_headers):
    return auth_headers("admin")


@pytest.fixture
def create_key(client, admin):
    def create(**body):
        body.setdefault("name", "nightly export")
        body.setdefault("scopes", ["users:manage"])
        response = client.post(API_KEYS, json=body, headers=admin)
        assert response.status_code == 201, response.get_json()
        return response.get_json()

    return create


def test_a_new_key_is_shown_once_and_listed_without_its_secret(client, admin, create_key, query):
    created = create_key(name="crm sync", scopes=["customers:write", "customers:read"])

    assert KEY_FORMAT.fullmatch(created["key"])
    assert created["key"].startswith(f"clt_{created['prefix']}_")
    assert created["scopes"] == ["customers:read", "customers:write"]
    assert created["expires_at"] is None
    listing = client.get(API_KEYS, headers=admin).get_json()["items"]
    assert [item["id"] for item in listing] == [created["id"]]
    assert "key" not in listing[0]
    assert listing[0]["name"] == "crm sync"
    # The key reads clt_<12 hex>_<secret>; the secret itself may contain "_".
    secret = created["key"].split("_", 2)[2]
    assert len(secret) == 43
    stored = str(query("SELECT * FROM api_keys"))
    assert secret not in stored
    assert created["key"] not in stored


@pytest.mark.parametrize("header", ["Authorization", "X-API-Key"])
def test_a_key_authenticates_in_either_header(client, create_key, header):
    key = create_key(scopes=["users:manage"])["key"]
    value = f"ApiKey {key}" if header == "Authorization" else key

    response = client.get(USERS, headers={header: value})

    assert response.status_code == 200


def test_a_key_can_do_only_what_its_scopes_allow(client, create_key):
    reader = create_key(scopes=["customers:read"])["key"]

    response = client.get(USERS, headers={"Authorization": f"ApiKey {reader}"})

    assert response.status_code == 403
    assert "users:manage" in response.get_json()["detail"]


def test_a_revoked_key_stops_working_at_once(client, admin, create_key):
    created = create_key()
    headers = {"X-API-Key": created["key"]}
    assert client.get(USERS, headers=headers).status_code == 200

    assert client.delete(f"{API_KEYS}/{created['id']}", headers=admin).status_code == 204

    assert client.get(USERS, headers=headers).status_code == 401
    (listed,) = client.get(API_KEYS, headers=admin).get_json()["items"]
    assert listed["revoked_at"] is not None
    assert client.delete(f"{API_KEYS}/{created['id']}", headers=admin).status_code == 204


def test_an_expired_key_stops_working(make_app):
    clock = MovableClock()
    app = make_app(clock=clock)
    client = app.test_client()
    auth_components(app).accounts.create_user("keeper", "a-long-enough-password", "admin")
    token = client.post(
        "/api/v1/auth/token", json={"username": "keeper", "password": "a-long-enough-password"}
    ).get_json()["access_token"]
    admin = {"Authorization": f"Bearer {token}"}
    expires_at = clock() + timedelta(days=30)
    created = client.post(
        API_KEYS,
        json={"name": "month", "scopes": ["users:manage"], "expires_at": expires_at.isoformat()},
        headers=admin,
    ).get_json()
    headers = {"X-API-Key": created["key"]}
    clock.advance(timedelta(days=30).total_seconds() - 1)
    assert client.get(USERS, headers=headers).status_code == 200

    clock.advance(1)

    response = client.get(USERS, headers=headers)
    assert response.status_code == 401
    assert response.get_json()["detail"] == "API key is invalid, revoked or expired"


@pytest.mark.parametrize(
    "presented",
    [
        "clt_000000000000_" + "A" * 43,  # unknown prefix
        "not-a-key",
        "clt_short",
    ],
)
def test_unknown_or_malformed_keys_are_refused(client, presented):
    assert client.get(USERS, headers={"X-API-Key": presented}).status_code == 401


def test_a_key_with_a_wrong_secret_is_refused(client, create_key):
    key = create_key()["key"]
    tampered = key[:-1] + ("A" if key[-1] != "A" else "B")

    assert client.get(USERS, headers={"X-API-Key": tampered}).status_code == 401


def test_use_is_recorded_in_last_used_at(client, admin, create_key):
    created = create_key()
    (before,) = client.get(API_KEYS, headers=admin).get_json()["items"]
    assert before["last_used_at"] is None

    client.get(USERS, headers={"X-API-Key": created["key"]})

    (after,) = client.get(API_KEYS, headers=admin).get_json()["items"]
    assert after["last_used_at"] is not None


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "x", "scopes": ["customers:everything"]}, "scopes.0"),
        ({"name": "x", "scopes": []}, "scopes"),
        ({"name": "", "scopes": ["customers:read"]}, "name"),
        ({"name": "x", "scopes": ["customers:read"], "expires_at": "2001-01-01T00:00:00Z"}, None),
        ({"name": "x", "scopes": ["customers:read"], "expires_at": "tomorrow"}, None),
        ({"name": "x", "scopes": ["customers:read"], "expires_at": "2999-01-01T00:00:00"}, None),
        ({"name": "x", "scopes": ["customers:read"], "owner": "me"}, "owner"),
    ],
)
def test_invalid_key_requests_get_422_naming_the_field(client, admin, body, field):
    response = client.post(API_KEYS, json=body, headers=admin)

    assert response.status_code == 422
    fields = {error["field"] for error in response.get_json()["errors"]}
    assert fields == {field or "expires_at"}


def test_only_admins_manage_keys(client, auth_headers, admin, create_key):
    created = create_key()
    agent = auth_headers("agent")

    assert client.get(API_KEYS).status_code == 401
    assert client.get(API_KEYS, headers=agent).status_code == 403
    assert client.post(API_KEYS, json={"name": "x", "scopes": ["customers:read"]}, headers=agent)\
        .status_code == 403  # fmt: skip
    assert client.delete(f"{API_KEYS}/{created['id']}", headers=agent).status_code == 403


def test_revoking_an_unknown_key_is_404(client, admin):
    response = client.delete(f"{API_KEYS}/00000000-0000-4000-8000-000000000000", headers=admin)

    assert response.status_code == 404
    assert response.mimetype == "application/problem+json"
    assert client.delete(f"{API_KEYS}/not-a-uuid", headers=admin).status_code == 404


@pytest.mark.parametrize(
    "body",
    [
        '{"name": "nul\\u0000name", "scopes": ["customers:read"]}',
        '{"name": "x", "scopes": ["customers:read"], "expires_at": "9999-12-31T23:59:59-14:00"}',
    ],
)
def test_text_the_database_cannot_hold_is_422_not_a_crash(client, admin, body):
    response = client.post(API_KEYS, data=body, content_type="application/json", headers=admin)

    assert response.status_code == 422
    assert client.get(API_KEYS, headers=admin).status_code == 200


def test_expiry_is_kept_in_utc(client, admin, create_key):
    created = create_key(expires_at="2999-06-01T12:00:00+02:00")

    (listed,) = client.get(API_KEYS, headers=admin).get_json()["items"]

    assert datetime.fromisoformat(created["expires_at"]) == datetime(2999, 6, 1, 10, tzinfo=UTC)
    assert listed["expires_at"] == created["expires_at"]
