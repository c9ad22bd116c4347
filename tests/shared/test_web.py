"""The service skeleton: request ids, JSON logs and the served OpenAPI document."""

from __future__ import annotations

import json
import logging
import re
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from flask import Flask

from shared.contract import Contract
from shared.errors import Conflict

HEX_UUID = re.compile(r"^[0-9a-f]{32}$")


@pytest.fixture
def app(make_app: Callable[..., Flask]) -> Flask:
    app = make_app(log_level="INFO")

    @app.get("/things/<int:thing_id>")
    def get_thing(thing_id: int):
        return {"id": thing_id}

    @app.post("/things")
    def create_thing():
        raise Conflict("Thing exists")

    @app.get("/boom")
    def boom():
        raise RuntimeError("unexpected")

    return app


def assert_generated(request_id: str) -> None:
    assert HEX_UUID.match(request_id), request_id
    assert uuid.UUID(hex=request_id).version == 4


# --- X-Request-ID ---------------------------------------------------------------


def test_request_id_is_generated_when_absent(app):
    client = app.test_client()

    first = client.get("/things/1").headers["X-Request-ID"]
    second = client.get("/things/1").headers["X-Request-ID"]

    assert_generated(first)
    assert_generated(second)
    assert first != second


@pytest.mark.parametrize(
    "request_id",
    ["abc123", "0b7c-4e1f_9a.2:trace", "x" * 128, str(uuid.uuid4())],
    ids=["word", "all-safe-punctuation", "longest-allowed", "uuid"],
)
def test_sane_request_id_is_kept(app, request_id):
    response = app.test_client().get("/things/1", headers={"X-Request-ID": request_id})

    assert response.headers["X-Request-ID"] == request_id


@pytest.mark.parametrize(
    "request_id",
    ["x" * 129, "has space", "<script>alert(1)</script>", "a/b", 'quote"d', "semi;colon", ""],
    ids=["too-long", "space", "markup", "slash", "quote", "semicolon", "empty"],
)
def test_unsafe_request_id_is_replaced(app, request_id):
    response = app.test_client().get("/things/1", headers={"X-Request-ID": request_id})

    assert response.status_code == 200
    assert_generated(response.headers["X-Request-ID"])


def test_request_id_with_a_trailing_newline_is_replaced(app):
    # Set in the WSGI environ directly: a header line cannot carry it through the test client.
    response = app.test_client().get("/things/1", environ_base={"HTTP_X_REQUEST_ID": "abc123\n"})

    assert response.status_code == 200
    assert_generated(response.headers["X-Request-ID"])


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [("GET", "/nowhere", 404), ("POST", "/things", 409), ("DELETE", "/things/1", 405)],
)
def test_error_responses_carry_the_request_id(app, method, path, status):
    response = app.test_client().open(path, method=method, headers={"X-Request-ID": "trace-42"})

    assert response.status_code == status
    assert response.headers["X-Request-ID"] == "trace-42"


def test_unexpected_error_response_carries_a_request_id(app):
    response = app.test_client().get("/boom")

    assert response.status_code == 500
    assert_generated(response.headers["X-Request-ID"])


# --- JSON logs ------------------------------------------------------------------


def json_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def test_log_lines_are_json_with_the_request_id(make_app, service_name, capsys):
    app: Flask = make_app(log_level="INFO")

    @app.get("/things/<int:thing_id>")
    def get_thing(thing_id: int):
        logging.getLogger("clientele.test").info("looking up thing %s", thing_id)
        return {"id": thing_id}

    capsys.readouterr()
    response = app.test_client().get("/things/9", headers={"X-Request-ID": "trace-abc"})
    assert response.status_code == 200
    lines = json_lines(capsys.readouterr().out)

    inside = [line for line in lines if line["logger"] == "clientele.test"]
    assert len(inside) == 1
    assert inside[0]["message"] == "looking up thing 9"
    assert inside[0]["request_id"] == "trace-abc"
    assert inside[0]["service"] == service_name
    assert inside[0]["level"] == "INFO"

    access = [line for line in lines if line["logger"] == "clientele.access"]
    assert len(access) == 1
    assert access[0]["request_id"] == "trace-abc"
    assert access[0]["method"] == "GET"
    assert access[0]["path"] == "/things/9"
    assert access[0]["status"] == 200
    assert access[0]["duration_ms"] >= 0


def test_generated_request_id_is_the_one_logged(make_app, capsys):
    app = make_app(log_level="INFO")
    capsys.readouterr()

    response = app.test_client().get("/healthz")

    lines = json_lines(capsys.readouterr().out)
    access = [line for line in lines if line["logger"] == "clientele.access"]
    assert [line["request_id"] for line in access] == [response.headers["X-Request-ID"]]


def test_log_lines_outside_a_request_have_no_request_id(make_app, capsys):
    make_app(log_level="INFO")
    capsys.readouterr()

    logging.getLogger("clientele.test").warning("starting up")

    (line,) = json_lines(capsys.readouterr().out)
    assert line["message"] == "starting up"
    assert line["request_id"] == "-"


def test_request_id_does_not_leak_into_the_next_request(make_app, capsys):
    app = make_app(log_level="INFO")
    client = app.test_client()
    client.get("/healthz", headers={"X-Request-ID": "first-request"})
    capsys.readouterr()

    logging.getLogger("clientele.test").warning("between requests")

    (line,) = json_lines(capsys.readouterr().out)
    assert line["request_id"] == "-"


# --- /openapi.json --------------------------------------------------------------

OPENAPI_YAML = """\
openapi: 3.1.0
info:
  title: Things
  version: 1.2.0
paths:
  /things/{thing_id}:
    get:
      operationId: getThing
      security: [{oauth2: ["things:read"]}]
      responses:
        "200":
          description: The thing
        "404":
          description: No such thing
components:
  schemas:
    Thing:
      type: object
      required: [id]
      properties:
        id: {type: integer}
        born:
          type: string
          format: date
          example: 2024-01-31
"""


@pytest.fixture
def contract(tmp_path: Path) -> Contract:
    path = tmp_path / "openapi.yaml"
    path.write_text(OPENAPI_YAML)
    return Contract.load(path)


def test_openapi_document_is_served_as_json(make_app, contract):
    app = make_app(contract=contract)

    response = app.test_client().get("/openapi.json")

    assert response.status_code == 200
    assert response.mimetype == "application/json"
    document = response.get_json()
    assert document["openapi"] == "3.1.0"
    assert document["info"] == {"title": "Things", "version": "1.2.0"}
    operation = document["paths"]["/things/{thing_id}"]["get"]
    assert operation["operationId"] == "getThing"
    assert operation["security"] == [{"oauth2": ["things:read"]}]
    assert set(operation["responses"]) == {"200", "404"}
    assert document["components"]["schemas"]["Thing"]["required"] == ["id"]


def test_openapi_document_keeps_dates_as_written(make_app, contract):
    # YAML reads an unquoted 2024-01-31 as a date; the contract must still say "2024-01-31".
    app = make_app(contract=contract)

    document = app.test_client().get("/openapi.json").get_json()

    born = document["components"]["schemas"]["Thing"]["properties"]["born"]
    assert born["example"] == "2024-01-31"


def test_openapi_document_keeps_key_order(make_app, contract):
    app = make_app(contract=contract)

    document = app.test_client().get("/openapi.json").get_json()

    assert list(document) == list(yaml.safe_load(OPENAPI_YAML))


def test_no_openapi_route_without_a_document(make_app):
    assert make_app().test_client().get("/openapi.json").status_code == 404


def test_every_answer_carries_the_security_headers(make_app):
    client = make_app().test_client()

    for response in (client.get("/healthz"), client.get("/nothing-here")):
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["Referrer-Policy"] == "no-referrer"
        assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
        assert response.headers["X-Frame-Options"] == "DENY"
        assert "Strict-Transport-Security" not in response.headers


def test_answers_to_credentials_are_never_stored_and_tls_gets_hsts(make_app):
    client = make_app().test_client()

    anonymous = client.get("/healthz")
    with_token = client.get("/healthz", headers={"Authorization": "Bearer x"})
    with_key = client.get("/healthz", headers={"X-API-Key": "x"})
    over_tls = client.get("/healthz", base_url="https://api.example")

    assert anonymous.headers.get("Cache-Control") != "no-store"
    assert with_token.headers["Cache-Control"] == "no-store"
    assert with_key.headers["Cache-Control"] == "no-store"
    assert over_tls.headers["Strict-Transport-Security"].startswith("max-age=")
