"""The search API held to its contract (``search_service/openapi.yaml``).

Schemathesis generates valid and invalid requests for every operation from the
document, sends them to the app (WSGI) with an admin token, and checks each answer
against the document with every check, "schema-valid requests are accepted"
included. The index holds a few customers, so searches answer with hits, facets
and highlights. A stateful run follows the documented link from a started reindex
to its job. The remaining tests keep the document's routes, parameters and shapes
equal to the app's and models'.
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
    ensure_resource_availability,
    ignored_auth,
    missing_required_header,
    negative_data_rejection,
    not_a_server_error,
    positive_data_acceptance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
    unsupported_method,
    use_after_free,
)
from schemathesis.config import ProjectConfig

from search_service.app import DATABASE_EXTENSION, OPENAPI_PATH, create_app
from search_service.events import EventIndexer
from search_service.schemas import (
    DEFAULT_PAGE_SIZE,
    DEFAULT_SUGGESTIONS,
    MAX_PAGE_SIZE,
    MAX_SUGGESTIONS,
    Hit,
    ReindexJob,
    SearchPage,
    SearchQuery,
    SuggestQuery,
)
from search_service.settings import Settings
from search_service.store import SearchStore
from shared.database import Database
from shared.discovery import StaticDiscovery
from tests.search_service.customer_events import CustomerHistory
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
WORKFLOW_CHECKS = [*CHECKS, ensure_resource_availability, use_after_free]
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
schema.config.generation.update(max_examples=12)
schema.config.operations = ProjectConfig.from_dict(
    {
        "operations": [
            # A cursor is opaque: every string is schema-valid, but only one the service
            # issued (for the same sort and query) is accepted; any other is 400.
            {
                "include-operation-id": ["search"],
                "checks": {
                    "positive_data_acceptance": {"expected-statuses": ["2xx", "400", "401", "403"]}
                },
            },
            # One job runs at a time: a second start while the first runs is 409.
            {
                "include-operation-id": ["startReindex"],
                "checks": {
                    "positive_data_acceptance": {"expected-statuses": ["2xx", "401", "403", "409"]}
                },
            },
            # Any UUID is a schema-valid job id; only the service's own jobs exist.
            {
                "include-operation-id": ["getReindexJob"],
                "checks": {
                    "positive_data_acceptance": {"expected-statuses": ["2xx", "401", "403", "404"]}
                },
            },
        ]
    }
).operations


@pytest.fixture(scope="module")
def contract_issuer() -> TestIssuer:
    """Signs the admin token every generated request carries."""
    return TestIssuer()


@pytest.fixture(scope="module")
def contract_database(make_database: Callable[[str], str]) -> str:
    """A database of its own, holding a few customers so searches have hits."""
    url = make_database("search_service")
    database = Database(url, pool_size=1)
    customers = [
        CustomerHistory({"name": "Zoë Müller", "company": "Müller Bau", "country": "DE",
                         "segment": "smb", "tags": ["vip"], "phone": "+49 30 1234567"}),
        CustomerHistory({"name": "Ada Lovelace", "company": "Analytical", "status": "active"}),
        CustomerHistory({"name": "Grace Hopper", "city": "Arlington", "tags": ["navy"]}),
    ]  # fmt: skip
    customers[0].add_note("Prefers calls in the morning.")
    EventIndexer(SearchStore(database)).apply([e for c in customers for e in c.events])
    database.close()
    return url


@pytest.fixture(scope="module")
def contract_app(contract_database: str, contract_issuer: TestIssuer) -> Iterator[Flask]:
    """The search API on the contract database; its customer service is nowhere (jobs fail)."""
    app = create_app(
        Settings(SEARCH_DATABASE_URL=contract_database),
        key_source=contract_issuer.key_source,
        discovery=StaticDiscovery({"customer_service": ["http://127.0.0.1:9"]}),
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


def test_a_started_reindex_can_be_followed_as_linked(
    contract_app: Flask, contract_issuer: TestIssuer
) -> None:
    headers = contract_issuer.headers()

    class ReindexWorkflow(schema.as_state_machine()):  # type: ignore[misc]
        def get_call_kwargs(self, case: Case[Any]) -> dict[str, Any]:
            return {"headers": headers}

        def validate_response(self, response: Any, case: Case[Any], **kwargs: Any) -> None:
            case.validate_response(
                response, checks=WORKFLOW_CHECKS, headers=headers, transport_kwargs=kwargs
            )

    ReindexWorkflow.run(
        settings=settings(
            max_examples=8,
            stateful_step_count=3,
            deadline=None,
            suppress_health_check=list(HealthCheck),
        )
    )


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


@pytest.mark.parametrize(
    ("model", "path"), [(SearchQuery, "/search"), (SuggestQuery, "/search/suggest")]
)
def test_documented_query_parameters_match_the_models(model: type[BaseModel], path: str) -> None:
    parameters = DOCUMENT["paths"][path]["get"]["parameters"]

    assert {parameter["name"] for parameter in parameters} == set(model.model_fields)


def _parameter(path: str, name: str) -> dict[str, Any]:
    (found,) = [p for p in DOCUMENT["paths"][path]["get"]["parameters"] if p["name"] == name]
    return dict(found["schema"])


def test_documented_page_sizes_are_the_models() -> None:
    limit = _parameter("/search", "limit")
    suggestions = _parameter("/search/suggest", "limit")

    assert (limit["minimum"], limit["maximum"], limit["default"]) == (
        1,
        MAX_PAGE_SIZE,
        DEFAULT_PAGE_SIZE,
    )
    assert (suggestions["maximum"], suggestions["default"]) == (
        MAX_SUGGESTIONS,
        DEFAULT_SUGGESTIONS,
    )
    assert COMPONENTS["SearchPage"]["properties"]["items"]["maxItems"] == MAX_PAGE_SIZE


@pytest.mark.parametrize(
    ("model", "name"),
    [(Hit, "Hit"), (ReindexJob, "ReindexJob"), (SearchPage, "SearchPage")],
)
def test_documented_responses_list_what_the_api_returns(model: type[BaseModel], name: str) -> None:
    documented = COMPONENTS[name]

    assert set(documented["required"]) == set(model.model_fields)
    assert set(documented["properties"]) == set(model.model_fields)
