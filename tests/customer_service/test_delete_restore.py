"""Soft delete and restore: versions, 404s, preconditions and email conflicts."""

from __future__ import annotations

import uuid

from tests.customer_service.api_client import CustomerApi, customer_fields, problem


def test_deleted_customers_disappear_but_can_be_restored(api: CustomerApi) -> None:
    tag = f"t-{uuid.uuid4().hex[:10]}"
    customer = api.create_ok(tags=[tag])

    deleted = api.delete(customer["id"])

    assert deleted.status_code == 204
    assert deleted.data == b""
    assert "Content-Type" not in deleted.headers
    problem(api.get(customer["id"]), 404)
    assert api.list_customers(f"tag={tag}").get_json()["items"] == []
    problem(api.delete(customer["id"]), 404)
    problem(api.patch(customer["id"], {"name": "x"}, version=2), 404)

    restored = api.restore(customer["id"])

    assert restored.status_code == 200
    assert restored.headers["ETag"] == '"3"'
    body = restored.get_json()
    assert body["version"] == 3  # created 1, deleted 2, restored 3
    assert {**body, "version": 1, "updated_at": None} == {**customer, "updated_at": None}
    assert api.get(customer["id"]).get_json() == body
    assert [item["id"] for item in api.list_customers(f"tag={tag}").get_json()["items"]] == [
        customer["id"]
    ]


def test_delete_honours_if_match(api: CustomerApi) -> None:
    customer = api.create_ok()

    stale = api.delete(customer["id"], **{"If-Match": '"5"'})
    current = api.delete(customer["id"], **{"If-Match": '"1"'})

    assert problem(stale, 412)["current_etag"] == '"1"'
    assert current.status_code == 204


def test_delete_of_an_unknown_customer_is_404(api: CustomerApi) -> None:
    problem(api.delete(str(uuid.uuid4())), 404)


def test_restoring_a_live_customer_is_409(api: CustomerApi) -> None:
    customer = api.create_ok()

    problem(api.restore(customer["id"]), 409)
    assert api.get(customer["id"]).headers["ETag"] == '"1"'


def test_restoring_an_unknown_customer_is_404(api: CustomerApi) -> None:
    problem(api.restore(str(uuid.uuid4())), 404)


def test_a_deleted_customers_email_is_free_for_a_new_customer(api: CustomerApi) -> None:
    old = api.create_ok()
    api.delete(old["id"])

    response = api.create(customer_fields(email=old["email"].upper()))

    assert response.status_code == 201


def test_restore_is_409_when_a_live_customer_took_the_email(api: CustomerApi) -> None:
    old = api.create_ok()
    api.delete(old["id"])
    api.create_ok(email=old["email"])

    response = api.restore(old["id"])

    problem(response, 409, "email")
    problem(api.get(old["id"]), 404)


def test_restore_honours_if_match(api: CustomerApi) -> None:
    customer = api.create_ok()
    api.delete(customer["id"])

    problem(api.restore(customer["id"], **{"If-Match": '"1"'}), 412)
    assert api.restore(customer["id"], **{"If-Match": '"2"'}).status_code == 200
