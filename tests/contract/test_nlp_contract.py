"""The NLP API held to its contract (``nlp_service/openapi.yaml``), on the real model.

Schemathesis generates valid and invalid requests for every operation from the
document, sends them to the app (WSGI) with an admin token, and checks each
answer against the document with every check. The remaining tests keep the
document's limits and shapes equal to the models'.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import yaml
from flask import Flask
from hypothesis import HealthCheck, settings
from pydantic import BaseModel
from schemathesis import Case

from nlp_service.app import OPENAPI_PATH, create_app, engine_options
from nlp_service.engine import Engine
from nlp_service.jobs import Job
from nlp_service.schemas import (
    MAX_CHARS,
    MAX_EXAMPLES,
    MAX_JOB_ROWS,
    MAX_LABELS,
    MAX_RESULTS_PAGE,
    MAX_TEXTS,
    ClassifyRequest,
    ClassifyResponse,
    EmbedRequest,
    EmbedResponse,
    JobOptions,
    ResultsQuery,
    SentimentRequest,
    SentimentResponse,
    SimilarityRequest,
    SimilarityResponse,
)
from nlp_service.settings import Settings
from shared.text import label_pattern, text_pattern
from tests.support import broker, contracts
from tests.support.service_fixtures import serving
from tests.support.tokens import TestIssuer

schema, APP = contracts.late_bound_schema(OPENAPI_PATH, max_examples=12)
# Every generated case runs the model; minutes on a loaded 2-core machine under coverage.
pytestmark = pytest.mark.timeout(360)
schema.config.operations = contracts.valid_requests_may_get(
    # What a file holds, and the labels field's JSON, are beyond a JSON Schema: a
    # schema-valid upload may still be an unreadable file or carry no labels (422 naming it).
    (["createJob"], ["2xx", "401", "403", "413", "422", "429"]),
    # A cursor is opaque: only one the service issued, for this job, is accepted (else 400).
    (["getJobResults"], ["2xx", "400", "401", "403", "404", "429"]),
)


@pytest.fixture(scope="module")
def contract_queue() -> Iterator[str]:
    """The jobs queue the generated jobs go to (nobody consumes it; deleted at the end)."""
    with broker.own_queue("nlp-contract") as name:
        yield name


@pytest.fixture(scope="module")
def contract_app(
    make_database: Callable[[str], str], contract_issuer: TestIssuer, contract_queue: str
) -> Iterator[Flask]:
    """The NLP API on a database of its own, with the real model loaded."""
    settings = Settings(
        NLP_DATABASE_URL=make_database("nlp_service"),
        NLP_CACHE_TTL_SECONDS=0,
        NLP_TORCH_THREADS=1,
        NLP_JOBS_QUEUE=contract_queue,
    )
    engine = Engine(engine_options(settings)).load()
    app = create_app(settings, key_source=contract_issuer.key_source, engine=engine)
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


def test_documented_limits_are_the_models() -> None:
    assert (COMPONENTS["Texts"]["minItems"], COMPONENTS["Texts"]["maxItems"]) == (1, MAX_TEXTS)
    assert COMPONENTS["LongTexts"]["maxItems"] == MAX_TEXTS
    assert COMPONENTS["Text"]["maxLength"] == MAX_CHARS
    labels = COMPONENTS["Labels"]
    assert (labels["minItems"], labels["maxItems"]) == (2, MAX_LABELS)
    assert COMPONENTS["Label"]["properties"]["examples"]["maxItems"] == MAX_EXAMPLES
    for variant in COMPONENTS["SimilarityRequest"]["oneOf"]:
        assert variant["properties"]["pairs"]["maxItems"] == MAX_TEXTS


def test_documented_text_rules_are_the_shared_ones() -> None:
    assert COMPONENTS["Text"]["pattern"] == text_pattern()
    assert COMPONENTS["LongText"]["pattern"] == text_pattern()
    assert COMPONENTS["Label"]["properties"]["name"]["pattern"] == label_pattern()
    assert COMPONENTS["Label"]["properties"]["description"]["pattern"] == text_pattern()


def branches(name: str) -> list[dict[str, Any]]:
    """The body's variants (strict and ``truncate``), references followed."""
    return [
        COMPONENTS[variant["$ref"].rsplit("/", 1)[1]] if "$ref" in variant else variant
        for variant in COMPONENTS[name]["oneOf"]
    ]


@pytest.mark.parametrize(
    ("model", "name"),
    [
        (EmbedRequest, "EmbedRequest"),
        (SentimentRequest, "SentimentRequest"),
        (ClassifyRequest, "ClassifyRequest"),
        (SimilarityRequest, "SimilarityRequest"),
    ],
)
def test_documented_requests_list_the_models_fields(model: type[BaseModel], name: str) -> None:
    for variant in branches(name):
        assert set(variant["properties"]) == set(model.model_fields)


@pytest.mark.parametrize(
    ("model", "name"),
    [
        (EmbedResponse, "EmbedResponse"),
        (SentimentResponse, "SentimentResponse"),
        (ClassifyResponse, "ClassifyResponse"),
        (SimilarityResponse, "SimilarityResponse"),
    ],
)
def test_documented_responses_list_the_models_fields(model: type[BaseModel], name: str) -> None:
    assert set(COMPONENTS[name]["properties"]) == set(model.model_fields)


def test_documented_jobs_match_the_models_and_what_the_api_returns() -> None:
    upload = COMPONENTS["JobUpload"]["properties"]
    assert set(upload) - {"file"} == set(JobOptions.model_fields)
    assert upload["task"]["enum"] == ["sentiment", "classify"]
    assert COMPONENTS["JobTexts"]["maxItems"] == MAX_JOB_ROWS
    results = DOCUMENT["paths"]["/nlp/jobs/{job_id}/results"]["get"]["parameters"]
    assert {parameter["name"] for parameter in results} == set(ResultsQuery.model_fields)
    limit = next(parameter for parameter in results if parameter["name"] == "limit")
    assert limit["schema"]["maximum"] == MAX_RESULTS_PAGE
    now = datetime.now(UTC)
    job = Job(uuid.uuid4(), "owner", "sentiment", "queued", None, 1, 0, 0, 0, None, None, now, now)
    assert COMPONENTS["Job"]["required"] == list(job.as_json())
    limit_bytes = DOCUMENT["paths"]["/nlp/jobs"]["post"]["x-max-body-bytes"]
    assert limit_bytes == 10 * 1024 * 1024
