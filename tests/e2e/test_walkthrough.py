"""The README's walkthrough, through the gateway, against real processes."""

from __future__ import annotations

import json
import uuid

import requests

from tests.e2e.conftest import Stack, create_customer


def test_create_list_update_with_if_match_delete_restore(stack: Stack) -> None:
    headers = stack.headers("admin")
    email = f"grace-{uuid.uuid4().hex[:8]}@example.com"
    created = requests.post(
        f"{stack.api}/customers",
        json={"name": "Grace Hopper", "email": email, "country": "us", "tags": ["vip"]},
        headers=headers,
        timeout=10,
    )
    assert created.status_code == 201, created.text
    customer = created.json()
    assert customer["country"] == "US"
    assert created.headers["Location"] == f"/api/v1/customers/{customer['id']}"

    listed = requests.get(
        f"{stack.api}/customers", params={"tag": "vip"}, headers=headers, timeout=10
    )
    assert listed.status_code == 200
    assert customer["id"] in [item["id"] for item in listed.json()["items"]]

    fetched = requests.get(f"{stack.api}/customers/{customer['id']}", headers=headers, timeout=10)
    etag = fetched.headers["ETag"]
    updated = requests.patch(
        f"{stack.api}/customers/{customer['id']}",
        json={"status": "active"},
        headers={**headers, "If-Match": etag},
        timeout=10,
    )
    assert updated.status_code == 200, updated.text
    assert updated.json()["status"] == "active"
    assert updated.headers["ETag"] != etag

    stale = requests.patch(
        f"{stack.api}/customers/{customer['id']}",
        json={"status": "churned"},
        headers={**headers, "If-Match": etag},
        timeout=10,
    )
    assert stale.status_code == 412
    assert stale.headers["Content-Type"] == "application/problem+json"

    deleted = requests.delete(
        f"{stack.api}/customers/{customer['id']}", headers=headers, timeout=10
    )
    assert deleted.status_code == 204
    gone = requests.get(f"{stack.api}/customers/{customer['id']}", headers=headers, timeout=10)
    assert gone.status_code == 404
    restored = requests.post(
        f"{stack.api}/customers/{customer['id']}/restore", headers=headers, timeout=10
    )
    assert restored.status_code == 200
    assert restored.json()["status"] == "active"


def test_notes_through_the_gateway_carry_the_author(stack: Stack) -> None:
    customer = create_customer(stack)
    added = requests.post(
        f"{stack.api}/customers/{customer['id']}/notes",
        json={"body": "Called about renewal."},
        headers=stack.headers("agent"),
        timeout=10,
    )
    assert added.status_code == 201, added.text
    assert added.json()["author"] == stack.users["agent"][0]
    notes = requests.get(
        f"{stack.api}/customers/{customer['id']}/notes", headers=stack.headers("viewer"), timeout=10
    )
    assert [note["body"] for note in notes.json()["items"]] == ["Called about renewal."]


def test_request_id_is_kept_passed_on_and_logged(stack: Stack) -> None:
    request_id = f"walkthrough-{uuid.uuid4().hex}"
    customer = create_customer(stack)
    response = requests.get(
        f"{stack.api}/customers/{customer['id']}",
        headers={**stack.headers(), "X-Request-ID": request_id},
        timeout=10,
    )
    assert response.headers["X-Request-ID"] == request_id
    logged = [
        json.loads(line) for line in stack.customer.output().splitlines() if line.startswith("{")
    ]
    assert any(entry.get("request_id") == request_id for entry in logged)


def test_gateway_generates_a_request_id_when_absent(stack: Stack) -> None:
    response = requests.get(f"{stack.api}/customers", headers=stack.headers(), timeout=10)
    assert len(response.headers["X-Request-ID"]) == 32


def test_idempotent_create_through_the_gateway_returns_the_first_result(stack: Stack) -> None:
    key = uuid.uuid4().hex
    body = {"name": "Once Only", "email": f"once-{key[:8]}@example.com"}
    headers = {**stack.headers(), "Idempotency-Key": key}
    first = requests.post(f"{stack.api}/customers", json=body, headers=headers, timeout=10)
    second = requests.post(f"{stack.api}/customers", json=body, headers=headers, timeout=10)
    assert first.status_code == second.status_code == 201
    assert first.json()["id"] == second.json()["id"]


def test_bad_input_through_the_gateway_is_a_clear_problem(stack: Stack) -> None:
    headers = stack.headers()
    invalid = requests.post(
        f"{stack.api}/customers",
        json={"name": "", "email": "not-an-email", "colour": "blue"},
        headers=headers,
        timeout=10,
    )
    assert invalid.status_code == 422
    assert invalid.headers["Content-Type"] == "application/problem+json"
    fields = {error["field"] for error in invalid.json()["errors"]}
    assert {"name", "email", "colour"} <= fields

    malformed = requests.post(
        f"{stack.api}/customers",
        data=b"{not json",
        headers={**headers, "Content-Type": "application/json"},
        timeout=10,
    )
    assert malformed.status_code == 400

    oversize = requests.post(
        f"{stack.api}/customers",
        data=b'{"name": "' + b"x" * (1024 * 1024 + 1) + b'"}',
        headers={**headers, "Content-Type": "application/json"},
        timeout=10,
    )
    assert oversize.status_code == 413
    assert oversize.headers["Content-Type"] == "application/problem+json"

    unknown = requests.get(f"{stack.api}/customers/{uuid.uuid4()}", headers=headers, timeout=10)
    assert unknown.status_code == 404


def test_a_service_checks_tokens_itself(stack: Stack) -> None:
    customer = create_customer(stack)
    direct = f"{stack.customer.url}/customers/{customer['id']}"
    assert requests.get(direct, timeout=10).status_code == 401
    forged = requests.get(direct, headers={"Authorization": "Bearer abc.def.ghi"}, timeout=10)
    assert forged.status_code == 401
    assert forged.headers["Content-Type"] == "application/problem+json"
    assert requests.get(direct, headers=stack.headers("viewer"), timeout=10).status_code == 200


def test_the_service_is_ready_once_it_holds_the_gateways_keys(stack: Stack) -> None:
    readyz = requests.get(f"{stack.customer.url}/readyz", timeout=10)

    assert readyz.status_code == 200, readyz.text
    assert readyz.json()["checks"] == {"postgres": "ok", "jwks": "ok"}
