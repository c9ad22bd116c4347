"""``GET /search?mode=semantic|hybrid`` through the real NLP service, and when it is away.

The NLP service runs as operators run it (``nlp_process.py``), trusting this
test's token issuer. The search API finds it through discovery and embeds each
query with the caller's own token. The customers' vectors come from the same
running service (``POST /nlp/embed``), as its consumer would publish them.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient

from search_service.app import create_app
from search_service.events import EventIndexer
from search_service.settings import Settings
from search_service.store import SearchStore
from shared.database import Database
from shared.discovery import StaticDiscovery
from shared.errors import Unauthorized
from tests.search_service import INDEX_TABLES
from tests.search_service.customer_events import CustomerHistory
from tests.search_service.http_servers import CannedServer
from tests.search_service.nlp_events import note_analysed, profile_embedded
from tests.search_service.nlp_process import running_nlp_service
from tests.support.processes import ServiceProcess, free_port
from tests.support.service_fixtures import serving, sql_on
from tests.support.tokens import TestIssuer

PROBLEM_JSON = "application/problem+json"
CUSTOMER_SERVICE = "http://127.0.0.1:9"


@pytest.fixture(scope="module")
def stranger() -> TestIssuer:
    """An issuer the search app trusts and the NLP service does not."""
    return TestIssuer()


@pytest.fixture(scope="module")
def nlp_service(
    make_database: Callable[[str], str],
    start_service: Callable[..., ServiceProcess],
    issuer: TestIssuer,
) -> Iterator[ServiceProcess]:
    """The NLP service under gunicorn with the packaged model, trusting ``issuer``."""
    with running_nlp_service(make_database, start_service, issuer) as service:
        yield service


@contextmanager
def search_app(
    search_database: str, issuers: tuple[TestIssuer, ...], nlp_urls: list[str]
) -> Iterator[Flask]:
    """The search API whose discovery finds the NLP service at ``nlp_urls`` (none: unknown)."""

    def key_source(kid: str) -> Any:
        for issuer in issuers:
            if issuer.kid == kid:
                return issuer.public_key
        raise Unauthorized("Token signed with an unknown key")

    services = {"customer_service": [CUSTOMER_SERVICE]}
    if nlp_urls:
        services["nlp_service"] = nlp_urls
    app = create_app(
        Settings(
            SEARCH_DATABASE_URL=search_database,
            database_pool_size=2,
            search_vector_refresh_ms=0,
            search_nlp_timeout_seconds=30,  # a loaded test machine: the model may be slow
        ),
        key_source=key_source,
        discovery=StaticDiscovery(services),
    )
    with serving(app):
        yield app


@pytest.fixture(scope="module")
def semantic_client(
    search_database: str, issuer: TestIssuer, stranger: TestIssuer, nlp_service: ServiceProcess
) -> Iterator[FlaskClient]:
    """A client of the search API that embeds queries with the running NLP service."""
    with search_app(search_database, (issuer, stranger), [nlp_service.url]) as app:
        yield app.test_client()


def embed(nlp_service: ServiceProcess, issuer: TestIssuer, *texts: str) -> dict[str, Any]:
    """``POST /nlp/embed`` on the running NLP service: its model and one vector per text."""
    response = requests.post(
        f"{nlp_service.url}/nlp/embed",
        json={"texts": list(texts), "truncate": True},
        headers=issuer.headers("viewer"),
        timeout=60,
    )
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


PROFILES = {
    "Hans Müller": {"company": "Müller Bau GmbH", "tags": ["construction"]},
    "Chen Wei": {"company": "Golden Dragon Restaurant", "tags": ["food"]},
    "Maria Garcia": {"company": "Verde Logistics", "tags": ["shipping"]},
    "Ada Lovelace": {"company": "Analytical Engines", "tags": ["math"]},
}
ADA_NOTE = "Complained that the app crashes on login since the last update."


@pytest.fixture(scope="module")
def embedded(
    search_database: str, nlp_service: ServiceProcess, issuer: TestIssuer
) -> dict[str, Any]:
    """Four customers and a note, with the vectors the NLP service gives their texts."""
    with sql_on(search_database) as query:
        query(f"TRUNCATE {INDEX_TABLES}, reindex_jobs, embeddings")
    histories = {
        name: CustomerHistory({"name": name, **fields}) for name, fields in PROFILES.items()
    }
    texts = [
        ". ".join([name, str(fields["company"]), ", ".join(fields["tags"])])
        for name, fields in PROFILES.items()
    ]
    answer = embed(nlp_service, issuer, *texts, ADA_NOTE)
    model = {"name": answer["model"]["name"], "version": answer["model"]["version"]}
    vectors = dict(zip(PROFILES, answer["vectors"], strict=False))
    events = [history.events[0] for history in histories.values()]
    events += [
        profile_embedded(history.id, 1, vectors[name], model=model)
        for name, history in histories.items()
    ]
    events.append(
        note_analysed(histories["Ada Lovelace"].id, 1, answer["vectors"][-1], model=model)
    )
    database = Database(search_database, pool_size=1)
    try:
        EventIndexer(SearchStore(database)).apply(events)
    finally:
        database.close()
    return {"histories": histories, "vectors": vectors, "note": answer["vectors"][-1]}


def search(client: FlaskClient, issuer: TestIssuer, role: str = "viewer", **params: Any) -> Any:
    return client.get("/search", query_string=params, headers=issuer.headers(role))


def test_a_semantic_query_finds_customers_by_meaning_with_the_cosine_as_score(
    semantic_client: FlaskClient,
    embedded: dict[str, Any],
    nlp_service: ServiceProcess,
    issuer: TestIssuer,
) -> None:
    histories = embedded["histories"]

    response = search(semantic_client, issuer, q="a place to eat dinner", mode="semantic")

    assert response.status_code == 200, response.get_data(as_text=True)
    page = response.get_json()
    assert page["items"][0]["id"] == histories["Chen Wei"].id
    (query_vector,) = embed(nlp_service, issuer, "a place to eat dinner")["vectors"]
    cosine = sum(a * b for a, b in zip(query_vector, embedded["vectors"]["Chen Wei"], strict=True))
    assert page["items"][0]["score"] == pytest.approx(cosine, abs=1e-4)
    assert page["total"] == len(page["items"])
    assert all(hit["score"] >= 0.35 for hit in page["items"])


def test_a_note_finds_its_customer(
    semantic_client: FlaskClient, embedded: dict[str, Any], issuer: TestIssuer
) -> None:
    response = search(
        semantic_client, issuer, q="software bug, cannot sign in", mode="semantic", limit=1
    )

    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.get_json()["items"][0]["id"] == embedded["histories"]["Ada Lovelace"].id


def test_hybrid_puts_the_customer_named_first(
    semantic_client: FlaskClient, embedded: dict[str, Any], issuer: TestIssuer
) -> None:
    response = search(semantic_client, issuer, q="maria garcia", mode="hybrid")

    assert response.status_code == 200, response.get_data(as_text=True)
    (first, *_) = response.get_json()["items"]
    assert first["id"] == embedded["histories"]["Maria Garcia"].id
    assert first["highlights"]["name"] == "<mark>Maria</mark> <mark>Garcia</mark>"


@pytest.mark.usefixtures("embedded")
def test_a_refusal_of_the_nlp_service_is_passed_on(
    semantic_client: FlaskClient, issuer: TestIssuer, stranger: TestIssuer
) -> None:
    # The NLP service does not know the stranger's key; and a token may hold search:read
    # without nlp:read.
    unknown_key = search(semantic_client, stranger, q="restaurant", mode="semantic")
    no_nlp_scope = semantic_client.get(
        "/search",
        query_string={"q": "restaurant", "mode": "hybrid"},
        headers=issuer.headers("viewer", scope="search:read"),
    )

    assert unknown_key.status_code == 401
    assert unknown_key.mimetype == PROBLEM_JSON
    assert "NLP service" in unknown_key.get_json()["detail"]
    assert no_nlp_scope.status_code == 403
    assert "NLP service" in no_nlp_scope.get_json()["detail"]
    # A text search needs nothing from the NLP service.
    text = search(semantic_client, stranger, q="restaurant")
    assert text.status_code == 200


@pytest.fixture(scope="module")
def failing_nlp() -> Iterator[dict[str, str]]:
    """Where an NLP service answers 500, 404, or 200 with no embedding in it."""
    servers = {
        "failing": CannedServer(500, b'{"title": "Internal Server Error", "status": 500}'),
        "missing": CannedServer(404, b"not here", "text/plain"),
        "garbled": CannedServer(200, b'{"vectors": "no"}'),
        "unreadable": CannedServer(
            422, b'{"title": "Validation Failed", "detail": "Invalid fields: texts.0"}'
        ),
    }
    yield {name: server.url for name, server in servers.items()}
    for server in servers.values():
        server.close()


@pytest.mark.parametrize(
    ("where", "status"),
    [
        ("closed port", 503),
        ("not configured", 503),
        ("failing", 503),
        ("missing", 502),
        ("garbled", 502),
        ("unreadable", 422),
    ],
)
def test_semantic_search_without_a_working_nlp_service_is_a_problem(
    search_database: str,
    issuer: TestIssuer,
    failing_nlp: dict[str, str],
    where: str,
    status: int,
) -> None:
    urls = {"closed port": [f"http://127.0.0.1:{free_port()}"], "not configured": []}.get(
        where, [failing_nlp.get(where, "")]
    )
    with search_app(search_database, (issuer,), urls) as app:
        client = app.test_client()
        for mode in ("semantic", "hybrid"):
            response = search(client, issuer, q="restaurant", mode=mode)

            assert response.status_code == status, response.get_data(as_text=True)
            assert response.mimetype == PROBLEM_JSON
            if status == 422:
                (error,) = response.get_json()["errors"]
                assert error["field"] == "q"
                assert "texts.0" in error["message"]
                continue
            assert "NLP service" in response.get_json()["detail"]
            if status == 503:
                assert "semantic" in response.get_json()["detail"].lower()
                assert response.headers["Retry-After"] == "5"
        assert search(client, issuer, q="restaurant", mode="text").status_code == 200
        assert search(client, issuer, mode="semantic").status_code == 200


def test_the_query_goes_to_the_nlp_service_with_the_caller_s_token(
    search_database: str, issuer: TestIssuer
) -> None:
    recorder = CannedServer(500, b"{}")
    try:
        with search_app(search_database, (issuer,), [recorder.url]) as app:
            headers = issuer.headers("viewer")
            app.test_client().get(
                "/search",
                query_string={"q": " what it means ", "mode": "semantic"},
                headers=headers,
            )
    finally:
        recorder.close()

    ((method, path, body),) = recorder.requests
    assert (method, path) == ("POST", "/nlp/embed")
    assert json.loads(body) == {"texts": ["what it means"], "truncate": True}


def test_the_packaged_model_s_unrelated_texts_stay_under_the_floor(
    nlp_service: ServiceProcess, issuer: TestIssuer
) -> None:
    # The floor (0.35) as measured: a related pair clears it, unrelated pairs do not.
    answer = embed(
        nlp_service,
        issuer,
        "refund for a late delivery",
        "The customer is angry about the third late delivery and wants a refund.",
        "Loves typography.",
        "Chen Wei. Golden Dragon Restaurant. food",
    )
    query, related, *unrelated = answer["vectors"]

    def cosine(other: list[float]) -> float:
        return math.fsum(a * b for a, b in zip(query, other, strict=True))

    assert cosine(related) >= 0.5
    assert all(cosine(other) < 0.35 for other in unrelated)
