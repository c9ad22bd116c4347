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

from collections.abc import Callable, Iterator
from typing import Any

import pytest
import yaml
from flask import Flask
from hypothesis import HealthCheck, settings
from pydantic import BaseModel
from schemathesis import Case

from search_service.app import OPENAPI_PATH, create_app
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
from tests.search_service.nlp_process import running_nlp_service
from tests.support import contracts
from tests.support.processes import ServiceProcess
from tests.support.service_fixtures import serving
from tests.support.tokens import TestIssuer

schema, APP = contracts.late_bound_schema(OPENAPI_PATH, max_examples=12)
# Generating and sending every case takes minutes on a loaded 2-core machine under coverage.
pytestmark = pytest.mark.timeout(360)
schema.config.operations = contracts.valid_requests_may_get(
    # A cursor is opaque: every string is schema-valid, but only one the service
    # issued (for the same sort and query) is accepted; any other is 400.
    (["search"], ["2xx", "400", "401", "403"]),
    # One job runs at a time: a second start while the first runs is 409.
    (["startReindex"], ["2xx", "401", "403", "409"]),
    # Any UUID is a schema-valid job id; only the service's own jobs exist.
    (["getReindexJob"], ["2xx", "401", "403", "404"]),
)


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
def contract_app(
    contract_database: str,
    contract_issuer: TestIssuer,
    make_database: Callable[[str], str],
    start_service: Callable[..., ServiceProcess],
) -> Iterator[Flask]:
    """The search API on the contract database; its customer service is nowhere (jobs fail),
    its NLP service the real one (semantic and hybrid queries are embedded)."""
    with running_nlp_service(make_database, start_service, contract_issuer) as nlp:
        app = create_app(
            Settings(SEARCH_DATABASE_URL=contract_database),
            key_source=contract_issuer.key_source,
            discovery=StaticDiscovery(
                {"customer_service": ["http://127.0.0.1:9"], "nlp_service": [nlp.url]}
            ),
        )
        with serving(app), APP.serving(app):
            yield app


@schema.parametrize()
@settings(deadline=None, suppress_health_check=list(HealthCheck))
@pytest.mark.usefixtures("contract_app")
def test_every_operation_keeps_its_contract(
    case: Case[Any], contract_headers: dict[str, str]
) -> None:
    case.call_and_validate(headers=contract_headers, checks=contracts.CHECKS)


def test_a_started_reindex_can_be_followed_as_linked(
    contract_app: Flask, contract_headers: dict[str, str]
) -> None:
    contracts.run_linked_workflows(
        schema,
        headers=contract_headers,
        checks=[*contracts.CHECKS, *contracts.LINK_CHECKS],
        max_examples=8,
        step_count=3,
    )


DOCUMENT = yaml.safe_load(OPENAPI_PATH.read_text())
COMPONENTS = DOCUMENT["components"]["schemas"]


def test_the_app_serves_this_document(contract_app: Flask) -> None:
    assert contract_app.test_client().get("/openapi.json").get_json() == DOCUMENT


def test_every_route_is_documented_and_every_documented_route_exists(contract_app: Flask) -> None:
    assert contracts.app_routes(contract_app) == contracts.document_routes(DOCUMENT)


@pytest.mark.parametrize(
    ("model", "path"), [(SearchQuery, "/search"), (SuggestQuery, "/search/suggest")]
)
def test_documented_query_parameters_match_the_models(model: type[BaseModel], path: str) -> None:
    assert set(contracts.query_parameters(DOCUMENT, path)) == set(model.model_fields)


def test_documented_page_sizes_are_the_models() -> None:
    limit = contracts.query_parameters(DOCUMENT, "/search")["limit"]["schema"]
    suggestions = contracts.query_parameters(DOCUMENT, "/search/suggest")["limit"]["schema"]

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
