"""The NLP service through the gateway: every role may read, with the NLP routes' own limit."""

from __future__ import annotations

import requests

from tests.e2e.conftest import Stack


def test_every_role_scores_sentiment_through_the_gateway(stack: Stack) -> None:
    texts = ["Brilliant support, thank you!", "Still broken after a week. Awful."]
    for role in ("viewer", "agent", "admin"):
        response = requests.post(
            f"{stack.api}/nlp/sentiment",
            json={"texts": texts},
            headers=stack.headers(role),
            timeout=30,
        )
        assert response.status_code == 200, response.text
        labels = [result["label"] for result in response.json()["results"]]
        assert labels == ["positive", "negative"]


def test_the_nlp_routes_count_against_their_own_lower_limit(stack: Stack) -> None:
    nlp = requests.post(
        f"{stack.api}/nlp/similarity",
        json={"pairs": [{"a": "refund please", "b": "I want my money back"}]},
        headers=stack.headers("agent"),
        timeout=30,
    )
    other = requests.get(f"{stack.api}/customers", headers=stack.headers("agent"), timeout=10)

    assert nlp.status_code == 200, nlp.text
    # RATE_LIMIT_NLP keeps its default (120 a minute) in the test stack; the API's is raised.
    assert nlp.headers["RateLimit-Limit"] == "120"
    assert other.headers["RateLimit-Limit"] == "100000"


def test_bad_input_is_a_problem_naming_the_text_and_no_token_is_401(stack: Stack) -> None:
    refused = requests.post(
        f"{stack.api}/nlp/embed",
        json={"texts": ["fine", ""]},
        headers=stack.headers("viewer"),
        timeout=30,
    )
    anonymous = requests.post(f"{stack.api}/nlp/embed", json={"texts": ["x"]}, timeout=30)

    assert refused.status_code == 422
    assert refused.headers["Content-Type"] == "application/problem+json"
    assert [error["field"] for error in refused.json()["errors"]] == ["texts.1"]
    assert anonymous.status_code == 401
