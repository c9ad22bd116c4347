"""Health endpoints and the gateway's own contract."""

from __future__ import annotations

import re

import jsonschema_rs

OWN_PATHS = re.compile(
    r"^(/api/v1/auth|/\.well-known|/healthz$|/readyz$|/openapi\.json$|/api/v1/openapi\.json$)"
)


def test_readiness_reports_postgres_and_redis(client):
    response = client.get("/readyz")

    assert response.status_code == 200
    assert response.get_json() == {
        "status": "ready",
        "service": "gateway",
        "checks": {"postgres": "ok", "redis": "ok"},
    }


def test_readiness_names_the_dependency_that_is_down(make_app):
    client = make_app(redis_url="redis://127.0.0.1:1/0").test_client()

    response = client.get("/readyz")

    assert response.status_code == 503
    checks = response.get_json()["checks"]
    assert checks["postgres"] == "ok"
    assert checks["redis"].startswith("unreachable")


def test_every_gateway_endpoint_is_in_the_contract(app, client):
    document = client.get("/openapi.json").get_json()
    documented = {
        (path, method.upper())
        for path, operations in document["paths"].items()
        for method in operations
        if method != "parameters"
    }

    served = {
        (re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule), method)
        for rule in app.url_map.iter_rules()
        if OWN_PATHS.match(rule.rule)
        for method in rule.methods - {"HEAD", "OPTIONS"}
    }

    assert served == documented


def test_every_response_carries_a_request_id(client):
    response = client.post("/api/v1/auth/token", json={"username": "x", "password": "y"})

    assert response.status_code == 401
    assert response.headers["X-Request-ID"]


def _schema_checker(client):
    document = client.get("/openapi.json").get_json()

    def check(instance, name: str) -> None:
        schema = {"$ref": f"#/components/schemas/{name}", "components": document["components"]}
        errors = [error.message for error in jsonschema_rs.Draft202012Validator(schema)
                  .iter_errors(instance)]  # fmt: skip
        assert errors == [], f"{name}: {errors}"

    return check


def test_answers_match_the_documented_schemas(client, login, auth_headers):
    check = _schema_checker(client)
    admin = auth_headers("admin")

    check(login("agent"), "TokenResponse")
    check(client.get("/.well-known/jwks.json").get_json(), "JwkSet")
    user = client.post(
        "/api/v1/auth/users",
        json={"username": "documented", "password": "long-enough-pass", "role": "viewer"},
        headers=admin,
    ).get_json()
    check(user, "User")
    key = client.post(
        "/api/v1/auth/api-keys",
        json={"name": "k", "scopes": ["customers:read"], "expires_at": "2999-01-01T00:00:00Z"},
        headers=admin,
    ).get_json()
    check(key, "ApiKeyCreated")
    for listed in client.get("/api/v1/auth/api-keys", headers=admin).get_json()["items"]:
        check(listed, "ApiKey")
    check(client.post("/api/v1/auth/signing-keys/rotate", headers=admin).get_json(), "Rotation")
    check(client.post("/api/v1/auth/users", json={}, headers=admin).get_json(), "Problem")
