"""Notes on a customer: signed by the caller, listed newest first, gone with the customer."""

from __future__ import annotations

import uuid

import pytest

from tests.customer_service.api_client import CustomerApi, problem


def test_a_note_is_signed_with_the_callers_name(api: CustomerApi) -> None:
    customer = api.create_ok()
    headers = {**api.issuer.headers("agent", name="Agent Smith")}

    response = api.client.post(
        f"/customers/{customer['id']}/notes", json={"body": "Called, no answer."}, headers=headers
    )

    assert response.status_code == 201
    note = response.get_json()
    assert note["author"] == "Agent Smith"
    assert note["body"] == "Called, no answer."
    assert note["customer_id"] == customer["id"]
    assert note["created_at"].endswith("Z")
    assert api.notes(customer["id"]).get_json() == {"items": [note], "next_cursor": None}


def test_notes_page_newest_first_without_gaps(api: CustomerApi) -> None:
    customer = api.create_ok()
    written = [
        api.add_note(customer["id"], {"body": f"note {number}"}).get_json() for number in range(7)
    ]

    seen, query = [], "limit=3"
    while True:
        response = api.notes(customer["id"], query)
        page = response.get_json()
        seen.extend(page["items"])
        if not page["next_cursor"]:
            assert "Link" not in response.headers
            break
        assert response.headers["Link"].startswith("<?limit=3&cursor=")
        query = f"limit=3&cursor={page['next_cursor']}"

    assert [note["body"] for note in seen] == [f"note {number}" for number in reversed(range(7))]
    assert sorted(note["id"] for note in seen) == sorted(note["id"] for note in written)


def test_notes_need_a_live_customer(api: CustomerApi) -> None:
    customer = api.create_ok()
    api.add_note(customer["id"], {"body": "kept for restore"})
    api.delete(customer["id"])

    problem(api.add_note(customer["id"], {"body": "too late"}), 404)
    problem(api.notes(customer["id"]), 404)
    problem(api.add_note(str(uuid.uuid4()), {"body": "nobody"}), 404)
    problem(api.notes(str(uuid.uuid4())), 404)

    api.restore(customer["id"])
    assert [note["body"] for note in api.notes(customer["id"]).get_json()["items"]] == [
        "kept for restore"
    ]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "body"),
        ({"body": ""}, "body"),
        ({"body": "   "}, "body"),
        ({"body": "x" * 10_001}, "body"),
        ({"body": "a\x00b"}, "body"),
        ({"body": 5}, "body"),
        ({"body": "ok", "author": "someone else"}, "author"),
    ],
)
def test_bad_notes_are_422(api: CustomerApi, body: dict[str, object], field: str) -> None:
    customer = api.create_ok()

    problem(api.add_note(customer["id"], body), 422, field)
    assert api.notes(customer["id"]).get_json()["items"] == []


@pytest.mark.parametrize(
    ("query", "status", "field"),
    [("limit=0", 422, "limit"), ("cursor=bogus", 400, "cursor"), ("sort=name", 422, "sort")],
)
def test_bad_note_queries_are_refused(
    api: CustomerApi, query: str, status: int, field: str
) -> None:
    customer = api.create_ok()

    problem(api.notes(customer["id"], query), status, field)
