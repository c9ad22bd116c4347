"""Every error, ours or Werkzeug's, reaches the client as application/problem+json."""

from __future__ import annotations

import inspect
from collections.abc import Callable

import pytest
from flask import Flask, request
from pydantic import BaseModel, Field

from shared import errors
from shared.errors import (
    PROBLEM_JSON,
    BadGateway,
    BadRequest,
    Conflict,
    ContentTooLarge,
    Forbidden,
    GatewayTimeout,
    NotFound,
    PreconditionFailed,
    PreconditionRequired,
    ProblemError,
    ServiceUnavailable,
    TooManyRequests,
    Unauthorized,
    UnsupportedMediaType,
    ValidationFailed,
)

EXPECTED = {
    BadRequest: (400, "bad-request"),
    Unauthorized: (401, "unauthorized"),
    Forbidden: (403, "forbidden"),
    NotFound: (404, "not-found"),
    Conflict: (409, "conflict"),
    PreconditionFailed: (412, "precondition-failed"),
    ContentTooLarge: (413, "content-too-large"),
    UnsupportedMediaType: (415, "unsupported-media-type"),
    ValidationFailed: (422, "validation-failed"),
    PreconditionRequired: (428, "precondition-required"),
    TooManyRequests: (429, "rate-limited"),
    BadGateway: (502, "bad-gateway"),
    ServiceUnavailable: (503, "service-unavailable"),
    GatewayTimeout: (504, "gateway-timeout"),
}


def build(error_class: type[ProblemError]) -> ProblemError:
    if error_class is ValidationFailed:
        return ValidationFailed([{"field": "email", "message": "not an email", "code": "value"}])
    return error_class("something specific went wrong")


class CustomerNotFound(NotFound):
    slug = "customer-not-found"


class Customer(BaseModel):
    email: str = Field(min_length=3)


@pytest.fixture
def app(make_app: Callable[..., Flask]) -> Flask:
    app = make_app(max_body_bytes=64)

    @app.get("/raise/<name>")
    def raise_named(name: str):
        raise build(getattr(errors, name))

    @app.get("/customers/<int:customer_id>")
    def get_customer(customer_id: int):
        raise CustomerNotFound(f"No customer {customer_id}", customer_id=customer_id)

    @app.get("/limited")
    def limited():
        raise TooManyRequests("Slow down", headers={"Retry-After": "7"})

    @app.post("/upload")
    def upload():
        return {"size": len(request.get_data())}

    @app.get("/pydantic")
    def pydantic_error():
        Customer.model_validate({"email": "x"})
        return "unreachable"

    @app.get("/boom")
    def boom():
        raise RuntimeError("password=hunter2 at db.internal:5432")

    return app


def test_every_problem_class_in_shared_is_covered():
    defined = {
        value
        for value in vars(errors).values()
        if inspect.isclass(value) and issubclass(value, ProblemError) and value is not ProblemError
    }

    assert defined == set(EXPECTED)


@pytest.mark.parametrize(
    ("error_class", "status", "slug"),
    [(cls, status, slug) for cls, (status, slug) in EXPECTED.items()],
    ids=[cls.__name__ for cls in EXPECTED],
)
def test_problem_error_renders_as_problem_json(app, error_class, status, slug):
    response = app.test_client().get(f"/raise/{error_class.__name__}")

    assert response.status_code == status
    assert response.mimetype == PROBLEM_JSON
    body = response.get_json(force=True)
    assert body["type"] == f"urn:clientele:problem:{slug}"
    assert body["status"] == status
    assert body["title"] == error_class.title
    assert body["detail"]


def test_validation_failed_lists_its_fields(app):
    body = app.test_client().get("/raise/ValidationFailed").get_json(force=True)

    assert body["errors"] == [{"field": "email", "message": "not an email", "code": "value"}]
    assert "email" in body["detail"]


def test_unauthorized_sends_the_bearer_challenge(app):
    response = app.test_client().get("/raise/Unauthorized")

    assert response.headers["WWW-Authenticate"] == 'Bearer realm="clientele"'


def test_service_subclass_keeps_its_own_slug_and_extensions(app):
    response = app.test_client().get("/customers/42")

    assert response.status_code == 404
    assert response.get_json(force=True) == {
        "type": "urn:clientele:problem:customer-not-found",
        "title": "Not Found",
        "status": 404,
        "detail": "No customer 42",
        "customer_id": 42,
    }


def test_problem_headers_reach_the_client(app):
    response = app.test_client().get("/limited")

    assert response.status_code == 429
    assert response.headers["Retry-After"] == "7"


def test_pydantic_error_escaping_a_view_is_422(app):
    response = app.test_client().get("/pydantic")

    assert response.status_code == 422
    assert response.mimetype == PROBLEM_JSON
    body = response.get_json(force=True)
    assert body["type"] == "urn:clientele:problem:validation-failed"
    assert [error["field"] for error in body["errors"]] == ["email"]


def test_unknown_path_is_404_problem(app):
    response = app.test_client().get("/no/such/thing")

    assert response.status_code == 404
    assert response.mimetype == PROBLEM_JSON
    body = response.get_json(force=True)
    assert body["status"] == 404
    assert body["title"] == "Not Found"
    assert body["type"] == "about:blank"


def test_wrong_method_is_405_problem_with_allow_header(app):
    response = app.test_client().delete("/customers/1")

    assert response.status_code == 405
    assert response.mimetype == PROBLEM_JSON
    assert response.get_json(force=True)["status"] == 405
    allowed = {method.strip() for method in response.headers["Allow"].split(",")}
    assert {"GET", "HEAD", "OPTIONS"} <= allowed
    assert "DELETE" not in allowed


def test_body_over_the_limit_is_413_problem(app):
    response = app.test_client().post(
        "/upload", data=b"x" * 65, headers={"Content-Type": "application/octet-stream"}
    )

    assert response.status_code == 413
    assert response.mimetype == PROBLEM_JSON
    assert response.get_json(force=True)["status"] == 413


def test_body_at_the_limit_is_accepted(app):
    response = app.test_client().post("/upload", data=b"x" * 64)

    assert response.status_code == 200
    assert response.get_json() == {"size": 64}


def test_unexpected_exception_is_500_problem_without_its_message(app):
    response = app.test_client().get("/boom")

    assert response.status_code == 500
    assert response.mimetype == PROBLEM_JSON
    body = response.get_json(force=True)
    assert body["status"] == 500
    assert body["title"] == "Internal Server Error"
    text = response.get_data(as_text=True)
    assert "hunter2" not in text
    assert "RuntimeError" not in text
    assert "db.internal" not in text
    assert response.headers["X-Request-ID"]
