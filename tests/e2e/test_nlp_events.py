"""The NLP service plugged into the platform, through the gateway, on the shared platform.

A note added through the gateway travels outbox -> relay -> broker -> the NLP
consumer, which publishes its sentiment and embedding; the customer service shows
the sentiment on the note, analytics rolls it up, and semantic search finds the
customer by what the note means rather than the words it uses.
"""

from __future__ import annotations

import uuid
from typing import Any

import requests

from tests.e2e.conftest import Stack, create_customer, wait_for

#: Customer event -> NLP consumer (a forward pass) -> NLP event -> the three consumers.
PROPAGATION_SECONDS = 20.0


def notes(stack: Stack, customer_id: str) -> list[dict[str, Any]]:
    """The customer's notes as the gateway lists them."""
    response = requests.get(
        f"{stack.api}/customers/{customer_id}/notes", headers=stack.headers("viewer"), timeout=10
    )
    assert response.status_code == 200, response.text
    return list(response.json()["items"])


def add_note(stack: Stack, customer_id: str, body: str) -> dict[str, Any]:
    """Add a note through the gateway as an agent."""
    response = requests.post(
        f"{stack.api}/customers/{customer_id}/notes",
        json={"body": body},
        headers=stack.headers("agent"),
        timeout=10,
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


def test_a_note_added_through_the_gateway_shows_its_sentiment(stack: Stack) -> None:
    customer = create_customer(stack, name="Ines Carvalho", company="Lisboa Dental")
    added = add_note(stack, customer["id"], "Honestly the best support we've ever had, thank you!")
    assert added["sentiment"] is None

    scored = wait_for(
        lambda: [note for note in notes(stack, customer["id"]) if note["sentiment"]],
        PROPAGATION_SECONDS,
    )

    assert scored, notes(stack, customer["id"])
    assert scored[0]["id"] == added["id"]
    assert scored[0]["sentiment"]["label"] == "positive"
    assert 0 < scored[0]["sentiment"]["score"] <= 1


def customer_sentiment(stack: Stack, customer_id: str) -> list[dict[str, Any]]:
    """The customer's sentiment group as analytics reports it (empty until counted)."""
    response = requests.get(
        f"{stack.api}/analytics/sentiment",
        params={"by": "customer", "customer_id": customer_id},
        headers=stack.headers("viewer"),
        timeout=10,
    )
    assert response.status_code == 200, response.text
    return list(response.json()["groups"])


def test_note_sentiment_is_rolled_up_per_customer_and_per_segment(stack: Stack) -> None:
    segment = f"seg-{uuid.uuid4().hex[:8]}"
    customer = create_customer(stack, name="Tomasz Nowak", segment=segment)
    add_note(stack, customer["id"], "The export is broken again and nobody answers. Unacceptable.")
    add_note(stack, customer["id"], "Furious: we were double charged this month.")

    groups = wait_for(
        lambda: [g for g in customer_sentiment(stack, customer["id"]) if g["notes"] == 2],
        PROPAGATION_SECONDS,
    )

    assert groups, customer_sentiment(stack, customer["id"])
    assert groups[0]["value"] == customer["id"]
    assert groups[0]["labels"]["negative"]["count"] == 2
    assert groups[0]["mean"] < -0.3
    by_segment = requests.get(
        f"{stack.api}/analytics/sentiment",
        params={"by": "segment", "segment": segment},
        headers=stack.headers("agent"),
        timeout=10,
    ).json()
    assert [(g["value"], g["notes"]) for g in by_segment["groups"]] == [(segment, 2)]


def test_semantic_search_finds_a_customer_by_what_a_note_means(stack: Stack) -> None:
    word = f"Semantica{uuid.uuid4().hex[:6]}"
    customer = create_customer(stack, name=f"Olga {word}", company="Baltic Timber")
    add_note(
        stack,
        customer["id"],
        "The laptop arrived with a cracked screen and they want their money back.",
    )
    query = "refund for a damaged computer"

    def hits() -> list[dict[str, Any]]:
        response = requests.get(
            f"{stack.api}/search",
            params={"q": query, "mode": "semantic", "limit": 50},
            headers=stack.headers("viewer"),
            timeout=10,
        )
        assert response.status_code == 200, response.text
        return [hit for hit in response.json()["items"] if hit["id"] == customer["id"]]

    found = wait_for(hits, PROPAGATION_SECONDS)

    assert found, "the customer's note never made it findable by meaning"
    assert found[0]["score"] > 0.35
    # Not one word of the query is in the customer's name, company or note.
    text = requests.get(
        f"{stack.api}/search",
        params={"q": query, "limit": 50},
        headers=stack.headers("viewer"),
        timeout=10,
    ).json()
    assert customer["id"] not in {hit["id"] for hit in text["items"]}
    hybrid = requests.get(
        f"{stack.api}/search",
        params={"q": f"olga {word}", "mode": "hybrid"},
        headers=stack.headers("agent"),
        timeout=10,
    ).json()
    assert hybrid["items"][0]["id"] == customer["id"]
