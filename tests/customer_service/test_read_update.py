"""Reading a customer (ETag, 304, 404) and changing it with a merge patch under If-Match."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest

from tests.customer_service.api_client import CustomerApi, etag, problem, unique_email

Sql = Callable[..., list[dict[str, Any]]]


def test_get_carries_the_version_as_etag(api: CustomerApi) -> None:
    customer = api.create_ok()

    response = api.get(customer["id"])

    assert response.status_code == 200
    assert response.headers["ETag"] == '"1"'
    assert response.get_json() == customer


def test_if_none_match_with_the_current_etag_is_304(api: CustomerApi) -> None:
    customer = api.create_ok()

    unchanged = api.get(customer["id"], **{"If-None-Match": '"1"'})
    changed = api.get(customer["id"], **{"If-None-Match": '"0"'})

    assert unchanged.status_code == 304
    assert unchanged.data == b""
    assert unchanged.headers["ETag"] == '"1"'
    assert changed.status_code == 200


@pytest.mark.parametrize(
    "customer_id",
    ["0b5e8f9c-3c1d-4f7e-8a2b-6d4c2e1f9a70", "not-a-uuid", "1", "%00", "9" * 400],
    ids=["unknown", "word", "digit", "nul", "long"],
)
def test_unknown_or_malformed_ids_are_404(api: CustomerApi, customer_id: str) -> None:
    problem(api.get(customer_id), 404)


def test_patch_changes_only_the_fields_sent(api: CustomerApi) -> None:
    customer = api.create_ok(city="Leeds", phone="+44 113 496 0000", tags=["a"])

    response = api.patch(customer["id"], {"name": "Ada King", "phone": None}, version=1)

    assert response.status_code == 200
    changed = response.get_json()
    assert response.headers["ETag"] == '"2"'
    assert changed["version"] == 2
    assert changed["name"] == "Ada King"
    assert changed["phone"] is None
    assert changed["city"] == "Leeds"
    assert changed["tags"] == ["a"]
    assert changed["updated_at"] > customer["updated_at"]
    assert changed["created_at"] == customer["created_at"]
    assert api.get(customer["id"]).get_json() == changed


def test_patch_merges_attributes_and_replaces_tags(api: CustomerApi) -> None:
    customer = api.create_ok(
        tags=["a", "b"], attributes={"plan": {"tier": "gold", "seats": 5}, "source": "ads"}
    )

    response = api.patch(
        customer["id"],
        {"tags": ["c"], "attributes": {"plan": {"seats": 9}, "source": None}},
        version=1,
    )

    changed = response.get_json()
    assert changed["tags"] == ["c"]
    assert changed["attributes"] == {"plan": {"tier": "gold", "seats": 9}}


def test_merge_patch_content_type_is_accepted(api: CustomerApi) -> None:
    customer = api.create_ok()

    response = api.client.patch(
        f"/customers/{customer['id']}",
        data='{"status": "active"}',
        content_type="application/merge-patch+json",
        headers=api.headers(**{"If-Match": '"1"'}),
    )

    assert response.status_code == 200
    assert response.get_json()["status"] == "active"


def test_a_patch_that_changes_nothing_keeps_the_version(api: CustomerApi) -> None:
    customer = api.create_ok(city="Leeds")

    response = api.patch(customer["id"], {"city": "Leeds", "name": customer["name"]}, 1)

    assert response.status_code == 200
    assert response.headers["ETag"] == '"1"'
    assert response.get_json() == customer


def test_patch_without_if_match_is_428(api: CustomerApi) -> None:
    customer = api.create_ok()

    problem(api.patch(customer["id"], {"name": "New"}, version=None), 428)
    assert api.get(customer["id"]).get_json()["name"] == customer["name"]


def test_patch_with_a_stale_etag_is_412_naming_the_current_one(api: CustomerApi) -> None:
    customer = api.create_ok()
    api.patch(customer["id"], {"city": "York"}, version=1)

    response = api.patch(customer["id"], {"city": "Hull"}, version=1)

    body = problem(response, 412)
    assert body["type"] == "urn:clientele:problem:version-mismatch"
    assert body["detail"] == 'The customer has changed; its current version is "2"'
    assert body["current_etag"] == '"2"'
    assert response.headers["ETag"] == '"2"'
    assert api.get(customer["id"]).get_json()["city"] == "York"


@pytest.mark.parametrize("header", ["*", '"7", "1"', "1"])
def test_if_match_star_a_list_or_a_bare_version_passes(api: CustomerApi, header: str) -> None:
    customer = api.create_ok()

    response = api.client.patch(
        f"/customers/{customer['id']}",
        json={"city": "York"},
        headers=api.headers(**{"If-Match": header}),
    )

    assert response.status_code == 200


@pytest.mark.parametrize("header", ['W/"1"', '"2"', "garbage", '"01x"'])
def test_weak_or_malformed_if_match_never_matches(api: CustomerApi, header: str) -> None:
    customer = api.create_ok()

    response = api.client.patch(
        f"/customers/{customer['id']}",
        json={"city": "York"},
        headers=api.headers(**{"If-Match": header}),
    )

    problem(response, 412)


def test_changing_email_to_a_taken_one_is_409_and_changes_nothing(api: CustomerApi) -> None:
    taken = api.create_ok()["email"]
    customer = api.create_ok()

    response = api.patch(customer["id"], {"email": taken.upper(), "city": "York"}, version=1)

    problem(response, 409, "email")
    assert api.get(customer["id"]).get_json() == customer


def test_changing_only_the_case_of_ones_own_email_is_allowed(api: CustomerApi) -> None:
    email = unique_email()
    customer = api.create_ok(email=email)

    response = api.patch(customer["id"], {"email": email.upper()}, version=1)

    assert response.status_code == 200
    assert response.get_json()["email"] == email.upper().split("@")[0] + "@" + email.split("@")[1]


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({}, ["body"]),
        ({"name": None, "email": None, "status": None}, ["name", "email", "status"]),
        ({"country": "ZZ", "version": 9}, ["country", "version"]),
        ({"attributes": {"k": "\x00"}}, ["attributes"]),
    ],
)
def test_bad_patches_are_422_and_change_nothing(
    api: CustomerApi, body: dict[str, Any], fields: list[str]
) -> None:
    customer = api.create_ok()

    problem(api.patch(customer["id"], body, version=1), 422, *fields)
    assert api.get(customer["id"]).get_json() == customer


def test_patch_of_an_unknown_customer_is_404(api: CustomerApi) -> None:
    problem(api.patch(str(uuid.uuid4()), {"name": "Ghost"}, version=1), 404)


def test_patch_with_a_non_json_body_is_415(api: CustomerApi) -> None:
    customer = api.create_ok()

    response = api.client.patch(
        f"/customers/{customer['id']}",
        data="name=x",
        content_type="application/x-www-form-urlencoded",
        headers=api.headers(**{"If-Match": etag(1)}),
    )

    problem(response, 415)
