"""Creating customers: the happy path, and every way a create can fail without writing."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.customer_service.api_client import CustomerApi, customer_fields, problem, unique_email
from tests.support.databases import Query


def test_create_returns_the_customer_with_location_and_etag(api: CustomerApi) -> None:
    body = customer_fields(
        name="  Grace Hopper ",
        phone="+1 (555) 010-9999",
        company="Navy",
        country="us",
        city="Arlington",
        segment="enterprise",
        status="active",
        tags=["vip", "beta", "vip"],
        attributes={"plan": {"tier": "gold"}, "seats": 12, "ratio": 0.5, "big": 10**30},
    )

    response = api.create(body)

    assert response.status_code == 201
    customer = response.get_json()
    assert response.headers["Location"] == f"/customers/{customer['id']}"
    assert response.headers["ETag"] == '"1"'
    assert customer["name"] == "Grace Hopper"
    assert customer["country"] == "US"
    assert customer["tags"] == ["vip", "beta"]
    assert customer["attributes"] == body["attributes"]
    assert customer["version"] == 1
    assert customer["created_at"] == customer["updated_at"]
    assert customer["created_at"].endswith("Z")
    assert api.get(customer["id"]).get_json() == customer


def test_create_fills_defaults(api: CustomerApi) -> None:
    customer = api.create_ok()

    assert customer["status"] == "lead"
    assert customer["tags"] == []
    assert customer["attributes"] == {}
    assert customer["phone"] is None
    assert list(customer) == [
        "id",
        "name",
        "email",
        "phone",
        "company",
        "country",
        "city",
        "segment",
        "status",
        "tags",
        "attributes",
        "created_at",
        "updated_at",
        "version",
    ]


def test_email_is_unique_ignoring_case(api: CustomerApi) -> None:
    email = unique_email()
    api.create_ok(email=email)

    response = api.create(customer_fields(email=email.upper()))

    problem(response, 409, "email")


def test_bad_fields_are_each_named_and_nothing_is_written(api: CustomerApi, query: Query) -> None:
    email = unique_email()
    body = {
        "name": "",
        "email": email,
        "country": "Narnia",
        "tags": [1],
        "attributes": {"deep": {"nul": "a\x00b"}},
        "shoe_size": 44,
    }

    response = api.create(body)

    errors = problem(response, 422, "name", "country", "tags.0", "attributes", "shoe_size")
    assert len(errors["errors"]) == 5
    assert query("SELECT count(*) AS n FROM customers WHERE email = %s", (email,)) == [{"n": 0}]


@pytest.mark.parametrize(
    "payload",
    [
        b'{"name": "Ada", "email": ',
        b'{"name": "Ada", "email": "ada@example.org",}',
        b"[" * 100_000,
        b'{"name": "Ada", "email": "ada@example.org", "attributes": {"n": 1' + b"0" * 5000 + b"}}",
    ],
    ids=["truncated", "trailing-comma", "nested-too-deep", "number-too-long"],
)
def test_malformed_json_is_400(api: CustomerApi, payload: bytes) -> None:
    response = api.client.post(
        "/customers", data=payload, content_type="application/json", headers=api.headers()
    )

    problem(response, 400)


@pytest.mark.parametrize(
    "payload", [[], "a string", 42, None], ids=["array", "string", "number", "null"]
)
def test_a_body_that_is_not_an_object_is_422(api: CustomerApi, payload: Any) -> None:
    response = api.client.post(
        "/customers",
        data=json.dumps(payload),
        content_type="application/json",
        headers=api.headers(),
    )

    problem(response, 422, "body")


@pytest.mark.parametrize(
    "attributes",
    [
        {"n": float("inf")},
        {"n": float("nan")},
        {"deep": json.loads('{"a":' * 50 + "1" + "}" * 50)},
    ],
    ids=["infinity", "nan", "fifty-levels"],
)
def test_attributes_postgres_cannot_store_are_422(api: CustomerApi, attributes: Any) -> None:
    # json.dumps writes NaN/Infinity, as a careless client would; Python's parser accepts them.
    data = json.dumps(customer_fields(attributes=attributes))

    response = api.client.post(
        "/customers", data=data, content_type="application/json", headers=api.headers()
    )

    problem(response, 422, "attributes")


def test_huge_numbers_in_attributes_round_trip(api: CustomerApi) -> None:
    attributes = {"huge": 10**300, "tiny": 1e-300, "negative": -(10**40)}

    customer = api.create_ok(attributes=attributes)

    assert customer["attributes"] == attributes


def test_non_json_content_type_is_415(api: CustomerApi) -> None:
    response = api.client.post(
        "/customers", data="name=Ada", content_type="text/plain", headers=api.headers()
    )

    problem(response, 415)


def test_body_over_the_limit_is_413(api: CustomerApi) -> None:
    body = customer_fields(attributes={"blob": "x" * (1024 * 1024)})

    response = api.create(body)

    problem(response, 413)


def test_nul_characters_anywhere_are_422_not_500(api: CustomerApi) -> None:
    response = api.create(customer_fields(name="Ada\x00", city="\x00", tags=["a\x00"]))

    problem(response, 422, "name", "city", "tags.0")
