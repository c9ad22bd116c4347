"""Access tokens: what they carry and who accepts them."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid
from datetime import UTC, datetime, timedelta

import jwt
import pytest
from cryptography.hazmat.primitives import serialization

from gateway.app import auth_components
from gateway.auth import roles
from gateway.auth.signing import AccessTokenIssuer
from shared.auth import TokenVerifier
from shared.errors import Unauthorized
from tests.gateway.jwks import service_verifier
from tests.support.tokens import ROLE_SCOPES as TEST_ISSUER_SCOPES
from tests.support.tokens import TestIssuer

#: In declaration order: customers, search, analytics, nlp, then the gateway's own.
ADMIN_SCOPES = (
    "customers:read",
    "customers:write",
    "customers:delete",
    "search:read",
    "search:reindex",
    "analytics:read",
    "analytics:reconcile",
    "nlp:read",
    "users:manage",
)


@pytest.mark.parametrize(
    ("role", "scopes"),
    [
        ("viewer", {"customers:read", "search:read", "analytics:read", "nlp:read"}),
        (
            "agent",
            {"customers:read", "customers:write", "search:read", "analytics:read", "nlp:read"},
        ),
        ("admin", set(ADMIN_SCOPES)),
    ],
)
def test_a_token_verifies_like_a_service_would_and_names_the_user(
    client, make_user, login, role, scopes
):
    user = make_user(role)
    answer = login(credentials=user)

    principal = service_verifier(client).verify(answer["access_token"])

    assert principal.subject == user.id
    assert principal.name == user.username
    assert principal.role == role
    assert principal.kind == "user"
    assert principal.scopes == scopes
    assert set(answer["scope"].split()) == scopes
    assert principal.token_id


def test_a_token_carries_the_documented_claims(client, login, auth, query):
    answer = login("viewer")
    token = answer["access_token"]

    claims = jwt.decode(token, options={"verify_signature": False})
    header = jwt.get_unverified_header(token)

    assert set(claims) == {
        "iss", "aud", "sub", "name", "role", "scope", "kind", "iat", "nbf", "exp", "jti", "sid",
    }  # fmt: skip
    # The session: the refresh token family this login started.
    families = query("SELECT id FROM refresh_token_families WHERE user_id = %s", (claims["sub"],))
    assert [str(row["id"]) for row in families] == [claims["sid"]]
    assert claims["iss"] == "clientele-gateway"
    assert claims["aud"] == "clientele"
    assert claims["exp"] - claims["iat"] == 900
    assert claims["nbf"] == claims["iat"]
    kids = [key["kid"] for key in client.get("/.well-known/jwks.json").get_json()["keys"]]
    assert header["kid"] in kids


def test_the_gateway_verifier_accepts_its_tokens_and_refuses_foreign_ones(app, login):
    verifier: TokenVerifier = auth_components(app).verifier

    assert verifier.verify(login("agent")["access_token"]).role == "agent"
    foreign = TestIssuer()
    with pytest.raises(Unauthorized, match="unknown key"):
        verifier.verify(foreign.token("admin"))


def _encode_segment(value: dict[str, object]) -> str:
    raw = json.dumps(value, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def test_a_token_signed_with_the_public_key_as_an_hmac_secret_is_refused(client, login):
    # The classic key-confusion forgery: HS256 keyed with the published RSA key.
    token = login("viewer")["access_token"]
    kid = jwt.get_unverified_header(token)["kid"]
    claims = jwt.decode(token, options={"verify_signature": False})
    claims["scope"] = "customers:read users:manage"
    jwk = client.get("/.well-known/jwks.json").get_json()["keys"][0]
    public_pem = jwt.PyJWK.from_dict(jwk).key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    signing_input = (
        f"{_encode_segment({'alg': 'HS256', 'typ': 'JWT', 'kid': kid})}.{_encode_segment(claims)}"
    )
    signature = hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest()
    forged = f"{signing_input}.{base64.urlsafe_b64encode(signature).rstrip(b'=').decode()}"

    response = client.get("/api/v1/auth/users", headers={"Authorization": f"Bearer {forged}"})

    assert response.status_code == 401
    assert response.get_json()["detail"] == "Token algorithm must be RS256"


def test_an_access_token_stops_working_when_it_expires(make_app, make_user):
    app = make_app(jwt_leeway_seconds=0)
    auth = auth_components(app)
    admin = auth.accounts.get_user(uuid.UUID(make_user("admin").id))
    client = app.test_client()

    def issued(seconds_ago: int) -> dict[str, str]:
        issuer = AccessTokenIssuer(
            auth.signing_keys,
            issuer=auth.settings.jwt_issuer,
            audience=auth.settings.jwt_audience,
            ttl_seconds=900,
            clock=lambda: datetime.now(UTC) - timedelta(seconds=seconds_ago),
        )
        return {"Authorization": f"Bearer {issuer.token_for_user(admin).token}"}

    assert client.get("/api/v1/auth/users", headers=issued(880)).status_code == 200
    response = client.get("/api/v1/auth/users", headers=issued(920))
    assert response.status_code == 401
    assert response.get_json()["detail"] == "Token expired"


def test_the_role_table_is_the_declared_one_and_tests_use_it():
    assert {role: set(scopes) for role, scopes in roles.ROLE_SCOPES.items()} == {
        role: set(scope.split()) for role, scope in TEST_ISSUER_SCOPES.items()
    }
    assert roles.ROLE_SCOPES == {
        "viewer": ("customers:read", "search:read", "analytics:read", "nlp:read"),
        "agent": ("customers:read", "customers:write", "search:read", "analytics:read", "nlp:read"),
        "admin": ADMIN_SCOPES,
    }
