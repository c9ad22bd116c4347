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

from collections.abc import Callable, Iterator
from typing import Any

import pytest
import yaml
from flask import Flask
from hypothesis import HealthCheck, settings
from pydantic import BaseModel
from schemathesis import Case

from analytics_service.app import OPENAPI_PATH, create_app
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
from tests.support import contracts
from tests.support.service_fixtures import serving
from tests.support.tokens import TestIssuer

schema, APP = contracts.late_bound_schema(OPENAPI_PATH, max_examples=25)
# Generating and sending every case takes minutes on a loaded 2-core machine under coverage.
pytestmark = pytest.mark.timeout(360)
schema.config.operations = contracts.valid_requests_may_get(
    # Each date is schema-valid alone, but a series may not run backwards nor cover more
    # than 1096 days: those are 422 naming `from`, as the document says.
    (["getTimeseries"], ["2xx", "401", "403", "422"]),
)


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
    with serving(app), APP.serving(app):
        yield app


@schema.parametrize()
@settings(deadline=None, suppress_health_check=list(HealthCheck))
@pytest.mark.usefixtures("contract_app")
def test_every_operation_keeps_its_contract(
    case: Case[Any], contract_headers: dict[str, str]
) -> None:
    case.call_and_validate(headers=contract_headers, checks=contracts.CHECKS)


DOCUMENT = yaml.safe_load(OPENAPI_PATH.read_text())
COMPONENTS = DOCUMENT["components"]["schemas"]


def test_the_app_serves_this_document(contract_app: Flask) -> None:
    assert contract_app.test_client().get("/openapi.json").get_json() == DOCUMENT


def test_every_route_is_documented_and_every_documented_route_exists(contract_app: Flask) -> None:
    assert contracts.app_routes(contract_app) == contracts.document_routes(DOCUMENT)


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
    documented = contracts.query_parameters(DOCUMENT, path)

    assert set(documented) == set(fields)
    required = {name for name, parameter in documented.items() if parameter.get("required")}
    assert required == {name for name, field in fields.items() if field.is_required()}


def test_documented_filters_follow_the_services_rules() -> None:
    breakdown = contracts.query_parameters(DOCUMENT, "/analytics/breakdown")
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
