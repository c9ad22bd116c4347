"""The NLP API over the real model: answers, validation, the cache, readiness while loading."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
import redis
from flask.testing import FlaskClient
from prometheus_client import REGISTRY

from nlp_service.app import create_app
from nlp_service.engine import Engine, EngineOptions
from nlp_service.settings import Settings
from tests.support.service_fixtures import serving
from tests.support.tokens import TestIssuer

PROBLEM = "application/problem+json"


def post(client: FlaskClient, issuer: TestIssuer, path: str, body: object, role: str = "viewer"):  # type: ignore[no-untyped-def]
    return client.post(f"/nlp/{path}", json=body, headers=issuer.headers(role))


def cache_count(task: str, outcome: str) -> float:
    return REGISTRY.get_sample_value("nlp_cache_total", {"task": task, "outcome": outcome}) or 0.0


def test_embed_returns_one_unit_vector_per_text_and_names_the_model(
    client: FlaskClient, issuer: TestIssuer
) -> None:
    response = post(client, issuer, "embed", {"texts": ["first text", "second text"]})

    assert response.status_code == 200, response.json
    body = response.json
    assert body["dimensions"] == 384
    vectors = np.asarray(body["vectors"])
    assert vectors.shape == (2, 384)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)
    assert body["model"]["device"] == "cpu"
    assert len(body["model"]["version"]) == 16


def test_sentiment_labels_clear_messages(client: FlaskClient, issuer: TestIssuer) -> None:
    texts = [
        "Fantastic support, thank you for sorting this out so quickly!",
        "Still no refund after three weeks. I'm furious.",
        "Please update our billing address to 12 Rue de Rivoli, Paris.",
    ]
    response = post(client, issuer, "sentiment", {"texts": texts})

    assert response.status_code == 200, response.json
    results = response.json["results"]
    assert [result["label"] for result in results] == ["positive", "negative", "neutral"]
    assert all(result["method"] == "head+vader" for result in results)
    assert all(0 < result["score"] <= 1 for result in results)


def test_classify_ranks_the_callers_labels(client: FlaskClient, issuer: TestIssuer) -> None:
    body = {
        "texts": ["invoice overdue", "the courier lost my parcel"],
        "labels": [
            {"name": "billing", "description": "Invoices, payments and refunds."},
            {"name": "shipping", "examples": ["Where is my delivery?", "Tracking says returned."]},
        ],
    }
    response = post(client, issuer, "classify", body)

    assert response.status_code == 200, response.json
    first, second = response.json["results"]
    assert first["label"] == "billing"
    assert second["label"] == "shipping"
    assert [label["name"] for label in first["labels"]] == ["billing", "shipping"]
    assert sum(label["score"] for label in first["labels"]) == pytest.approx(1, abs=1e-3)


def test_similarity_scores_paraphrases_above_unrelated_texts(
    client: FlaskClient, issuer: TestIssuer
) -> None:
    body = {
        "pairs": [
            {"a": "The invoice is overdue.", "b": "The bill has not been paid on time."},
            {"a": "The invoice is overdue.", "b": "Penguins live in Antarctica."},
        ]
    }
    response = post(client, issuer, "similarity", body)

    assert response.status_code == 200, response.json
    paraphrase, unrelated = (result["score"] for result in response.json["results"])
    assert paraphrase > unrelated


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("embed", {"texts": []}, "texts"),
        ("embed", {"texts": ["ok", "   "]}, "texts.1"),
        ("embed", {"texts": ["ok", "x" * 513]}, "texts.1"),
        ("embed", {"texts": ["fine"] * 65}, "texts"),
        ("sentiment", {"texts": ["ok", "\ud800"]}, "texts.1"),
        ("sentiment", {"texts": "not a list"}, "texts"),
        ("sentiment", {"texts": ["ok"], "model": "other"}, "model"),
        ("classify", {"texts": ["ok"], "labels": [{"name": "only one"}]}, "labels"),
        ("classify", {"texts": ["ok"], "labels": [{"name": "a"}, {"name": ""}]}, "labels.1.name"),
        ("similarity", {"pairs": [{"a": "ok", "b": ""}]}, "pairs.0.b"),
    ],
)
def test_bad_input_is_422_naming_the_field(
    client: FlaskClient, issuer: TestIssuer, path: str, body: object, field: str
) -> None:
    response = post(client, issuer, path, body)

    assert response.status_code == 422
    assert response.content_type == PROBLEM
    assert field in [error["field"] for error in response.json["errors"]]


def test_truncate_cuts_long_texts_instead_of_refusing_them(
    client: FlaskClient, issuer: TestIssuer
) -> None:
    long = "word " * 200
    cut = post(client, issuer, "embed", {"texts": [long], "truncate": True})
    exact = post(client, issuer, "embed", {"texts": [long[:512]]})

    assert cut.status_code == 200, cut.json
    assert cut.json["vectors"] == exact.json["vectors"]


def test_a_token_and_the_scope_are_required(client: FlaskClient, issuer: TestIssuer) -> None:
    assert client.post("/nlp/embed", json={"texts": ["x"]}).status_code == 401
    wrong = issuer.headers("viewer", scope="customers:read")
    assert client.post("/nlp/embed", json={"texts": ["x"]}, headers=wrong).status_code == 403


def test_a_repeated_text_is_served_from_the_cache(
    client: FlaskClient, issuer: TestIssuer, cache_namespace: str
) -> None:
    text = f"A text seen twice, {np.random.default_rng().integers(1 << 30)}."
    hits_before = cache_count("sentiment", "hit")

    first = post(client, issuer, "sentiment", {"texts": [text]})
    second = post(client, issuer, "sentiment", {"texts": [text]})

    assert first.json["results"] == second.json["results"]
    assert cache_count("sentiment", "hit") == hits_before + 1
    keys = list(redis.Redis().scan_iter(f"{cache_namespace}:*:sentiment:*"))
    assert keys  # keyed by model version and task, the text only as a hash
    assert all(text.encode() not in key for key in keys)


def test_another_model_version_never_reads_the_old_answers(
    engine: Engine, nlp_database: str, issuer: TestIssuer, cache_namespace: str
) -> None:
    assert engine.encoder is not None
    client = redis.Redis()
    version = engine.encoder.loaded.version
    text = "Cached under one version only."
    settings = Settings(NLP_DATABASE_URL=nlp_database, database_pool_size=1)
    with serving(
        create_app(
            settings, key_source=issuer.key_source, engine=engine, cache_namespace=cache_namespace
        )
    ) as app:
        app.test_client().post("/nlp/embed", json={"texts": [text]}, headers=issuer.headers())
    keys = [key.decode() for key in client.scan_iter(f"{cache_namespace}:*:embed:*")]
    assert keys
    assert all(key.startswith(f"{cache_namespace}:{version}:embed:") for key in keys)


def test_while_the_model_loads_calls_are_503_with_retry_after_and_readyz_says_so(
    nlp_database: str, issuer: TestIssuer, tmp_path: Path
) -> None:
    release = threading.Event()

    def hold(function):  # type: ignore[no-untyped-def]
        release.wait(30)
        return function()

    engine = Engine(EngineOptions(model_dir=tmp_path / "missing"), offload=hold)
    settings = Settings(NLP_DATABASE_URL=nlp_database, database_pool_size=1)
    with serving(create_app(settings, key_source=issuer.key_source, engine=engine)) as app:
        client = app.test_client()
        loading = client.post("/nlp/embed", json={"texts": ["x"]}, headers=issuer.headers())
        ready = client.get("/readyz")
        assert client.get("/healthz").status_code == 200
        release.set()

    assert loading.status_code == 503
    assert loading.content_type == PROBLEM
    assert loading.headers["Retry-After"] == "5"
    assert ready.status_code == 503
    assert "loading" in ready.json["checks"]["model"]


def test_a_model_that_cannot_load_keeps_readyz_saying_why(
    nlp_database: str, issuer: TestIssuer, tmp_path: Path
) -> None:
    engine = Engine(EngineOptions(model_dir=tmp_path / "missing"))
    settings = Settings(NLP_DATABASE_URL=nlp_database, database_pool_size=1)
    with serving(create_app(settings, key_source=issuer.key_source, engine=engine)) as app:
        client = app.test_client()
        for _ in range(400):  # 20 s at most, for a loaded machine
            answer = client.get("/readyz")
            if "failed" in answer.json["checks"]["model"]:
                break
            threading.Event().wait(0.05)

    assert answer.status_code == 503
    assert "config.json is missing" in answer.json["checks"]["model"]
