"""``GET /analytics/sentiment`` held to its contract, on a database with notes in every state.

``tests/contract/test_analytics_contract.py`` holds every operation to the
document on an empty database. Here schemathesis sends generated requests (valid
and invalid) to this operation while the database holds scored notes of live,
deleted and not yet known customers, so every answer it checks has groups and
figures in it; the remaining tests keep the document's parameters and answers
equal to the models.
"""

from __future__ import annotations

import typing
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import yaml
from flask import Flask
from hypothesis import HealthCheck, settings
from pydantic import BaseModel
from schemathesis import Case

from analytics_service.app import OPENAPI_PATH, create_app
from analytics_service.events import batch_of
from analytics_service.schemas import (
    DEFAULT_BUCKETS,
    MAX_BUCKETS,
    UUID_PATTERN,
    LabelBreakdown,
    LabelFigures,
    Sentiment,
    SentimentFigures,
    SentimentGroup,
    SentimentGroupBy,
    SentimentQuery,
    SentimentSort,
)
from analytics_service.sentiment import LABELS
from analytics_service.service import AnalyticsService, utc_now
from analytics_service.settings import Settings
from analytics_service.store import AnalyticsStore
from shared.database import Database
from shared.events.envelope import Event
from tests.analytics_service.history import Customer, analysed
from tests.support import contracts
from tests.support.service_fixtures import serving
from tests.support.tokens import TestIssuer

schema, APP = contracts.late_bound_schema(OPENAPI_PATH, max_examples=40)
schema = schema.include(operation_id="getSentiment")
pytestmark = pytest.mark.timeout(360)

DOCUMENT = yaml.safe_load(OPENAPI_PATH.read_text())
COMPONENTS = DOCUMENT["components"]["schemas"]
PATH = "/analytics/sentiment"


def scored_notes() -> list[Event]:
    """Customers in two segments and none, each with scored notes; one deleted, one unknown."""
    events: list[Event] = []
    verdicts = [("positive", 0.93), ("negative", 0.61), ("neutral", 0.5), ("negative", 1.0)]
    for index, segment in enumerate(["smb", "enterprise", None, "smb", "smb"]):
        customer = Customer(segment=segment)
        known = [customer.created()]
        for label, score in verdicts[index % 2 :]:
            note = customer.note()
            known.append(note)
            events.append(analysed(note, label, score))
        if index == 3:
            known.append(customer.deleted_event())
        if index != 4:  # nothing of the last customer has arrived but its notes' sentiment
            events += known
    return events


@pytest.fixture(scope="module")
def contract_app(make_database: Callable[[str], str], issuer: TestIssuer) -> Iterator[Flask]:
    """The analytics API on a database of its own holding :func:`scored_notes`."""
    url = make_database("analytics_service")
    database = Database(url, pool_size=1)
    try:
        batch = batch_of(scored_notes())
        AnalyticsService(AnalyticsStore(database), clock=utc_now).apply(
            batch.changes, batch.sentiments
        )
    finally:
        database.close()
    app = create_app(Settings(ANALYTICS_DATABASE_URL=url), key_source=issuer.key_source)
    with serving(app), APP.serving(app):
        yield app


@schema.parametrize()
@settings(deadline=None, suppress_health_check=list(HealthCheck))
@pytest.mark.usefixtures("contract_app")
def test_the_sentiment_operation_keeps_its_contract(case: Case[Any], issuer: TestIssuer) -> None:
    case.call_and_validate(headers=issuer.headers("viewer"), checks=contracts.CHECKS)


def test_the_database_behind_the_contract_run_has_every_kind_of_note(
    contract_app: Flask, issuer: TestIssuer
) -> None:
    answer = contract_app.test_client().get(PATH, headers=issuer.headers("viewer")).get_json()

    assert {entry["value"] for entry in answer["groups"]} == {"smb", "enterprise", None}
    assert answer["notes_awaiting_customer"] == 4
    assert answer["overall"]["notes"] == 11


def test_documented_query_parameters_are_the_model() -> None:
    fields = {field.alias or name: field for name, field in SentimentQuery.model_fields.items()}
    documented = contracts.query_parameters(DOCUMENT, PATH)

    assert set(documented) == set(fields)
    assert not any(parameter.get("required") for parameter in documented.values())
    assert not any(field.is_required() for field in fields.values())


def test_documented_parameters_follow_the_models_rules() -> None:
    documented = contracts.query_parameters(DOCUMENT, PATH)
    limit = documented["limit"]["schema"]

    assert (limit["minimum"], limit["maximum"], limit["default"]) == (
        1,
        MAX_BUCKETS,
        DEFAULT_BUCKETS,
    )
    assert documented["by"]["schema"]["enum"] == list(typing.get_args(SentimentGroupBy))
    assert documented["by"]["schema"]["default"] == SentimentQuery.model_fields["by"].default
    assert documented["sort"]["schema"]["enum"] == list(typing.get_args(SentimentSort))
    assert documented["sort"]["schema"]["default"] == SentimentQuery.model_fields["sort"].default
    assert documented["customer_id"]["schema"]["pattern"] == UUID_PATTERN
    assert documented["segment"]["schema"] == {"$ref": "#/components/schemas/Label"}
    assert list(COMPONENTS["LabelBreakdown"]["properties"]) == list(LABELS)


@pytest.mark.parametrize(
    ("model", "name"),
    [
        (Sentiment, "Sentiment"),
        (SentimentFigures, "SentimentFigures"),
        (SentimentGroup, "SentimentGroup"),
        (LabelBreakdown, "LabelBreakdown"),
        (LabelFigures, "LabelFigures"),
    ],
)
def test_documented_answers_have_the_models_fields(model: type[BaseModel], name: str) -> None:
    documented = COMPONENTS[name]
    fields = [field.alias or field_name for field_name, field in model.model_fields.items()]

    assert documented["required"] == fields
    assert list(documented["properties"]) == fields
