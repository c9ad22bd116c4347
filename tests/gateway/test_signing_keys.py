"""Signing keys: the JWKS, the first key, rotation without logging anyone out."""

from __future__ import annotations

import base64
import hashlib
import json
import threading
from datetime import datetime, timedelta

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from gateway.app import auth_components, create_app
from gateway.settings import Settings
from shared.auth import TokenVerifier
from shared.database import drop_database
from shared.errors import Unauthorized
from tests.gateway.conftest import FAST_HASHING
from tests.gateway.jwks import service_verifier
from tests.support.clock import MovableClock

ROTATE = "/api/v1/auth/signing-keys/rotate"


def _kid(token: str) -> str:
    return str(jwt.get_unverified_header(token)["kid"])


def _jwks_kids(client) -> list[str]:
    return [key["kid"] for key in client.get("/.well-known/jwks.json").get_json()["keys"]]


def test_the_jwks_publishes_public_rsa_keys_only(client):
    response = client.get("/.well-known/jwks.json")

    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "public, max-age=60"
    (key,) = response.get_json()["keys"]
    assert key["kty"] == "RSA"
    assert key["alg"] == "RS256"
    assert key["use"] == "sig"
    assert not {"d", "p", "q", "dp", "dq", "qi"} & set(key)
    # The kid is the key's RFC 7638 thumbprint.
    canonical = json.dumps({"e": key["e"], "kty": "RSA", "n": key["n"]}, separators=(",", ":"))
    digest = hashlib.sha256(canonical.encode()).digest()
    assert key["kid"] == base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
    assert jwt.PyJWK.from_dict(key).key.key_size == 2048


def test_processes_starting_together_create_a_single_first_key(make_app, query):
    apps = [make_app() for _ in range(3)]
    barrier = threading.Barrier(6)
    answers: list[list[str]] = []

    def first_request(app) -> None:
        client = app.test_client()
        barrier.wait()
        answers.append(_jwks_kids(client))

    threads = [threading.Thread(target=first_request, args=(app,)) for app in apps * 2]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    rows = query("SELECT kid FROM signing_keys")
    assert len(rows) == 1
    assert answers == [[rows[0]["kid"]]] * 6


def test_private_keys_are_stored_encrypted_with_the_passphrase(client, query):
    client.get("/.well-known/jwks.json")

    (row,) = query("SELECT private_key_pem FROM signing_keys")

    pem = row["private_key_pem"].encode()
    assert pem.startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
    key = serialization.load_pem_private_key(pem, password=b"clientele-development-only-passphrase")
    assert isinstance(key, rsa.RSAPrivateKey)
    assert key.key_size == 2048


def test_a_wrong_passphrase_makes_login_unavailable_not_a_crash(make_app, client, make_user):
    client.get("/.well-known/jwks.json")  # the key exists, encrypted with the right passphrase
    user = make_user("viewer")
    misconfigured = make_app(jwt_key_passphrase="not-the-passphrase").test_client()

    response = misconfigured.post(
        "/api/v1/auth/token", json={"username": user.username, "password": user.password}
    )

    assert response.status_code == 503
    assert response.mimetype == "application/problem+json"
    assert "cannot be decrypted" in response.get_json()["detail"]


def test_rotation_keeps_old_tokens_valid_and_signs_new_ones_with_the_new_key(
    client, login, auth_headers
):
    before = login("viewer")["access_token"]
    old_kid = _kid(before)

    response = client.post(ROTATE, headers=auth_headers("admin"))

    assert response.status_code == 201
    rotation = response.get_json()
    assert rotation["kid"] != old_kid
    (retiring,) = rotation["retiring"]
    assert retiring["kid"] == old_kid
    # Published until the last token the old key may sign has expired: signed up to
    # one cache period (5 s) after the switch, valid 900 s, plus 30 s of clock leeway.
    lifetime = datetime.fromisoformat(retiring["retires_at"]) - datetime.fromisoformat(
        rotation["activates_at"]
    )
    assert lifetime == timedelta(seconds=900 + 30 + 5)
    assert sorted(_jwks_kids(client)) == sorted([old_kid, rotation["kid"]])
    after = login("viewer")["access_token"]
    assert _kid(after) == rotation["kid"]
    verifier = service_verifier(client)
    assert verifier.verify(before).role == "viewer"
    assert verifier.verify(after).role == "viewer"


def test_a_rotated_key_is_published_before_it_signs(make_app):
    app = make_app(jwt_key_activation_delay_seconds=30)
    accounts = auth_components(app).accounts
    accounts.create_user("root", "a-long-enough-password", "admin")
    client = app.test_client()

    def token() -> str:
        answer = client.post(
            "/api/v1/auth/token", json={"username": "root", "password": "a-long-enough-password"}
        )
        return str(answer.get_json()["access_token"])

    current = token()
    rotation = client.post(ROTATE, headers={"Authorization": f"Bearer {current}"}).get_json()

    assert rotation["kid"] in _jwks_kids(client)
    assert len(_jwks_kids(client)) == 2
    assert _kid(token()) == _kid(current)


def test_rotating_again_before_activation_drops_the_pending_key(make_app):
    app = make_app(jwt_key_activation_delay_seconds=30)
    auth_components(app).accounts.create_user("root", "a-long-enough-password", "admin")
    client = app.test_client()
    token = client.post(
        "/api/v1/auth/token", json={"username": "root", "password": "a-long-enough-password"}
    ).get_json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}

    first = client.post(ROTATE, headers=headers).get_json()
    second = client.post(ROTATE, headers=headers).get_json()

    assert second["superseded"] == [first["kid"]]
    assert sorted(_jwks_kids(client)) == sorted([_kid(token), second["kid"]])


def test_an_old_key_leaves_the_jwks_once_its_tokens_have_expired(make_app):
    clock = MovableClock()
    app = make_app(clock=clock, signing_key_cache_seconds=0)
    auth_components(app).accounts.create_user("root", "a-long-enough-password", "admin")
    client = app.test_client()
    token = client.post(
        "/api/v1/auth/token", json={"username": "root", "password": "a-long-enough-password"}
    ).get_json()["access_token"]
    rotation = client.post(ROTATE, headers={"Authorization": f"Bearer {token}"}).get_json()
    assert len(_jwks_kids(client)) == 2
    (retiring,) = rotation["retiring"]
    assert retiring["kid"] == _kid(token)

    retires_at = datetime.fromisoformat(retiring["retires_at"])
    clock.advance((retires_at - clock()).total_seconds() - 1)
    assert len(_jwks_kids(client)) == 2
    clock.advance(1)

    assert _jwks_kids(client) == [rotation["kid"]]
    # Refused for its key, not only for its age: even a lenient clock cannot revive it.
    with pytest.raises(Unauthorized, match="unknown key"):
        service_verifier(client, leeway=3600).verify(token)
    auth = auth_components(app)
    # A fresh verifier over the gateway's own key ring: its in-process cache of
    # verified tokens follows the wall clock, which this test does not move.
    gateway_verifier = TokenVerifier(
        keys=auth.signing_keys,
        issuer=auth.settings.jwt_issuer,
        audience=auth.settings.jwt_audience,
        leeway=3600,
    )
    with pytest.raises(Unauthorized, match="unknown key"):
        gateway_verifier.verify(token)


def test_only_admins_may_rotate(client, auth_headers):
    assert client.post(ROTATE).status_code == 401
    assert client.post(ROTATE, headers=auth_headers("agent")).status_code == 403
    assert client.post(ROTATE, headers=auth_headers("admin")).status_code == 201


def test_tokens_keep_verifying_while_the_database_is_down(make_database):
    url = make_database("gateway")
    app = create_app(
        Settings(GATEWAY_DATABASE_URL=url, signing_key_cache_seconds=0, **FAST_HASHING)
    )
    auth = auth_components(app)
    auth.accounts.create_user("night-shift", "a-long-enough-password", "agent")
    client = app.test_client()
    token = client.post(
        "/api/v1/auth/token",
        json={"username": "night-shift", "password": "a-long-enough-password"},
    ).get_json()["access_token"]

    drop_database(url)  # the outage: connections cut, every query fails

    try:
        assert auth.verifier.verify(token).name == "night-shift"
        login = client.post(
            "/api/v1/auth/token",
            json={"username": "night-shift", "password": "a-long-enough-password"},
        )
        assert login.status_code == 503
        assert login.mimetype == "application/problem+json"
    finally:
        auth.database.close()
