"""What the forwarding code gets for a request: the caller and the bearer token to send on."""

from __future__ import annotations

import jwt
import pytest
from flask import g

from gateway.authentication import (
    authenticate_for_forwarding,
    authenticate_request,
    request_verifier,
)
from shared.auth import current_principal
from shared.errors import Unauthorized
from tests.gateway.jwks import service_verifier


@pytest.fixture
def api_key(services):
    return services.api_keys.create("reporting", ["customers:read", "customers:write"])


def test_a_bearer_token_is_verified_and_forwarded_as_it_came(app, login):
    token = login("viewer")["access_token"]

    with app.test_request_context(headers={"Authorization": f"Bearer {token}"}):
        principal, bearer = authenticate_for_forwarding()
        assert current_principal() == principal

    assert bearer == token
    assert principal.role == "viewer"
    assert principal.scopes == {"customers:read"}


@pytest.mark.parametrize("header", ["Authorization", "X-API-Key"])
def test_an_api_key_becomes_a_short_lived_token_services_accept(app, client, api_key, header):
    value = f"ApiKey {api_key.key}" if header == "Authorization" else api_key.key

    with app.test_request_context(headers={header: value}):
        principal, bearer = authenticate_for_forwarding()
        assert g.principal == principal

    assert principal.kind == "api_key"
    assert principal.subject == str(api_key.record.id)
    assert principal.scopes == {"customers:read", "customers:write"}
    downstream = service_verifier(client).verify(bearer)
    assert downstream.kind == "api_key"
    assert downstream.role == "api_key"
    assert downstream.subject == str(api_key.record.id)
    assert downstream.name == "reporting"
    assert downstream.scopes == principal.scopes
    assert downstream.token_id == principal.token_id
    claims = jwt.decode(bearer, options={"verify_signature": False})
    assert claims["exp"] - claims["iat"] == 60
    assert api_key.key not in bearer


def test_the_request_is_authenticated_once(app, api_key):
    with app.test_request_context(headers={"X-API-Key": api_key.key}):
        first = authenticate_request()
        second = authenticate_request()

    assert first is second


@pytest.mark.parametrize(
    ("headers", "detail"),
    [
        ({}, "Missing credentials"),
        ({"Authorization": "Digest abc"}, "must be 'Bearer <token>' or 'ApiKey <key>'"),
        ({"Authorization": "ApiKey "}, "must be 'Bearer <token>' or 'ApiKey <key>'"),
        ({"X-API-Key": "clt_nothing"}, "API key is invalid"),
        ({"Authorization": "Bearer abc.def.ghi"}, "Malformed token"),
    ],
)
def test_requests_without_valid_credentials_are_refused(app, headers, detail):
    with app.test_request_context(headers=headers), pytest.raises(Unauthorized) as refused:
        authenticate_request()

    assert detail in refused.value.detail


def test_the_verifier_is_shared_on_the_app(app, login):
    token = login("admin")["access_token"]

    with app.test_request_context():
        verifier = request_verifier()

    assert verifier is app.extensions["clientele.verifier"]
    assert verifier.verify(token).has_scope("users:manage")
