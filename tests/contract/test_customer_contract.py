"""The customer API held to its contract (``customer_service/openapi.yaml``).

Schemathesis generates valid and invalid requests for every operation from the
document, sends them to the app (WSGI) with an admin token, and checks each answer
against the document: no 5xx, documented status codes, content types, headers and
bodies, invalid input refused, auth enforced. A stateful run follows the documented
links (create, read, patch with the ETag, delete, restore, notes). The remaining
tests keep the document's routes, fields and rules equal to the app's and models'.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterator
from typing import Any

import email_validator
import iso3166
import jsonschema_rs
import pytest
import yaml
from flask import Flask
from hypothesis import HealthCheck, settings
from pydantic import BaseModel
from schemathesis import Case
from schemathesis.checks import positive_data_acceptance

from customer_service.app import OPENAPI_PATH, create_app
from customer_service.csv_files import EXPORT_COLUMNS, IMPORTABLE_FIELDS, TAGS_FIELD
from customer_service.fields import MAX_ATTRIBUTE_DEPTH
from customer_service.import_schemas import (
    MAX_MAPPED_COLUMNS,
    ImportCreate,
    ImportJobRead,
    ImportRowQuery,
    ImportRowRead,
    RowError,
)
from customer_service.schemas import (
    DEFAULT_PAGE_SIZE,
    MAX_PAGE_SIZE,
    PHONE_PATTERN,
    CustomerCreate,
    CustomerExportQuery,
    CustomerQuery,
    CustomerRead,
    CustomerUpdate,
    NoteCreate,
    NoteQuery,
)
from customer_service.settings import Settings
from shared.text import label_pattern, text_pattern
from tests.support import contracts
from tests.support.service_fixtures import serving, sql_on
from tests.support.tokens import TestIssuer

#: Checks along the documented links: a created customer can be read, a deleted one cannot.
# Along links, schemathesis cuts the recursive `attributes` schema (JsonValue) at a
# depth and generates anything below it, NUL characters included; the service rightly
# refuses those, so there "schema-valid" is not what the document says. The
# operation-by-operation run keeps that check.
WORKFLOW_CHECKS = [
    *(check for check in contracts.CHECKS if check is not positive_data_acceptance),
    *contracts.LINK_CHECKS,
]

schema, APP = contracts.late_bound_schema(OPENAPI_PATH, max_examples=25)
# Generating and sending every case takes minutes on a loaded 2-core machine under coverage.
pytestmark = pytest.mark.timeout(360)
schema.config.operations = contracts.valid_requests_may_get(
    # A cursor is opaque: every string is schema-valid, but only one the service issued
    # (for the same sort) is accepted; any other is 400 naming `cursor`, as the contract
    # says.
    (
        ["listCustomers", "listNotes", "listImportRows"],
        ["2xx", "400", "401", "403", "404", "409", "429"],
    ),
    # A schema-valid upload is rarely importable: the mapping must name columns of the
    # file's own header and the content must be CSV with a data row (422 naming them).
    (["createImport"], ["2xx", "401", "403", "413", "422", "429"]),
    # Likewise every string is a schema-valid If-Match; only the current ETag (or *)
    # matches, and any other is 412, as documented.
    (
        ["updateCustomer", "deleteCustomer", "restoreCustomer"],
        ["2xx", "401", "403", "404", "409", "412", "429"],
    ),
)
# A missing If-Match is 428 Precondition Required (RFC 6585), the status made for it.
schema.config.checks.missing_required_header.expected_statuses = [400, 406, 428]


@pytest.fixture(scope="module")
def contract_database(make_database: Callable[[str], str]) -> str:
    """A database of its own: fuzzing fills it with odd customers."""
    return make_database("customer_service")


@pytest.fixture(scope="module")
def contract_app(contract_database: str, contract_issuer: TestIssuer) -> Iterator[Flask]:
    """The customer API on the contract database."""
    app = create_app(
        Settings(CUSTOMER_DATABASE_URL=contract_database), key_source=contract_issuer.key_source
    )
    with serving(app), APP.serving(app):
        yield app


@schema.parametrize()
@settings(deadline=None, suppress_health_check=list(HealthCheck))
@pytest.mark.usefixtures("contract_app")
def test_every_operation_keeps_its_contract(
    case: Case[Any], contract_issuer: TestIssuer, contract_headers: dict[str, str]
) -> None:
    checks = contracts.CHECKS
    if case.body is not None and not _valid_body(case):
        # The generator does not apply every keyword (propertyNames under
        # additionalProperties), so a "positive" body can break the document: only
        # a body a JSON Schema validator finds valid must be accepted.
        checks = [check for check in contracts.CHECKS if check is not positive_data_acceptance]
    # An idempotency key is the caller's (the token's subject): a case that carries one
    # gets a caller of its own, so keys the generator repeats with other bodies stay apart.
    headers = contract_issuer.headers() if "Idempotency-Key" in (case.headers or {}) else None
    case.call_and_validate(headers=headers or contract_headers, checks=checks)


def _valid_body(case: Case[Any]) -> bool:
    """Whether ``case.body`` is valid for its operation's request schema, per the document."""
    validator = _body_validator(case.operation.path, case.operation.method, case.media_type)
    if validator is None:
        return True  # no body to speak of
    try:
        return bool(validator.is_valid(case.body))
    except ValueError:
        return False  # lone surrogates: not even a string to the validator, so not valid


@functools.cache
def _body_validator(path: str, method: str, media_type: str | None) -> Any:
    item = DOCUMENT["paths"][path][method.lower()]
    content = item.get("requestBody", {}).get("content", {})
    if not content:
        return None
    media = content.get(media_type) or next(iter(content.values()))
    schema = {**media["schema"], "components": DOCUMENT["components"]}
    return jsonschema_rs.validator_for(_without_nullable(schema))


def _without_nullable(node: Any) -> Any:
    """OpenAPI 3.0's ``nullable: true`` as JSON Schema says it (``null`` allowed)."""
    if isinstance(node, list):
        return [_without_nullable(item) for item in node]
    if not isinstance(node, dict):
        return node
    converted = {key: _without_nullable(value) for key, value in node.items() if key != "nullable"}
    if isinstance(converted.get("pattern"), str):
        # Rust's regex has no surrogates (a Rust string never holds one): drop the range.
        converted["pattern"] = converted["pattern"].replace("\\ud800-\\udfff", "")
    if node.get("nullable"):
        return {"anyOf": [converted, {"type": "null"}]}
    return converted


def test_workflows_along_the_documented_links_keep_the_contract(
    contract_app: Flask, contract_headers: dict[str, str], contract_database: str
) -> None:
    """Create, read, patch (with the ETag it got), delete, restore and note, as linked."""
    with sql_on(contract_database) as query:
        contracts.run_linked_workflows(
            schema,
            headers=contract_headers,
            checks=WORKFLOW_CHECKS,
            max_examples=30,
            step_count=6,
            # Each scenario starts from empty tables, so replaying it gives the same answers.
            before_each=lambda: query("TRUNCATE customers, notes, idempotency_keys"),
        )


DOCUMENT = yaml.safe_load(OPENAPI_PATH.read_text())
COMPONENTS = DOCUMENT["components"]["schemas"]


def test_the_app_serves_this_document(contract_app: Flask) -> None:
    assert contract_app.test_client().get("/openapi.json").get_json() == DOCUMENT


def test_every_route_is_documented_and_every_documented_route_exists(contract_app: Flask) -> None:
    assert contracts.app_routes(contract_app) == contracts.document_routes(DOCUMENT)


CONSTRAINTS = ("minLength", "maxLength", "pattern", "enum", "maxItems", "minimum", "maximum")


def _resolve(spec: dict[str, Any]) -> dict[str, Any]:
    if "$ref" in spec:
        return dict(COMPONENTS[spec["$ref"].rsplit("/", 1)[-1]])
    return spec


def _rules(spec: dict[str, Any]) -> dict[str, Any]:
    """The constraints of a property (of its non-null branch), with its items' ones."""
    branches = [branch for branch in spec.get("anyOf", [spec]) if branch.get("type") != "null"]
    (value,) = branches
    value = _resolve(value)
    rules = {key: value[key] for key in CONSTRAINTS if key in value}
    if "items" in value:
        rules["items"] = _rules(value["items"])
    return rules


def _assert_documented(stated: dict[str, Any], documented: dict[str, Any], field: str) -> None:
    """Every rule in ``stated`` is in ``documented`` with the same value (items: the same)."""
    for key, value in stated.items():
        if key == "items":
            _assert_documented(value, documented.get("items", {}), f"{field}.items")
        else:
            assert documented.get(key) == value, (field, key)


@pytest.mark.parametrize(
    ("model", "name"),
    [
        (CustomerCreate, "CustomerCreate"),
        (CustomerUpdate, "CustomerUpdate"),
        (NoteCreate, "NoteCreate"),
        (ImportCreate, "ImportCreate"),
    ],
)
def test_documented_request_bodies_match_the_models(model: type[BaseModel], name: str) -> None:
    documented, generated = COMPONENTS[name], model.model_json_schema()

    assert documented["additionalProperties"] is False
    assert set(documented["properties"]) == set(generated["properties"])
    assert set(documented.get("required", [])) == set(generated.get("required", []))
    for field, spec in generated["properties"].items():
        if field == "country":
            continue  # an enum of the codes that exist, held to the model's check below
        documented_rules = _rules(documented["properties"][field])
        # Every rule the model states must be documented with the same value.
        _assert_documented(_rules(spec), documented_rules, field)


def test_documented_country_codes_are_those_the_service_accepts() -> None:
    documented = set(COMPONENTS["CountryCode"]["enum"])

    assert documented == set(iso3166.countries_by_alpha2) | {
        code.lower() for code in iso3166.countries_by_alpha2
    }


@pytest.mark.parametrize(
    ("path", "pattern"),
    [
        (("CustomerCreate", "name"), label_pattern()),
        (("CustomerUpdate", "segment"), label_pattern()),
        (("NoteCreate", "body"), text_pattern()),
    ],
)
def test_documented_text_patterns_are_the_services_own(path, pattern) -> None:
    schema_name, field = path
    assert COMPONENTS[schema_name]["properties"][field]["pattern"] == pattern


def test_documented_special_use_email_domains_are_the_validators() -> None:
    refused = COMPONENTS["CustomerCreate"]["properties"]["email"]["not"]["pattern"]

    for name in email_validator.SPECIAL_USE_DOMAIN_NAMES:
        assert re.search(refused, f"ada@host.{name}")
        assert re.search(refused, f"ada@{name.upper()}")
    assert not re.search(refused, "ada@example.com")


@pytest.mark.parametrize("name", ["CustomerCreate", "CustomerUpdate"])
def test_documented_phone_pattern_and_page_size_are_the_models(name: str) -> None:
    # pydantic leaves rules that follow a validator out of its JSON Schema; compare directly.
    limit = DOCUMENT["components"]["parameters"]["Limit"]["schema"]

    assert COMPONENTS[name]["properties"]["phone"]["pattern"] == PHONE_PATTERN
    assert (limit["minimum"], limit["maximum"], limit["default"]) == (
        1,
        MAX_PAGE_SIZE,
        DEFAULT_PAGE_SIZE,
    )


def test_documented_customer_matches_what_the_api_returns() -> None:
    documented = COMPONENTS["Customer"]

    assert documented["required"] == list(CustomerRead.model_fields)
    assert list(documented["properties"]) == list(CustomerRead.model_fields)


@pytest.mark.parametrize(
    ("model", "path"),
    [
        (CustomerQuery, "/customers"),
        (NoteQuery, "/customers/{customer_id}/notes"),
        (CustomerExportQuery, "/customers/export"),
        (ImportRowQuery, "/customers/imports/{import_id}/rows"),
    ],
)
def test_documented_query_parameters_match_the_models(model: type[BaseModel], path: str) -> None:
    assert set(contracts.query_parameters(DOCUMENT, path)) == set(model.model_fields)


def test_documented_attribute_nesting_ends_where_the_service_stops() -> None:
    depth, schema_name = 1, "AttributeValue2"
    while schema_name in COMPONENTS:
        depth += 1
        branches = COMPONENTS[schema_name]["anyOf"]
        deeper = [branch for branch in branches if branch.get("type") in ("array", "object")]
        if not deeper:
            break
        schema_name = deeper[0]["items"]["$ref"].rsplit("/", 1)[-1]
    # Containers are allowed down to MAX_ATTRIBUTE_DEPTH; below them only scalars.
    assert depth == MAX_ATTRIBUTE_DEPTH + 1


@pytest.mark.parametrize(
    ("model", "name"),
    [(ImportJobRead, "ImportJob"), (ImportRowRead, "ImportRow"), (RowError, "ImportRowError")],
)
def test_documented_import_answers_match_the_models(model: type[BaseModel], name: str) -> None:
    documented = COMPONENTS[name]

    assert documented["additionalProperties"] is False
    assert documented["required"] == list(model.model_fields)
    assert list(documented["properties"]) == list(model.model_fields)


def test_documented_mapping_fields_and_export_columns_are_the_services() -> None:
    mapping = COMPONENTS["ImportCreate"]["properties"]["mapping"]
    fields = re.fullmatch(r"\^\((.*)\|attributes.*\)\$", mapping["additionalProperties"]["pattern"])

    assert fields is not None
    assert fields.group(1).split("|") == [*IMPORTABLE_FIELDS, TAGS_FIELD]
    assert mapping["maxProperties"] == MAX_MAPPED_COLUMNS
    # The export's columns are a customer's fields, in the order the document lists them.
    assert list(EXPORT_COLUMNS) == COMPONENTS["Customer"]["required"]


def test_the_export_takes_the_lists_filters() -> None:
    listed = contracts.query_parameters(DOCUMENT, "/customers")
    exported = contracts.query_parameters(DOCUMENT, "/customers/export")

    assert {name: listed[name] for name in exported} == exported
    assert set(listed) - set(exported) == {"limit", "cursor"}
