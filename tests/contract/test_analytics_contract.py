"""The analytics API held to its contract (``analytics_service/openapi.yaml``).

Schemathesis generates valid and invalid requests for every operation from the
document, sends them to the app (WSGI) with an admin token, and checks each answer
against the document with every check it has, "schema-valid requests are
accepted" included: no 5xx, documented statuses, content types, headers and
bodies, invalid input refused, auth enforced. Reconcile runs for real, against
the real customer service on a socket of its own. The remaining tests keep the
document's routes, parameters and rules equal to the app's and models'.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import schemathesis
import yaml
from flask import Flask
from hypothesis import HealthCheck, settings
from pydantic import BaseModel
from schemathesis import Case
from schemathesis.checks import (
    allow_header_conformance,
    content_type_conformance,
    ignored_auth,
    missing_required_header,
    negative_data_rejection,
    not_a_server_error,
    positive_data_acceptance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
    unsupported_method,
)
from schemathesis.config import ProjectConfig

from analytics_service.app import DATABASE_EXTENSION, OPENAPI_PATH, create_app
from analytics_service.schemas import (
    DEFAULT_BUCKETS,
    MAX_BUCKETS,
    Breakdown,
    BreakdownQuery,
    ReconcileReport,
    Summary,
    SummaryQuery,
    Timeseries,
    TimeseriesQuery,
)
from analytics_service.settings import Settings
from shared.text import label_pattern
from tests.analytics_service.customer_source import CustomerServiceThread
from tests.support.tokens import TestIssuer

#: Every check schemathesis has for one response, "schema-valid requests are accepted" included.
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
    negative_data_rejection,
    positive_data_acceptance,
    ignored_auth,
    missing_required_header,
    unsupported_method,
    allow_header_conformance,
]
HTTP_METHODS = {"get", "put", "post", "patch", "delete"}


class LateBoundApp:
    """A WSGI app forwarding to the app a fixture builds later (see the customer contract)."""

    def __init__(self) -> None:
        self.app: Flask | None = None

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        assert self.app is not None, "the contract_app fixture is not active"
        return self.app(environ, start_response)


APP = LateBoundApp()
schema = schemathesis.openapi.from_path(OPENAPI_PATH)
schema.app = APP
schema.config.generation.update(max_examples=25)
# Each date is schema-valid alone, but a series may not run backwards nor cover more than
# 1096 days: those are 422 naming `from`, as the document says.
schema.config.operations = ProjectConfig.from_dict(
    {
        "operations": [
            {
                "include-operation-id": ["getTimeseries"],
                "checks": {
                    "positive_data_acceptance": {"expected-statuses": ["2xx", "401", "403", "422"]}
                },
            }
        ]
    }
).operations


@pytest.fixture(scope="module")
def contract_issuer() -> TestIssuer:
    """Signs the admin token every generated request carries (and reconcile forwards)."""
    return TestIssuer()


@pytest.fixture(scope="module")
def contract_source(
    make_database: Callable[[str], str], contract_issuer: TestIssuer
) -> Iterator[CustomerServiceThread]:
    """The real customer service reconcile reads, with a customer in it."""
    source = CustomerServiceThread(make_database("customer_service"), contract_issuer)
    source.create(country="FR", tags=["vip"])
    yield source
    source.stop()


@pytest.fixture(scope="module")
def contract_app(
    make_database: Callable[[str], str],
    contract_issuer: TestIssuer,
    contract_source: CustomerServiceThread,
) -> Iterator[Flask]:
    """The analytics API on a database of its own, finding ``contract_source``."""
    app = create_app(
        Settings(
            ANALYTICS_DATABASE_URL=make_database("analytics_service"),
            DISCOVERY_STATIC=f"customer_service={contract_source.url}",
        ),
        key_source=contract_issuer.key_source,
    )
    APP.app = app
    yield app
    APP.app = None
    app.extensions[DATABASE_EXTENSION].close()


@schema.parametrize()
@settings(deadline=None, suppress_health_check=list(HealthCheck))
@pytest.mark.usefixtures("contract_app")
def test_every_operation_keeps_its_contract(case: Case[Any], contract_issuer: TestIssuer) -> None:
    case.call_and_validate(headers=contract_issuer.headers(), checks=CHECKS)


def test_the_app_serves_this_document(contract_app: Flask) -> None:
    served = contract_app.test_client().get("/openapi.json")

    assert served.get_json() == yaml.safe_load(OPENAPI_PATH.read_text())


DOCUMENT = yaml.safe_load(OPENAPI_PATH.read_text())
COMPONENTS = DOCUMENT["components"]["schemas"]


def _document_routes() -> set[tuple[str, str]]:
    return {
        (method.upper(), path)
        for path, operations in DOCUMENT["paths"].items()
        for method in operations
        if method in HTTP_METHODS
    }


def _app_routes(app: Flask) -> set[tuple[str, str]]:
    routes: set[tuple[str, str]] = set()
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        path = re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule)
        routes.update(
            (method, path) for method in rule.methods or () if method.lower() in HTTP_METHODS
        )
    return routes


def test_every_route_is_documented_and_every_documented_route_exists(contract_app: Flask) -> None:
    assert _app_routes(contract_app) == _document_routes()


def _query_parameters(path: str) -> dict[str, dict[str, Any]]:
    operation = DOCUMENT["paths"][path]["get"]
    return {parameter["name"]: parameter for parameter in operation.get("parameters", [])}


@pytest.mark.parametrize(
    ("model", "path"),
    [
        (SummaryQuery, "/analytics/summary"),
        (TimeseriesQuery, "/analytics/timeseries"),
        (BreakdownQuery, "/analytics/breakdown"),
    ],
)
def test_documented_query_parameters_are_the_models(model: type[BaseModel], path: str) -> None:
    fields = {field.alias or name: field for name, field in model.model_fields.items()}
    documented = _query_parameters(path)

    assert set(documented) == set(fields)
    required = {name for name, parameter in documented.items() if parameter.get("required")}
    assert required == {name for name, field in fields.items() if field.is_required()}


def test_documented_filters_follow_the_services_rules() -> None:
    breakdown = _query_parameters("/analytics/breakdown")
    limit = breakdown["limit"]["schema"]

    assert COMPONENTS["Label"]["pattern"] == label_pattern()
    assert (limit["minimum"], limit["maximum"], limit["default"]) == (
        1,
        MAX_BUCKETS,
        DEFAULT_BUCKETS,
    )


@pytest.mark.parametrize(
    ("model", "name"),
    [
        (Summary, "Summary"),
        (Timeseries, "Timeseries"),
        (Breakdown, "Breakdown"),
        (ReconcileReport, "ReconcileReport"),
    ],
)
def test_documented_answers_have_the_models_fields(model: type[BaseModel], name: str) -> None:
    documented = COMPONENTS[name]
    fields = [field.alias or field_name for field_name, field in model.model_fields.items()]

    assert documented["required"] == fields
    assert list(documented["properties"]) == fields
