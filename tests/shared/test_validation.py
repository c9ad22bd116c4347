"""Request bodies and query strings: every way to get them wrong is a clear problem."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Annotated, Any

import pytest
from flask import Flask
from pydantic import BaseModel, ConfigDict, Field

from shared.errors import PROBLEM_JSON
from shared.web.validation import parse_body, parse_query

BODY_LIMIT = 256 * 1024


class NewThing(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=40)
    quantity: int = Field(ge=0)
    tags: list[str] = []


class ThingQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: list[str] = []
    country: list[str] | None = None
    limit: int = Field(default=10, ge=1, le=100)
    q: str | None = None
    labels: Annotated[list[str], Field(max_length=3)] | None = None


@pytest.fixture
def client(make_app: Callable[..., Flask]):
    app = make_app(max_body_bytes=BODY_LIMIT)

    @app.post("/things")
    def create_thing():
        return parse_body(NewThing).model_dump(), 201

    @app.get("/things")
    def list_things():
        return parse_query(ThingQuery).model_dump()

    return app.test_client()


def problem(response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == PROBLEM_JSON
    body = response.get_json(force=True)
    assert body["status"] == status
    return body  # type: ignore[no-any-return]


def fields(body: dict[str, Any]) -> dict[str, str]:
    return {error["field"]: error["message"] for error in body["errors"]}


# --- parse_body ---------------------------------------------------------------


def test_valid_body_is_parsed(client):
    response = client.post("/things", json={"name": "bolt", "quantity": 3, "tags": ["m4"]})

    assert response.status_code == 201
    assert response.get_json() == {"name": "bolt", "quantity": 3, "tags": ["m4"]}


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", None])
def test_body_that_is_not_json_is_415(client, content_type):
    headers = {"Content-Type": content_type} if content_type else {}

    body = problem(
        client.post("/things", data='{"name": "bolt", "quantity": 1}', headers=headers), 415
    )

    assert body["type"] == "urn:clientele:problem:unsupported-media-type"


def test_json_with_a_suffix_media_type_is_accepted(client):
    response = client.post(
        "/things",
        data=json.dumps({"name": "bolt", "quantity": 1}),
        headers={"Content-Type": "application/merge-patch+json"},
    )

    assert response.status_code == 201


@pytest.mark.parametrize(
    "raw",
    [b'{"name": "bolt",', b"", b"{'name': 'bolt'}", b'{"name": "\xff\xfe"}'],
    ids=["truncated", "empty", "single-quotes", "not-utf8"],
)
def test_malformed_json_is_400(client, raw):
    body = problem(
        client.post("/things", data=raw, headers={"Content-Type": "application/json"}), 400
    )

    assert body["type"] == "urn:clientele:problem:bad-request"


def test_deeply_nested_json_is_400_not_500(client):
    raw = "[" * 100_000

    body = problem(
        client.post("/things", data=raw, headers={"Content-Type": "application/json"}), 400
    )

    assert "Malformed JSON" in body["detail"]


@pytest.mark.parametrize("payload", [[1, 2], "bolt", 42, None, True])
def test_json_that_is_not_an_object_is_422(client, payload):
    body = problem(
        client.post("/things", data=json.dumps(payload), content_type="application/json"), 422
    )

    assert fields(body) == {"body": "expected a JSON object"}


def test_each_bad_field_is_named(client):
    response = client.post(
        "/things", json={"name": "", "quantity": -1, "tags": "not-a-list", "colour": "red"}
    )

    body = problem(response, 422)
    assert body["type"] == "urn:clientele:problem:validation-failed"
    named = fields(body)
    assert set(named) == {"name", "quantity", "tags", "colour"}
    assert named["colour"] == "unknown field"
    for field in ("name", "quantity", "tags", "colour"):
        assert field in body["detail"]


def test_missing_required_fields_are_named(client):
    body = problem(client.post("/things", json={}), 422)

    assert set(fields(body)) == {"name", "quantity"}


def test_nested_field_errors_name_the_path(client):
    body = problem(client.post("/things", json={"name": "x", "quantity": 1, "tags": [1]}), 422)

    assert set(fields(body)) == {"tags.0"}


def test_body_over_max_content_length_is_413(client):
    oversized = json.dumps({"name": "x" * BODY_LIMIT, "quantity": 1})

    body = problem(
        client.post("/things", data=oversized, headers={"Content-Type": "application/json"}), 413
    )

    assert body["title"] == "Request Entity Too Large"


# --- parse_query ----------------------------------------------------------------


def test_query_defaults_when_empty(client):
    response = client.get("/things")

    assert response.status_code == 200
    assert response.get_json() == {
        "status": [],
        "country": None,
        "limit": 10,
        "q": None,
        "labels": None,
    }


def test_list_fields_take_every_repeat(client):
    response = client.get("/things?status=active&status=lead&country=FR&country=DE&limit=5")

    assert response.status_code == 200
    assert response.get_json() == {
        "status": ["active", "lead"],
        "country": ["FR", "DE"],
        "limit": 5,
        "q": None,
        "labels": None,
    }


def test_annotated_list_fields_take_every_repeat(client):
    response = client.get("/things?labels=a&labels=b")

    assert response.status_code == 200
    assert response.get_json()["labels"] == ["a", "b"]


def test_a_single_valued_parameter_given_twice_is_422(client):
    body = problem(client.get("/things?limit=5&limit=6"), 422)

    assert fields(body) == {"limit": "given more than once"}


def test_single_value_for_a_list_field_is_a_list(client):
    assert client.get("/things?status=active").get_json()["status"] == ["active"]


def test_unknown_query_parameter_is_422(client):
    body = problem(client.get("/things?limit=5&sort=name"), 422)

    assert fields(body) == {"sort": "unknown field"}


def test_bad_query_values_are_named(client):
    body = problem(client.get("/things?limit=zero&q=ok"), 422)

    assert set(fields(body)) == {"limit"}


def test_out_of_range_query_value_is_422(client):
    body = problem(client.get("/things?limit=1000"), 422)

    assert set(fields(body)) == {"limit"}


@pytest.mark.parametrize(
    ("raw", "said"),
    [
        (b'{"name": "x", "quantity": ' + b"9" * 5000 + b"}", "a number is too long"),
        (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
    ],
)
def test_errors_say_what_the_client_sent_not_how_python_failed(client, raw, said):
    body = problem(
        client.post("/things", data=raw, headers={"Content-Type": "application/json"}), 400
    )

    assert said in body["detail"]
    for internal in ("sys.", "set_int_max_str_digits", "recursion", "Python"):
        assert internal not in body["detail"]
