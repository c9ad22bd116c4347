"""Calls to the customer API through the Flask test client, as a user would make them."""

from __future__ import annotations

import uuid
from typing import Any

from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from tests.support.tokens import TestIssuer

PROBLEM_JSON = "application/problem+json"


def unique_email(label: str = "customer") -> str:
    """An email no other test uses."""
    return f"{label}-{uuid.uuid4().hex[:12]}@example.com"


def unique_tag() -> str:
    """A tag no other test uses, to list only this test's customers."""
    return f"t-{uuid.uuid4().hex[:12]}"


def customer_fields(**fields: Any) -> dict[str, Any]:
    """A valid create body with a unique email; ``fields`` override or add."""
    return {"name": "Ada Lovelace", "email": unique_email(), **fields}


def problem(response: TestResponse, status: int, *fields: str) -> dict[str, Any]:
    """Assert ``response`` is a problem+json with ``status`` naming ``fields``; return it."""
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == PROBLEM_JSON
    body: dict[str, Any] = response.get_json(force=True)
    assert body["status"] == status
    assert body["type"]
    assert body["title"]
    assert body["detail"]
    named = {error["field"] for error in body.get("errors", [])}
    assert set(fields) <= named, f"expected {fields} in {named}"
    return body


def etag(version: int) -> str:
    """The ETag the API gives a customer version."""
    return f'"{version}"'


class CustomerApi:
    """The test client plus tokens by role; each method is one HTTP call."""

    def __init__(self, client: FlaskClient, issuer: TestIssuer) -> None:
        self.client = client
        self.issuer = issuer

    def headers(self, role: str = "admin", **extra: str) -> dict[str, str]:
        """An ``Authorization`` header for ``role`` plus any ``extra`` headers."""
        return {**self.issuer.headers(role), **extra}

    def create(self, body: Any, role: str = "admin", **headers: str) -> TestResponse:
        """``POST /customers`` with a JSON body."""
        return self.client.post("/customers", json=body, headers=self.headers(role, **headers))

    def create_ok(self, **fields: Any) -> dict[str, Any]:
        """Create a customer from :func:`customer_fields` and return it."""
        response = self.create(customer_fields(**fields))
        assert response.status_code == 201, response.get_data(as_text=True)
        created: dict[str, Any] = response.get_json()
        return created

    def get(self, customer_id: str, role: str = "admin", **headers: str) -> TestResponse:
        """``GET /customers/{id}``."""
        return self.client.get(f"/customers/{customer_id}", headers=self.headers(role, **headers))

    def patch(
        self, customer_id: str, body: Any, version: int | None, role: str = "admin"
    ) -> TestResponse:
        """``PATCH /customers/{id}`` with ``If-Match`` for ``version`` (none if None)."""
        extra = {"If-Match": etag(version)} if version is not None else {}
        return self.client.patch(
            f"/customers/{customer_id}", json=body, headers=self.headers(role, **extra)
        )

    def delete(self, customer_id: str, role: str = "admin", **headers: str) -> TestResponse:
        """``DELETE /customers/{id}``."""
        return self.client.delete(
            f"/customers/{customer_id}", headers=self.headers(role, **headers)
        )

    def restore(self, customer_id: str, role: str = "admin", **headers: str) -> TestResponse:
        """``POST /customers/{id}/restore``."""
        return self.client.post(
            f"/customers/{customer_id}/restore", headers=self.headers(role, **headers)
        )

    def list_customers(self, query: str = "", role: str = "admin") -> TestResponse:
        """``GET /customers?{query}``."""
        return self.client.get(f"/customers?{query}", headers=self.headers(role))

    def add_note(self, customer_id: str, body: Any, role: str = "admin") -> TestResponse:
        """``POST /customers/{id}/notes``."""
        return self.client.post(
            f"/customers/{customer_id}/notes", json=body, headers=self.headers(role)
        )

    def notes(self, customer_id: str, query: str = "", role: str = "admin") -> TestResponse:
        """``GET /customers/{id}/notes?{query}``."""
        return self.client.get(
            f"/customers/{customer_id}/notes?{query}", headers=self.headers(role)
        )

    def submit_import(
        self,
        content: str,
        mapping: dict[str, str] | None = None,
        role: str = "admin",
        filename: str = "customers.csv",
    ) -> TestResponse:
        """``POST /customers/imports``; the mapping defaults to each header column as itself."""
        if mapping is None:
            header = content.removeprefix("\ufeff").splitlines()[0].split(",")
            mapping = {column: column for column in header}
        body = {"filename": filename, "mapping": mapping, "content": content}
        return self.client.post("/customers/imports", json=body, headers=self.headers(role))

    def import_job(self, job_id: str, role: str = "admin") -> TestResponse:
        """``GET /customers/imports/{id}``."""
        return self.client.get(f"/customers/imports/{job_id}", headers=self.headers(role))

    def import_rows(self, job_id: str, query: str = "", role: str = "admin") -> TestResponse:
        """``GET /customers/imports/{id}/rows?{query}``."""
        return self.client.get(
            f"/customers/imports/{job_id}/rows?{query}", headers=self.headers(role)
        )

    def export(self, query: str = "", role: str = "admin", **options: Any) -> TestResponse:
        """``GET /customers/export?{query}``; ``buffered=False`` to read it as it streams."""
        return self.client.get(f"/customers/export?{query}", headers=self.headers(role), **options)
