"""``Idempotency-Key`` on create: retries repeat the first answer and never add a row."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask

from tests.customer_service.api_client import CustomerApi, customer_fields, problem, unique_email
from tests.support.databases import Query
from tests.support.tokens import TestIssuer


def count_with_email(query: Query, email: str) -> int:
    """How many rows (live or deleted) carry ``email``."""
    return int(query("SELECT count(*) AS n FROM customers WHERE email = %s", (email,))[0]["n"])


def keys_named(query: Query, key: str) -> int:
    """How many idempotency rows use ``key`` (for any caller)."""
    return int(query("SELECT count(*) AS n FROM idempotency_keys WHERE key = %s", (key,))[0]["n"])


def test_a_retried_create_replays_the_first_response(api: CustomerApi, query: Query) -> None:
    body = customer_fields()
    headers = api.headers(**{"Idempotency-Key": "retry-1"})

    first = api.client.post("/customers", json=body, headers=headers)
    second = api.client.post("/customers", json=body, headers=headers)

    assert first.status_code == second.status_code == 201
    assert second.get_json() == first.get_json()
    assert second.headers["Location"] == first.headers["Location"]
    assert second.headers["ETag"] == first.headers["ETag"]
    assert second.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert count_with_email(query, body["email"]) == 1


def test_key_order_in_the_body_does_not_matter(api: CustomerApi, issuer: TestIssuer) -> None:
    headers = {**issuer.headers("agent", sub="order-user"), "Idempotency-Key": "order-1"}
    body = customer_fields(city="Leeds")
    reordered = dict(reversed(list(body.items())))

    first = api.client.post("/customers", json=body, headers=headers)
    second = api.client.post("/customers", json=reordered, headers=headers)

    assert second.headers["Idempotent-Replayed"] == "true"
    assert second.get_json()["id"] == first.get_json()["id"]


def test_the_same_key_with_another_body_is_422(api: CustomerApi, query: Query) -> None:
    headers = api.headers(**{"Idempotency-Key": "reuse-1"})
    api.client.post("/customers", json=customer_fields(), headers=headers)
    other = customer_fields()

    response = api.client.post("/customers", json=other, headers=headers)

    problem(response, 422, "Idempotency-Key")
    assert count_with_email(query, other["email"]) == 0


def test_keys_belong_to_the_caller(api: CustomerApi, issuer: TestIssuer) -> None:
    body = customer_fields()
    key = {"Idempotency-Key": "shared-key"}
    first = api.client.post("/customers", json=body, headers={**issuer.headers(), **key})

    # Another caller's key of the same name is a different key: a real create, so 409.
    second = api.client.post("/customers", json=body, headers={**issuer.headers(), **key})

    assert first.status_code == 201
    problem(second, 409, "email")


@pytest.mark.parametrize("key", ["", "x" * 256, "tab\tinside", "caf\u00e9"])
def test_a_malformed_key_is_400_naming_the_header(api: CustomerApi, key: str) -> None:
    headers = api.headers(**{"Idempotency-Key": key})

    response = api.client.post("/customers", json=customer_fields(), headers=headers)

    problem(response, 400, "Idempotency-Key")


def test_a_failed_create_keeps_neither_row_nor_key(api: CustomerApi, query: Query) -> None:
    taken = api.create_ok()["email"]
    headers = api.headers(**{"Idempotency-Key": "fails-first"})

    failed = api.client.post("/customers", json=customer_fields(email=taken), headers=headers)
    assert keys_named(query, "fails-first") == 0
    retried = api.client.post("/customers", json=customer_fields(), headers=headers)

    problem(failed, 409, "email")
    assert retried.status_code == 201
    assert "Idempotent-Replayed" not in retried.headers
    assert count_with_email(query, taken) == 1


def test_an_expired_key_counts_as_unused(
    api: CustomerApi, issuer: TestIssuer, query: Query
) -> None:
    headers = {**issuer.headers(sub="expiry-user"), "Idempotency-Key": "old-key"}
    first = api.client.post("/customers", json=customer_fields(), headers=headers)
    query(
        "UPDATE idempotency_keys SET created_at = now() - interval '25 hours'"
        " WHERE subject = 'expiry-user'"
    )

    second = api.client.post("/customers", json=customer_fields(), headers=headers)

    assert first.status_code == second.status_code == 201
    assert second.get_json()["id"] != first.get_json()["id"]
    assert "Idempotent-Replayed" not in second.headers


def _post_together(
    app: Flask, count: int, body: Callable[[], dict[str, Any]], headers: dict[str, str]
) -> list[tuple[int, dict[str, Any], str | None]]:
    """POST ``/customers`` from ``count`` threads released at the same moment."""
    barrier = threading.Barrier(count)
    results: list[tuple[int, dict[str, Any], str | None]] = []
    lock = threading.Lock()

    def post() -> None:
        client = app.test_client()
        payload = body()
        barrier.wait()
        response = client.post("/customers", json=payload, headers=headers)
        with lock:
            results.append(
                (
                    response.status_code,
                    response.get_json(),
                    response.headers.get("Idempotent-Replayed"),
                )
            )

    threads = [threading.Thread(target=post) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return results


def test_concurrent_retries_with_one_key_create_exactly_one_customer(
    app: Flask, api: CustomerApi, query: Query
) -> None:
    body = customer_fields()
    headers = api.headers(**{"Idempotency-Key": "concurrent-1"})

    results = _post_together(app, 8, lambda: body, headers)

    assert [status for status, _, _ in results] == [201] * 8
    assert len({created["id"] for _, created, _ in results}) == 1
    assert sorted(str(replayed) for _, _, replayed in results) == ["None"] + ["true"] * 7
    assert count_with_email(query, body["email"]) == 1


def test_concurrent_creates_with_one_email_create_exactly_one_customer(
    app: Flask, api: CustomerApi, query: Query
) -> None:
    email = unique_email()

    results = _post_together(app, 8, lambda: customer_fields(email=email), api.headers())

    assert sorted(status for status, _, _ in results) == [201] + [409] * 7
    assert count_with_email(query, email) == 1


def test_a_replay_after_the_customer_was_deleted_repeats_the_answer_and_creates_nothing(
    api: CustomerApi, query: Query
) -> None:
    body = customer_fields()
    headers = api.headers(**{"Idempotency-Key": "create-then-delete"})
    first = api.client.post("/customers", json=body, headers=headers)
    customer_id = first.get_json()["id"]
    assert api.delete(customer_id).status_code == 204

    replay = api.client.post("/customers", json=body, headers=headers)

    assert replay.status_code == 201
    assert replay.get_json() == first.get_json()
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert api.client.get(replay.headers["Location"], headers=api.headers()).status_code == 404
    assert count_with_email(query, body["email"]) == 1
