"""Who the edge says is calling: a bearer JWT or an API key, and the token it forwards."""

from __future__ import annotations

import jwt
import pytest

from shared.errors import Unauthorized
from tests.gateway.jwks import service_verifier


@pytest.fixture
def api_key(auth):
    return auth.api_keys.create("reporting", ["customers:read", "customers:write"])


def test_a_bearer_token_is_verified_and_forwarded_as_it_came(auth, login):
    token = login("viewer")["access_token"]

    authentication = auth.authenticator.authenticate({"Authorization": f"Bearer {token}"})

    assert authentication.bearer_token == token
    assert authentication.principal.role == "viewer"
    # The role's scopes, and one's own account, which signing in grants.
    assert authentication.principal.scopes == {
        "customers:read",
        "search:read",
        "analytics:read",
        "nlp:read",
        "account:self",
    }


@pytest.mark.parametrize("header", ["Authorization", "X-API-Key"])
def test_an_api_key_becomes_a_short_lived_token_services_accept(auth, client, api_key, header):
    value = f"ApiKey {api_key.key}" if header == "Authorization" else api_key.key

    authentication = auth.authenticator.authenticate({header: value})
    principal, bearer = authentication.principal, authentication.bearer_token

    assert principal.kind == "api_key"
    assert principal.subject == str(api_key.record.id)
    assert principal.scopes == {"customers:read", "customers:write", "account:self"}
    downstream = service_verifier(client).verify(bearer)
    assert downstream.kind == "api_key"
    assert downstream.role == "api_key"
    assert downstream.subject == str(api_key.record.id)
    assert downstream.name == "reporting"
    # The minted token carries the key's own scopes: the account scope is the gateway's.
    assert downstream.scopes == {"customers:read", "customers:write"}
    assert downstream.token_id == principal.token_id
    claims = jwt.decode(bearer, options={"verify_signature": False})
    assert claims["exp"] - claims["iat"] == 60
    assert api_key.key not in bearer


def test_authorization_wins_over_an_api_key_header(auth, login, api_key):
    token = login("viewer")["access_token"]

    authentication = auth.authenticator.authenticate(
        {"Authorization": f"Bearer {token}", "X-API-Key": api_key.key}
    )

    assert authentication.principal.role == "viewer"


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
def test_requests_without_valid_credentials_are_refused(auth, client, headers, detail):
    with pytest.raises(Unauthorized) as refused:
        auth.authenticator.authenticate(headers)
    assert detail in refused.value.detail

    # The same answer over HTTP, on a gateway endpoint and on a forwarded one.
    for path in ("/api/v1/auth/users", "/api/v1/customers"):
        response = client.get(path, headers=headers)
        assert response.status_code == 401
        assert detail in response.get_json()["detail"]
