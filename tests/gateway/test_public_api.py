"""The public API's one contract (``/api/v1/openapi.json``), held to every service's own.

Each public operation of each declared contract must appear under its public
path with the same parameters, request body and responses: both sides are
compared with every ``$ref`` resolved, so a renamed component changes nothing,
and with OpenAPI 3.0's ``nullable`` read as 3.1's ``"null"`` type. The document
must be valid OpenAPI 3.1 (the specification's own JSON Schema, as schemathesis
ships it) with every schema valid JSON Schema 2020-12 and every reference
resolvable.
"""

from __future__ import annotations

import copy
from typing import Any

import jsonschema
import pytest
from schemathesis.specs.openapi.definitions import OPENAPI_31

from gateway.apidocs.contract import Source, public_api_document, upgraded_to_openapi_31
from shared.contract import HTTP_METHODS, Contract, load_document
from shared.services import Service, load_services
from shared.web.app import OPERATIONAL_PATHS

DOCUMENT = public_api_document()
SERVICES = load_services()
SECURITY_SCHEMES = {"bearerAuth", "apiKey", "oauth2"}


def _resolve(document: dict[str, Any], reference: str) -> Any:
    assert reference.startswith("#/"), reference
    node: Any = document
    for part in reference[2:].split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def dereferenced(node: Any, document: dict[str, Any], seen: tuple[str, ...] = ()) -> Any:
    """``node`` with every ``$ref`` replaced by what it names (a cycle by a marker)."""
    if isinstance(node, list):
        return [dereferenced(item, document, seen) for item in node]
    if not isinstance(node, dict):
        return node
    reference = node.get("$ref")
    if isinstance(reference, str):
        if reference in seen:
            return {"$cycle": True}
        target = dereferenced(_resolve(document, reference), document, (*seen, reference))
        siblings = {key: value for key, value in node.items() if key != "$ref"}
        if not siblings:
            return target
        return {**target, **dereferenced(siblings, document, seen)}
    return {key: dereferenced(value, document, seen) for key, value in node.items()}


def _nullable_marked(node: Any, *, source: bool) -> Any:
    """Where a schema allows null, ``"$nullable": True`` in place of how it says so.

    A 3.0 source says ``nullable: true``; the public document says it with a
    ``"null"`` type, a ``None`` in ``enum``, or ``anyOf: [..., {type: "null"}]``.
    """
    if isinstance(node, list):
        return [_nullable_marked(item, source=source) for item in node]
    if not isinstance(node, dict):
        return node
    node = {key: _nullable_marked(value, source=source) for key, value in node.items()}
    nullable = False
    if source:
        nullable = bool(node.pop("nullable", False))
        if nullable and isinstance(node.get("enum"), list):
            node["enum"] = [value for value in node["enum"] if value is not None]
    else:
        kind = node.get("type")
        if isinstance(kind, list) and "null" in kind:
            nullable = True
            rest = [item for item in kind if item != "null"]
            node["type"] = rest[0] if len(rest) == 1 else rest
            if isinstance(node.get("enum"), list):
                node["enum"] = [value for value in node["enum"] if value is not None]
        for keyword in ("anyOf", "oneOf"):
            options = node.get(keyword)
            if isinstance(options, list) and {"type": "null"} in options:
                nullable = True
                node[keyword] = [option for option in options if option != {"type": "null"}]
                if len(node[keyword]) == 1 and set(node) <= {keyword, "description", "title"}:
                    inner = node.pop(keyword)[0]
                    node = {**inner, **node}
    if nullable:
        node["$nullable"] = True
    return node


def _effective_parameters(path_item: dict[str, Any], operation: dict[str, Any]) -> list[Any]:
    by_key = {(p["name"], p["in"]): p for p in path_item.get("parameters", [])}
    by_key.update({(p["name"], p["in"]): p for p in operation.get("parameters", [])})
    return sorted(by_key.values(), key=lambda parameter: (parameter["in"], parameter["name"]))


def _shape(document: dict[str, Any], path: str, method: str, *, source: bool) -> dict[str, Any]:
    """An operation's parameters, request body and responses, every ``$ref`` resolved."""
    item = dereferenced(document["paths"][path], document)
    operation = item[method]
    shape = {
        "parameters": _effective_parameters(item, operation),
        "requestBody": operation.get("requestBody"),
        "responses": operation["responses"],
    }
    if source and str(document["openapi"]).startswith("3.0"):
        return _nullable_marked(shape, source=True)
    return _nullable_marked(shape, source=False)


def _public_operations(service: Service) -> list[tuple[str, str, str]]:
    """``(path, method, public path)`` of each operation a client can call."""
    document = load_document(service.contract_path)
    found = []
    for path, item in document["paths"].items():
        if service.route is None:
            if not path.startswith(("/api/", "/.well-known/")):
                continue
            public = path
        elif path.startswith(service.route.upstream):
            public = service.route.public + path[len(service.route.upstream) :]
        else:
            continue
        found += [(path, method, public) for method in item if method in HTTP_METHODS]
    return found


CASES = [
    pytest.param(service, path, method, public, id=f"{service.name}-{method}-{path}")
    for service in SERVICES
    for path, method, public in _public_operations(service)
]


def test_every_routed_service_and_the_gateway_have_operations_here():
    assert {case.values[0].name for case in CASES} == {service.name for service in SERVICES}


@pytest.mark.parametrize(("service", "path", "method", "public"), CASES)
def test_each_operation_is_under_its_public_path_as_its_contract_says(
    service, path, method, public
):
    source = load_document(service.contract_path)

    assert public in DOCUMENT["paths"], public
    assert method in DOCUMENT["paths"][public]
    assert _shape(DOCUMENT, public, method, source=False) == _shape(
        source, path, method, source=True
    )


@pytest.mark.parametrize(("service", "path", "method", "public"), CASES)
def test_each_operation_needs_the_scope_its_contract_names_by_any_scheme(
    service, path, method, public
):
    operation = Contract.load(service.contract_path).match(method, path)
    assert operation is not None

    security = DOCUMENT["paths"][public][method]["security"]

    if operation.public:
        assert security == []
    else:
        assert {scheme for requirement in security for scheme in requirement} == SECURITY_SCHEMES
        assert all(scopes == [operation.scope] for req in security for scopes in req.values())


def test_nothing_else_is_published():
    published = {
        (path, method)
        for path, item in DOCUMENT["paths"].items()
        for method in item
        if method in HTTP_METHODS
    }

    assert published == {(public, method) for _, _, method, public in (c.values for c in CASES)}
    for path in DOCUMENT["paths"]:
        assert path.startswith(("/api/v1/", "/.well-known/")), path
        assert not path.endswith(("/healthz", "/readyz", "/metrics")), path
        # This document's own path is the one contract published.
        assert path == "/api/v1/openapi.json" or not path.endswith(OPERATIONAL_PATHS), path
        assert not path.startswith("/docs"), path


def test_it_is_valid_openapi_3_1():
    jsonschema.Draft202012Validator(OPENAPI_31).validate(DOCUMENT)
    assert DOCUMENT["openapi"] == "3.1.0"


def test_every_schema_is_valid_json_schema_and_every_reference_resolves():
    def schemas(node: Any) -> list[Any]:
        found = []
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "schema" or (key == "schemas" and node is DOCUMENT["components"]):
                    found += list(value.values()) if key == "schemas" else [value]
                else:
                    found += schemas(value)
        elif isinstance(node, list):
            for item in node:
                found += schemas(item)
        return found

    every_schema = schemas(DOCUMENT)
    assert len(every_schema) > 100
    for schema in every_schema:
        jsonschema.Draft202012Validator.check_schema(schema)
    dereferenced(DOCUMENT["paths"], DOCUMENT)  # raises KeyError on a dangling $ref
    dereferenced(DOCUMENT["components"], DOCUMENT)


def test_operation_ids_are_unique():
    ids = [
        operation["operationId"]
        for item in DOCUMENT["paths"].values()
        for method, operation in item.items()
        if method in HTTP_METHODS
    ]

    assert len(ids) == len(set(ids))


def test_the_security_schemes_hold_every_scope_of_every_contract():
    schemes = DOCUMENT["components"]["securitySchemes"]
    every_scope = {
        scope: description
        for service in SERVICES
        for scope, description in Contract.load(service.contract_path).scopes().items()
    }

    assert set(schemes) == SECURITY_SCHEMES
    assert schemes["bearerAuth"] == {**schemes["bearerAuth"], "type": "http", "scheme": "bearer"}
    assert schemes["apiKey"]["in"] == "header"
    assert schemes["apiKey"]["name"] == "X-API-Key"
    assert schemes["oauth2"]["flows"]["password"]["scopes"] == every_scope


# --- merging, on contracts made for the purpose ---------------------------------------------


def _contract(paths: dict[str, Any], schemas: dict[str, Any], version: str = "3.1.0"):
    return {
        "openapi": version,
        "info": {"title": "t", "version": "1"},
        "paths": paths,
        "components": {"schemas": schemas},
    }


def _get(schema_name: str, operation_id: str) -> dict[str, Any]:
    return {
        "get": {
            "operationId": operation_id,
            "security": [{"oauth2": ["things:read"]}],
            "responses": {
                "200": {
                    "description": "ok",
                    "content": {
                        "application/json": {
                            "schema": {"$ref": f"#/components/schemas/{schema_name}"}
                        }
                    },
                }
            },
        }
    }


def test_a_name_defined_alike_is_kept_and_one_defined_otherwise_is_prefixed():
    problem = {"type": "object", "properties": {"detail": {"$ref": "#/components/schemas/Text"}}}
    gateway = Source(
        "gateway",
        _contract(
            {"/api/v1/me": _get("Problem", "sameId"), "/healthz": _get("Health", "health")},
            {"Problem": problem, "Text": {"type": "string"}, "Health": {"type": "object"}},
        ),
        None,
    )
    alike = Source(
        "alike",
        _contract(
            {"/things": _get("Problem", "listThings")},
            {"Problem": copy.deepcopy(problem), "Text": {"type": "string"}},
        ),
        ("/things", "/api/v1/things"),
    )
    different = Source(
        "other",
        _contract(
            {"/other": _get("Problem", "sameId"), "/healthz": _get("Problem", "health")},
            {"Problem": copy.deepcopy(problem), "Text": {"type": "string", "maxLength": 9}},
        ),
        ("/other", "/api/v1/other"),
    )

    document = public_api_document([gateway, alike, different])

    schemas = document["components"]["schemas"]
    assert set(schemas) == {"Problem", "Text", "other.Problem", "other.Text"}
    assert schemas["other.Problem"]["properties"]["detail"] == {
        "$ref": "#/components/schemas/other.Text"
    }
    assert set(document["paths"]) == {"/api/v1/me", "/api/v1/things", "/api/v1/other"}
    other = document["paths"]["/api/v1/other"]["get"]
    assert other["operationId"] == "other.sameId"
    assert document["paths"]["/api/v1/me"]["get"]["operationId"] == "sameId"
    schema = other["responses"]["200"]["content"]["application/json"]["schema"]
    assert schema == {"$ref": "#/components/schemas/other.Problem"}
    things = document["paths"]["/api/v1/things"]["get"]["responses"]["200"]
    assert things["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Problem"
    }


def test_openapi_3_0_schemas_are_said_in_3_1_words():
    schema = {
        "type": "object",
        "properties": {
            "name": {"type": "string", "nullable": True},
            "status": {"type": "string", "enum": ["a", "b"], "nullable": True},
            "either": {"nullable": True, "anyOf": [{"type": "number"}, {"type": "boolean"}]},
            "ref": {"nullable": True, "description": "d", "allOf": [{"type": "integer"}]},
            "count": {"type": "integer", "minimum": 0, "exclusiveMinimum": True},
            "plain": {"type": "integer", "nullable": False},
        },
    }

    upgraded = upgraded_to_openapi_31(schema)["properties"]

    assert upgraded["name"] == {"type": ["string", "null"]}
    assert upgraded["status"] == {"type": ["string", "null"], "enum": ["a", "b", None]}
    assert upgraded["either"]["anyOf"][-1] == {"type": "null"}
    assert upgraded["ref"] == {
        "description": "d",
        "anyOf": [{"allOf": [{"type": "integer"}]}, {"type": "null"}],
    }
    assert upgraded["count"] == {"type": "integer", "exclusiveMinimum": 0}
    assert upgraded["plain"] == {"type": "integer"}
    for value in upgraded.values():
        jsonschema.Draft202012Validator.check_schema(value)


# --- served by the gateway --------------------------------------------------------------------


def test_the_public_contract_is_public_and_is_this_document(client):
    response = client.get("/api/v1/openapi.json")

    assert response.status_code == 200
    assert response.mimetype == "application/json"
    assert response.get_json() == DOCUMENT
    assert response.headers["Cache-Control"].startswith("public")
    assert "RateLimit-Limit" in response.headers


def test_the_public_contract_answers_304_to_its_etag(client):
    etag = client.get("/api/v1/openapi.json").headers["ETag"]

    again = client.get("/api/v1/openapi.json", headers={"If-None-Match": etag})
    other = client.get("/api/v1/openapi.json", headers={"If-None-Match": '"something-else"'})

    assert etag.startswith('"')
    assert len(etag) > 10
    assert again.status_code == 304
    assert again.data == b""
    assert other.status_code == 200


def test_the_gateway_still_serves_its_own_contract_at_openapi_json(client):
    own = client.get("/openapi.json").get_json()

    assert own["info"]["title"] == "Clientele gateway"
    assert "/api/v1/customers" not in own["paths"]
    assert "/docs" not in own["paths"]
