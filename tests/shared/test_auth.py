"""JWT verification, the scope check, and how a Flask app applies its contract to both."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from flask import Flask, jsonify

from shared.auth import (
    FIRST_FETCH_RETRY_SECONDS,
    REQUIRED_CLAIMS,
    JwksKeySource,
    Principal,
    TokenVerifier,
    check_scope,
)
from shared.contract import Contract, ContractError
from shared.errors import PROBLEM_JSON, Forbidden, ServiceUnavailable, Unauthorized
from shared.services import role_scopes
from shared.web.app import OPERATIONAL_PATHS
from shared.web.auth import (
    bind_principal,
    current_principal,
    install_authentication,
    undeclared_routes,
)
from tests.support.processes import free_port
from tests.support.tokens import AUDIENCE, ISSUER, TestIssuer


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_json(value: Any) -> str:
    return b64url(json.dumps(value).encode())


def b64url_decode(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


@pytest.fixture(scope="module")
def issuer() -> TestIssuer:
    return TestIssuer()


@pytest.fixture(scope="module")
def verifier(issuer: TestIssuer) -> TokenVerifier:
    return TokenVerifier(keys=issuer.key_source, issuer=ISSUER, audience=AUDIENCE, leeway=30)


def refused(verifier: TokenVerifier, token: str) -> Unauthorized:
    with pytest.raises(Unauthorized) as caught:
        verifier.verify(token)
    return caught.value


# --- tokens that pass -------------------------------------------------------


def test_valid_token_names_the_principal_and_its_scopes(issuer, verifier):
    claims = issuer.claims("agent")
    token = jwt.encode(claims, issuer.private_key, algorithm="RS256", headers={"kid": issuer.kid})

    principal = verifier.verify(token)

    assert principal == Principal(
        subject=claims["sub"],
        name="agent-user",
        role="agent",
        scopes=frozenset(role_scopes()["agent"]),
        kind="user",
        token_id=claims["jti"],
    )
    assert principal.has_scope("customers:write")
    assert not principal.has_scope("customers:delete")


def test_token_without_scope_claim_has_no_scopes(issuer, verifier):
    principal = verifier.verify(issuer.token("viewer", scope=None))

    assert principal.scopes == frozenset()
    assert not principal.has_scope("customers:read")


def test_expired_within_leeway_still_passes(issuer, verifier):
    now = int(time.time())
    token = issuer.token(iat=now - 400, nbf=now - 400, exp=now - 10)

    assert verifier.verify(token).role == "admin"


def test_not_before_within_leeway_passes(issuer, verifier):
    now = int(time.time())

    assert verifier.verify(issuer.token(iat=now, nbf=now + 10)).role == "admin"


# --- tokens that are refused ------------------------------------------------


def test_expired_beyond_leeway_is_refused(issuer, verifier):
    now = int(time.time())
    token = issuer.token(iat=now - 400, nbf=now - 400, exp=now - 60)

    error = refused(verifier, token)

    assert error.status == 401
    assert "expired" in error.detail.lower()


def test_not_before_in_the_future_is_refused(issuer, verifier):
    now = int(time.time())

    refused(verifier, issuer.token(nbf=now + 120, exp=now + 600))


def test_issued_in_the_future_is_refused(issuer, verifier):
    now = int(time.time())

    refused(verifier, issuer.token(iat=now + 120, exp=now + 600))


def test_wrong_issuer_is_refused(issuer, verifier):
    refused(verifier, issuer.token(iss="someone-else"))


def test_wrong_audience_is_refused(issuer, verifier):
    refused(verifier, issuer.token(aud="another-platform"))


@pytest.mark.parametrize("claim", REQUIRED_CLAIMS)
def test_missing_required_claim_is_refused(issuer, verifier, claim):
    token = issuer.token(**{claim: None})
    assert claim not in json.loads(b64url_decode(token.split(".")[1]))

    refused(verifier, token)


def test_scope_that_is_not_a_string_is_refused(issuer, verifier):
    refused(verifier, issuer.token(scope=["customers:read", "users:manage"]))


@pytest.mark.parametrize("algorithm", ["none", "None", "NONE"])
def test_unsigned_alg_none_token_is_refused(issuer, verifier, algorithm):
    header = {"alg": algorithm, "typ": "JWT", "kid": issuer.kid}
    token = f"{b64url_json(header)}.{b64url_json(issuer.claims())}."

    error = refused(verifier, token)

    assert "RS256" in error.detail


def test_hs256_signed_with_the_public_key_is_refused(issuer, verifier):
    # Algorithm confusion: the attacker knows the public key and uses its PEM as an HMAC secret.
    public_pem = issuer.public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    header = {"alg": "HS256", "typ": "JWT", "kid": issuer.kid}
    signing_input = f"{b64url_json(header)}.{b64url_json(issuer.claims())}"
    signature = hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest()

    refused(verifier, f"{signing_input}.{b64url(signature)}")


def test_unknown_key_id_is_refused(issuer, verifier):
    token = jwt.encode(
        issuer.claims(), issuer.private_key, algorithm="RS256", headers={"kid": "rotated-away"}
    )

    refused(verifier, token)


def test_token_without_key_id_is_refused(issuer, verifier):
    token = jwt.encode(issuer.claims(), issuer.private_key, algorithm="RS256")

    refused(verifier, token)


def test_token_signed_by_another_key_under_our_key_id_is_refused(issuer, verifier):
    impostor = TestIssuer(kid=issuer.kid)

    refused(verifier, impostor.token())


def test_tampered_payload_is_refused(issuer, verifier):
    header, payload, signature = issuer.token("viewer").split(".")
    claims = json.loads(b64url_decode(payload))
    claims.update(role="admin", scope="customers:read customers:write users:manage")

    refused(verifier, f"{header}.{b64url_json(claims)}.{signature}")


@pytest.mark.parametrize(
    "token",
    [
        "",
        "garbage",
        "a.b.c",
        "...",
        "Bearer abc",
        "é.é.é",
        f"{b64url(b'not json')}.{b64url_json({})}.",
        f"{b64url_json(['a', 'list'])}.{b64url_json({})}.",
        f"{b64url(b'[' * 5000)}.{b64url_json({})}.",
    ],
    ids=[
        "empty",
        "one-word",
        "three-letters",
        "only-dots",
        "scheme-inside",
        "non-ascii",
        "header-not-json",
        "header-not-object",
        "header-deeply-nested",
    ],
)
def test_garbage_is_refused_as_unauthorized(verifier, token):
    refused(verifier, token)


def test_unauthorized_carries_a_bearer_challenge():
    error = Unauthorized("nope")

    assert error.status == 401
    assert error.headers["WWW-Authenticate"].startswith("Bearer")


# --- check_scope: the one scope check --------------------------------------------


def principal(role: str, *scopes: str, kind: str = "user") -> Principal:
    return Principal(subject="s-1", name=role, role=role, scopes=frozenset(scopes), kind=kind)


def test_a_public_operation_needs_no_scope():
    check_scope(principal("viewer"), None)


def test_the_scope_held_passes():
    check_scope(principal("agent", "customers:read", "customers:write"), "customers:write")


def test_a_scope_not_held_is_forbidden_naming_role_and_scope():
    with pytest.raises(Forbidden) as refused:
        check_scope(principal("viewer", "customers:read"), "customers:write")

    assert refused.value.status == 403
    assert refused.value.detail == "Role 'viewer' lacks scope 'customers:write'"


def test_a_principal_without_a_role_is_named_by_its_kind():
    with pytest.raises(Forbidden) as refused:
        check_scope(principal("", kind="api_key"), "customers:delete")

    assert refused.value.detail == "Role 'api_key' lacks scope 'customers:delete'"


# --- Flask: install_authentication from the contract ------------------------------

CONTRACT_YAML = """\
openapi: 3.0.3
info: {title: Things, version: 1.0.0}
paths:
  /customers:
    get:
      operationId: listCustomers
      security: [{oauth2: ["customers:read"]}]
      responses: {"200": {description: A page}}
  /customers/{customer_id}:
    delete:
      operationId: deleteCustomer
      security: [{oauth2: ["customers:delete"]}]
      responses: {"204": {description: Gone}}
  /healthz:
    get: {operationId: liveness, security: [], responses: {"200": {description: Alive}}}
  /readyz:
    get: {operationId: readiness, security: [], responses: {"200": {description: Ready}}}
  /openapi.json:
    get: {operationId: openapi, security: [], responses: {"200": {description: This}}}
components:
  securitySchemes:
    oauth2:
      type: oauth2
      flows:
        password:
          tokenUrl: /api/v1/auth/token
          scopes:
            customers:read: read customers
            customers:delete: delete customers
"""


@pytest.fixture(scope="module")
def contract(tmp_path_factory: pytest.TempPathFactory) -> Contract:
    path = tmp_path_factory.mktemp("contract") / "openapi.yaml"
    path.write_text(CONTRACT_YAML)
    return Contract.load(path)


@pytest.fixture
def secured_app(
    make_app: Callable[..., Flask], verifier: TokenVerifier, contract: Contract
) -> Flask:
    app = make_app(contract=contract)
    install_authentication(app, verifier, contract=contract)

    @app.get("/customers")
    def list_customers():
        principal = current_principal()
        return jsonify(subject=principal.subject, role=principal.role)

    @app.delete("/customers/<int:customer_id>")
    def delete_customer(customer_id: int):
        return "", 204

    return app


def assert_problem(response, status: int, slug: str) -> dict[str, Any]:
    assert response.status_code == status
    assert response.mimetype == PROBLEM_JSON
    body = response.get_json(force=True)
    assert body["status"] == status
    assert body["type"] == f"urn:clientele:problem:{slug}"
    return body  # type: ignore[no-any-return]


def test_missing_authorization_header_is_401_problem_with_challenge(secured_app):
    response = secured_app.test_client().get("/customers")

    body = assert_problem(response, 401, "unauthorized")
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="clientele"'
    assert "Authorization" in body["detail"]
    assert response.headers["X-Request-ID"]


@pytest.mark.parametrize(
    "header",
    ["Basic dXNlcjpwYXNz", "Bearer", "Bearer    ", "just-a-token", "Token abc.def.ghi"],
)
def test_malformed_authorization_header_is_401(secured_app, header):
    response = secured_app.test_client().get("/customers", headers={"Authorization": header})

    assert_problem(response, 401, "unauthorized")
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_invalid_token_in_header_is_401(secured_app, issuer):
    expired = issuer.token(exp=int(time.time()) - 3600, iat=0, nbf=0)

    response = secured_app.test_client().get(
        "/customers", headers={"Authorization": f"Bearer {expired}"}
    )

    assert_problem(response, 401, "unauthorized")


def test_valid_token_with_the_scope_reaches_the_view(secured_app, issuer):
    claims = issuer.claims("viewer")
    token = jwt.encode(claims, issuer.private_key, algorithm="RS256", headers={"kid": issuer.kid})

    response = secured_app.test_client().get(
        "/customers", headers={"Authorization": f"bearer {token}"}
    )

    assert response.status_code == 200
    assert response.get_json() == {"subject": claims["sub"], "role": "viewer"}


def test_valid_token_without_the_scope_the_contract_names_is_403(secured_app, issuer):
    response = secured_app.test_client().delete("/customers/7", headers=issuer.headers("agent"))

    body = assert_problem(response, 403, "forbidden")
    assert body["detail"] == "Role 'agent' lacks scope 'customers:delete'"


def test_the_scope_allows_what_it_names(secured_app, issuer):
    response = secured_app.test_client().delete("/customers/7", headers=issuer.headers("admin"))

    assert response.status_code == 204


def test_head_is_checked_as_the_get_it_is(secured_app, issuer):
    client = secured_app.test_client()
    headers = issuer.headers("agent", scope="customers:delete")

    assert client.head("/customers", headers=headers).status_code == 403
    assert client.head("/customers", headers=issuer.headers("viewer")).status_code == 200


@pytest.mark.parametrize("path", OPERATIONAL_PATHS)
def test_operations_the_contract_makes_public_need_no_token(secured_app, path):
    assert secured_app.test_client().get(path).status_code == 200


def test_preflight_options_needs_no_token(secured_app):
    assert secured_app.test_client().options("/customers").status_code == 200


def test_a_path_no_operation_matches_is_authenticated_then_404(secured_app, issuer):
    client = secured_app.test_client()

    assert_problem(client.get("/nowhere"), 401, "unauthorized")
    assert client.get("/nowhere", headers=issuer.headers("viewer")).status_code == 404


def test_a_method_no_operation_declares_is_authenticated_then_405(secured_app, issuer):
    client = secured_app.test_client()

    assert_problem(client.put("/customers/7"), 401, "unauthorized")
    response = client.put("/customers/7", headers=issuer.headers("viewer", scope=""))
    assert response.status_code == 405
    assert "DELETE" in response.headers["Allow"]


def test_current_principal_outside_authentication_is_401(make_app):
    app: Flask = make_app()

    @app.get("/guarded")
    def guarded():
        return current_principal().name

    assert_problem(app.test_client().get("/guarded"), 401, "unauthorized")


def test_a_bound_principal_is_the_current_one_for_that_request_only(make_app):
    app: Flask = make_app()
    someone = Principal(subject="u-1", name="Ada", role="agent", scopes=frozenset())

    @app.get("/bind")
    def bind():
        bind_principal(someone)
        return current_principal().name

    @app.get("/who")
    def who():
        return current_principal().name

    client = app.test_client()
    assert client.get("/bind").get_data(as_text=True) == "Ada"
    assert_problem(client.get("/who"), 401, "unauthorized")


# --- Flask: every route the app serves is in its contract -------------------------


def test_the_secured_app_serves_only_declared_routes(secured_app, contract):
    assert undeclared_routes(secured_app, contract) == []


def test_a_route_the_contract_lacks_is_listed_with_its_method(secured_app, contract):
    @secured_app.route("/customers/<int:customer_id>", methods=["PATCH"])
    def patch_customer(customer_id: int):
        return "", 204

    @secured_app.get("/customers/<int:customer_id>/export")
    def export_customer(customer_id: int):
        return ""

    assert undeclared_routes(secured_app, contract) == [
        "PATCH /customers/<int:customer_id>",
        "GET /customers/<int:customer_id>/export",
    ]


def test_installing_authentication_on_an_undeclared_route_fails(
    make_app: Callable[..., Flask], verifier: TokenVerifier, contract: Contract
):
    app = make_app(contract=contract)

    @app.post("/customers")
    def create_customer():
        return "", 201

    with pytest.raises(ContractError) as refused:
        install_authentication(app, verifier, contract=contract)

    assert "POST /customers" in str(refused.value)


def test_an_app_serving_a_document_its_contract_lacks_cannot_install_it(
    make_app: Callable[..., Flask], verifier: TokenVerifier, tmp_path: Path
):
    # create_service_app serves /healthz and /readyz: a contract must declare them.
    path = tmp_path / "openapi.yaml"
    path.write_text(CONTRACT_YAML.replace("  /readyz:", "  /readyz-elsewhere:"))
    contract = Contract.load(path)

    with pytest.raises(ContractError, match="GET /readyz"):
        install_authentication(make_app(contract=contract), verifier, contract=contract)


# --- JwksKeySource against a real HTTP server -------------------------------


class JwksServer:
    """A local HTTP server answering ``GET /jwks.json`` with whatever ``body`` holds."""

    def __init__(self, port: int = 0) -> None:
        self.body: bytes = b'{"keys": []}'
        self.requests = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                outer.requests += 1
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(outer.body)))
                self.end_headers()
                self.wfile.write(outer.body)

            def log_message(self, format: str, *args: Any) -> None:
                """Keep the test output quiet."""

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/jwks.json"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def publish(self, *issuers: TestIssuer) -> None:
        keys = []
        for issuer in issuers:
            jwk = jwt.algorithms.RSAAlgorithm.to_jwk(issuer.public_key, as_dict=True)
            keys.append({**jwk, "kid": issuer.kid, "use": "sig", "alg": "RS256"})
        self.body = json.dumps({"keys": keys}).encode()


@pytest.fixture
def jwks_server(issuer: TestIssuer) -> Iterator[JwksServer]:
    server = JwksServer()
    server.publish(issuer)
    server.thread.start()
    yield server
    server.server.shutdown()
    server.server.server_close()
    server.thread.join(timeout=5)


@pytest.fixture
def jwks_source() -> Iterator[Callable[..., JwksKeySource]]:
    """Factory: a :class:`JwksKeySource` whose refresher stops when the test ends."""
    made: list[JwksKeySource] = []

    def make(*args: Any, **options: Any) -> JwksKeySource:
        made.append(JwksKeySource(*args, **options))
        return made[-1]

    yield make
    for source in made:
        source.close()


def test_jwks_key_source_finds_the_published_key(jwks_server, issuer, jwks_source):
    keys = jwks_source(jwks_server.url)
    verifier = TokenVerifier(keys=keys, issuer=ISSUER, audience=AUDIENCE)

    principal = verifier.verify(issuer.token("agent"))

    assert principal.role == "agent"
    assert principal.has_scope("customers:write")


def test_jwks_key_source_caches_the_key_set(jwks_server, issuer, jwks_source):
    keys = jwks_source(jwks_server.url)

    first, second = keys(issuer.kid), keys(issuer.kid)

    assert first.public_numbers() == issuer.public_key.public_numbers()
    assert second.public_numbers() == issuer.public_key.public_numbers()
    assert jwks_server.requests == 1


def test_jwks_key_source_refuses_an_unknown_key_id(jwks_server, jwks_source):
    keys = jwks_source(jwks_server.url, cooldown_seconds=0)

    with pytest.raises(Unauthorized):
        keys("never-published")


def test_jwks_key_source_picks_up_a_rotated_key(jwks_server, issuer, jwks_source):
    keys = jwks_source(jwks_server.url, cooldown_seconds=0)
    verifier = TokenVerifier(keys=keys, issuer=ISSUER, audience=AUDIENCE)
    assert verifier.verify(issuer.token()).role == "admin"

    rotated = TestIssuer()
    jwks_server.publish(issuer, rotated)

    assert verifier.verify(rotated.token("viewer")).role == "viewer"


def test_jwks_server_down_is_service_unavailable(jwks_source):
    keys = jwks_source(f"http://127.0.0.1:{free_port()}/jwks.json", timeout=1)

    with pytest.raises(ServiceUnavailable) as caught:
        keys("any-kid")

    assert caught.value.status == 503


@pytest.mark.parametrize(
    "body",
    [b"<html><body>502 Bad Gateway</body></html>", b'{"keys": []}'],
    ids=["not-json", "empty-key-set"],
)
def test_jwks_answering_garbage_is_service_unavailable(jwks_server, body, jwks_source):
    # A broken key endpoint is the gateway's fault, not the caller's: 503, never a bare 500.
    jwks_server.body = body
    keys = jwks_source(jwks_server.url, cooldown_seconds=0)

    with pytest.raises(ServiceUnavailable):
        keys("any-kid")


def test_jwks_key_source_keeps_the_last_good_keys_when_the_endpoint_breaks(
    jwks_server, issuer, jwks_source
):
    keys = jwks_source(jwks_server.url, cooldown_seconds=0)
    verifier = TokenVerifier(keys=keys, issuer=ISSUER, audience=AUDIENCE)
    assert verifier.verify(issuer.token()).role == "admin"

    jwks_server.body = b"<html>502 Bad Gateway</html>"

    assert verifier.verify(issuer.token("viewer")).role == "viewer"
    with pytest.raises(Unauthorized):
        keys("never-published")


def test_jwks_key_source_refreshes_in_the_background(jwks_server, issuer, jwks_source):
    keys = jwks_source(jwks_server.url, cooldown_seconds=3600, refresh_seconds=0.5)
    assert keys(issuer.kid) is not None
    rotated = TestIssuer()
    jwks_server.publish(issuer, rotated)

    deadline = time.monotonic() + 5
    while jwks_server.requests < 2 and time.monotonic() < deadline:
        time.sleep(0.1)

    # Found without a fetch on the request path: the cooldown would have refused one.
    assert keys(rotated.kid).public_numbers() == rotated.public_key.public_numbers()


def test_jwks_readiness_fails_until_a_key_set_has_arrived(issuer, jwks_source):
    server = JwksServer()
    server.publish(issuer)
    keys = jwks_source(server.url, timeout=1)  # built while nothing listens there yet

    with pytest.raises(ServiceUnavailable):
        keys.check_ready()

    server.thread.start()
    try:
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            try:
                keys.check_ready()
                break
            except ServiceUnavailable:
                time.sleep(0.1)
        keys.check_ready()
    finally:
        server.server.shutdown()
        server.server.server_close()


def test_a_service_started_before_the_gateway_serves_as_soon_as_keys_appear(issuer, jwks_source):
    # The request path may fetch while no key set has arrived, so the first request
    # after the gateway comes up is served, not refused until the refresher's next tick.
    port = free_port()
    keys = jwks_source(f"http://127.0.0.1:{port}/jwks.json", cooldown_seconds=3600, timeout=1)
    verifier = TokenVerifier(keys=keys, issuer=ISSUER, audience=AUDIENCE)
    with pytest.raises(ServiceUnavailable):
        verifier.verify(issuer.token())

    server = JwksServer(port)
    server.publish(issuer)
    server.thread.start()
    try:
        time.sleep(FIRST_FETCH_RETRY_SECONDS)
        assert verifier.verify(issuer.token("viewer")).role == "viewer"
    finally:
        server.server.shutdown()
        server.server.server_close()


@pytest.mark.parametrize("lifetime", [10**20, 86_401, 10 * 365 * 86_400])
def test_a_token_living_longer_than_the_maximum_is_refused_despite_its_signature(
    issuer: TestIssuer, verifier: TokenVerifier, lifetime: int
) -> None:
    now = int(time.time())
    token = issuer.token("admin", iat=now, nbf=now, exp=now + lifetime)

    with pytest.raises(Unauthorized, match="lifetime"):
        verifier.verify(token)


def test_a_token_of_a_day_is_still_accepted(issuer: TestIssuer, verifier: TokenVerifier) -> None:
    now = int(time.time())
    token = issuer.token("viewer", iat=now, nbf=now, exp=now + 86_400)

    assert verifier.verify(token).role == "viewer"


def test_a_closed_key_source_stops_refreshing(jwks_server, jwks_source) -> None:
    keys = jwks_source(jwks_server.url, refresh_seconds=0.1)
    deadline = time.monotonic() + 10
    while jwks_server.requests < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert jwks_server.requests >= 2  # refreshing, about once a second

    keys.close()
    time.sleep(1.5)  # the refresher wakes within a second of being closed
    fetched = jwks_server.requests
    time.sleep(2.5)

    assert jwks_server.requests == fetched
