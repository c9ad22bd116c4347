"""Attacks on every service in services.toml, directly and through the gateway.

Driven by the declaration and each service's contract, so a new service is
attacked without anyone writing a test for it: forged and tampered tokens on
every protected operation, the role matrix the contracts imply, hostile
bodies on every operation that takes one, request smuggling and header
injection on every listener. Tokens with bad claims are signed with the
gateway's real key, decrypted from its database with the development
passphrase, as an attacker holding both would do.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import socket
import time
import uuid
from dataclasses import dataclass
from typing import Any

import jwt
import psycopg2
import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from gateway.auth.roles import ROLE_SCOPES
from gateway.settings import DEVELOPMENT_KEY_PASSPHRASE
from shared.contract import Contract, Operation
from shared.services import Service, routed_services
from tests.e2e.conftest import ROLES, Stack

pytestmark = pytest.mark.e2e

SERVICES = routed_services()
PROBLEM_JSON = "application/problem+json"


@dataclass(frozen=True)
class Target:
    """One operation of one service, reachable at a base URL under a path prefix."""

    service: Service
    operation: Operation
    via: str  # "gateway" or "direct"

    def url(self, stack: Stack) -> str:
        path = re.sub(r"\{[^}]+\}", lambda _: str(uuid.uuid4()), self.operation.path)
        assert self.service.route is not None
        if self.via == "direct":
            return stack.services[self.service.name].url + path
        return (
            stack.gateway.url + self.service.route.public + path[len(self.service.route.upstream) :]
        )


def _targets(*, protected: bool | None = None, with_body: bool = False) -> list[Target]:
    found = []
    for service in SERVICES:
        assert service.route is not None
        contract = Contract.load(service.contract_path)
        for operation in contract.operations:
            if operation.method == "HEAD" or not operation.path.startswith(service.route.upstream):
                continue
            if protected is not None and operation.public == protected:
                continue
            if with_body and not _takes_body(contract, operation):
                continue
            for via in ("direct", "gateway"):
                found.append(Target(service, operation, via))
    return found


def _takes_body(contract: Contract, operation: Operation) -> bool:
    item = contract.document["paths"][operation.path][operation.method.lower()]
    return "requestBody" in item


def _id(target: Target) -> str:
    return f"{target.via}-{target.service.name}-{target.operation.method}-{target.operation.path}"


def _send(target: Target, stack: Stack, headers: dict[str, str], **kwargs: Any):
    return requests.request(
        target.operation.method, target.url(stack), headers=headers, timeout=15, **kwargs
    )


# --- token forgeries -----------------------------------------------------------------


def _segment(value: dict[str, Any]) -> str:
    raw = json.dumps(value, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


@dataclass
class Keys:
    kid: str
    private: Any
    public_pem: bytes


@pytest.fixture(scope="module")
def gateway_key(stack: Stack) -> Keys:
    """The gateway's signing key, read and decrypted the way an insider attacker would."""
    with psycopg2.connect(stack.gateway_database) as connection, connection.cursor() as cursor:
        cursor.execute(
            "SELECT kid, private_key_pem FROM signing_keys WHERE activates_at <= now()"
            " ORDER BY created_at DESC LIMIT 1"
        )
        kid, pem = cursor.fetchone()
    connection.close()
    private = serialization.load_pem_private_key(
        pem.encode(), password=DEVELOPMENT_KEY_PASSPHRASE.encode()
    )
    public_pem = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return Keys(kid, private, public_pem)


def _claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    claims = {
        "iss": "clientele-gateway",
        "aud": "clientele",
        "sub": str(uuid.uuid4()),
        "name": "mallory",
        "role": "admin",
        "scope": " ".join(ROLE_SCOPES["admin"]),
        "kind": "user",
        "iat": now,
        "nbf": now,
        "exp": now + 300,
        "jti": uuid.uuid4().hex,
    }
    claims.update(overrides)
    return {name: value for name, value in claims.items() if value is not None}


def _forgeries(stack: Stack, keys: Keys) -> dict[str, str]:
    attacker = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    attacker_jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(attacker.public_key()))
    real = stack.tokens["viewer"]
    header, payload, signature = real.split(".")
    escalated = json.loads(base64.urlsafe_b64decode(payload + "==").decode())
    escalated["scope"] = " ".join(ROLE_SCOPES["admin"])
    hs_input = f"{_segment({'alg': 'HS256', 'typ': 'JWT', 'kid': keys.kid})}.{_segment(_claims())}"
    hs_signature = hmac.new(keys.public_pem, hs_input.encode(), hashlib.sha256).digest()
    now = int(time.time())

    def signed(claims: dict[str, Any], **headers: Any) -> str:
        return jwt.encode(
            claims, keys.private, algorithm="RS256", headers={"kid": keys.kid, **headers}
        )

    return {
        "alg-none": f"{_segment({'alg': 'none', 'kid': keys.kid})}.{_segment(_claims())}.",
        "hs256-with-public-key": f"{hs_input}."
        + base64.urlsafe_b64encode(hs_signature).rstrip(b"=").decode(),
        "tampered-scope": f"{header}.{_segment(escalated)}.{signature}",
        "foreign-key-same-kid": jwt.encode(
            _claims(), attacker, algorithm="RS256", headers={"kid": keys.kid}
        ),
        "embedded-jwk": jwt.encode(
            _claims(), attacker, algorithm="RS256", headers={"kid": "mine", "jwk": attacker_jwk}
        ),
        "jku-elsewhere": jwt.encode(
            _claims(),
            attacker,
            algorithm="RS256",
            headers={"kid": "mine", "jku": "http://127.0.0.1:1/jwks.json"},
        ),
        "expired": signed(_claims(iat=now - 4000, nbf=now - 4000, exp=now - 3000)),
        "wrong-audience": signed(_claims(aud="someone-else")),
        "wrong-issuer": signed(_claims(iss="evil-gateway")),
        "absurd-lifetime": signed(_claims(exp=10**20)),
        "no-subject": signed(_claims(sub=None)),
        "garbage": "not.a.token",
    }


@pytest.mark.parametrize("target", _targets(protected=True), ids=_id)
def test_forged_and_tampered_tokens_are_refused(stack: Stack, gateway_key: Keys, target: Target):
    for name, token in _forgeries(stack, gateway_key).items():
        response = _send(target, stack, {"Authorization": f"Bearer {token}"}, json={})

        assert response.status_code == 401, (name, response.status_code, response.text[:200])
        assert response.headers["Content-Type"] == PROBLEM_JSON, name


@pytest.mark.parametrize("target", _targets(protected=True), ids=_id)
def test_no_token_is_401(stack: Stack, target: Target):
    response = _send(target, stack, {}, json={})

    assert response.status_code == 401
    assert response.headers["Content-Type"] == PROBLEM_JSON


# --- the role matrix the contracts imply ----------------------------------------------


@pytest.mark.parametrize("target", _targets(protected=True), ids=_id)
def test_each_role_reaches_exactly_the_operations_its_scopes_allow(stack: Stack, target: Target):
    for role in ROLES:
        response = _send(target, stack, stack.headers(role), json={})
        if target.operation.scope in ROLE_SCOPES[role]:
            # Allowed: whatever the made-up ids and empty body earn, it is not a refusal.
            assert response.status_code not in (401, 403), (role, response.text[:200])
        else:
            assert response.status_code == 403, (role, response.status_code)


# --- hostile bodies ---------------------------------------------------------------------

LIMIT = 1_048_576


@pytest.mark.parametrize("target", _targets(protected=True, with_body=True), ids=_id)
def test_hostile_bodies_get_clear_4xx_problems(stack: Stack, target: Target):
    admin = stack.headers("admin")
    json_type = {**admin, "Content-Type": "application/json"}
    # An upload operation declares its own, larger limit (x-max-body-bytes).
    limit = target.operation.max_body_bytes or LIMIT
    cases = {
        "malformed": (json_type, b'{"name": ', {400}),
        "not-json": ({**admin, "Content-Type": "text/plain"}, b"hello", {415}),
        "array": (json_type, b"[1, 2, 3]", {422}),
        "deeply-nested": (json_type, b"[" * 100_000 + b"]" * 100_000, {400}),
        "huge-number": (json_type, b'{"name": ' + b"9" * 5000 + b"}", {400, 422}),
        "oversize": (json_type, b'{"name": "' + b"x" * (limit + 10) + b'"}', {413}),
        "lone-surrogate": (json_type, b'{"name": "\\ud800"}', {422}),
    }
    for name, (headers, body, statuses) in cases.items():
        response = _send(target, stack, headers, data=body)

        # Some operations refuse earlier (404 for a made-up id, 428 without If-Match):
        # still a clear 4xx problem, never a 5xx.
        assert response.status_code < 500, (name, response.status_code)
        assert response.headers["Content-Type"] == PROBLEM_JSON, name
        if response.status_code not in (404, 428):
            assert response.status_code in statuses, (name, response.status_code, response.text)


# --- the wire: smuggling and header injection -----------------------------------------


def _listeners(stack: Stack) -> list[tuple[str, int]]:
    return [("gateway", stack.gateway.port)] + [
        (name, process.port) for name, process in stack.services.items()
    ]


def _raw(port: int, request: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as connection:
        connection.sendall(request)
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = connection.recv(65536)
            if not chunk:
                break
            data += chunk
    return data


SMUGGLING = {
    "cl-and-te": b"POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n"
    b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /admin HTTP/1.1\r\n\r\n",
    "two-lengths": b"POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n"
    b"Content-Length: 40\r\n\r\nabcd",
    "obfuscated-te": b"POST /healthz HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: xchunked\r\n\r\n",
    "te-with-space": b"POST /healthz HTTP/1.1\r\nHost: x\r\nTransfer-Encoding : chunked\r\n\r\n",
}


@pytest.mark.parametrize("attack", sorted(SMUGGLING))
def test_request_smuggling_is_refused_on_every_listener(stack: Stack, attack: str):
    for name, port in _listeners(stack):
        answer = _raw(port, SMUGGLING[attack])
        status = int(answer.split(b" ", 2)[1])

        assert status in (400, 501), (name, attack, answer[:200])
        assert b"application/problem+json" in answer, (name, attack)


@pytest.mark.parametrize("value", ["a b", "<script>", "x" * 200, "id\u00e9"])
def test_a_hostile_request_id_is_replaced_not_echoed(stack: Stack, value: str):
    for name, port in _listeners(stack):
        response = requests.get(
            f"http://127.0.0.1:{port}/healthz",
            headers={"X-Request-ID": value.encode("utf-8")},
            timeout=10,
        )
        assert response.headers["X-Request-ID"] != value, name
        assert re.fullmatch(r"[0-9a-f]{32}", response.headers["X-Request-ID"]), name
