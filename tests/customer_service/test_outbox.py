"""Every change writes its event to the outbox in its own transaction, fit for the schema."""

from __future__ import annotations

import select
from typing import Any

import psycopg2
import pytest

from shared.events.envelope import Event, InvalidEvent, validate_envelope
from tests.customer_service.api_client import CustomerApi, customer_fields
from tests.support.databases import Query


def events_of(query: Query, customer_id: str) -> list[dict[str, Any]]:
    """The outbox envelopes of one customer, oldest first."""
    rows = query("SELECT envelope FROM outbox WHERE subject = %s ORDER BY id", (customer_id,))
    return [row["envelope"] for row in rows]


def test_each_change_writes_one_schema_valid_event_with_the_snapshot_after_it(
    api: CustomerApi, query: Query
) -> None:
    customer = api.create_ok(tags=["vip"], country="FR")
    cid = customer["id"]
    updated = api.patch(cid, {"status": "active"}, 1).get_json()
    note = api.add_note(cid, {"body": "Called back."}).get_json()
    assert api.delete(cid).status_code == 204
    restored = api.restore(cid).get_json()

    envelopes = events_of(query, cid)

    assert [e["type"] for e in envelopes] == [
        "customer.created",
        "customer.updated",
        "customer.note_added",
        "customer.deleted",
        "customer.restored",
    ]
    for envelope in envelopes:
        validate_envelope(envelope)
        assert envelope["subject"] == cid
        assert envelope["source"] == "customer_service"
        assert envelope["data"]["id"] == cid
    assert [e["version"] for e in envelopes] == [1, 2, 2, 3, 4]
    assert envelopes[0]["data"] == {**customer, "deleted_at": None}
    assert envelopes[1]["data"] == {**updated, "deleted_at": None}
    assert envelopes[2]["data"]["note"] == {
        key: note[key] for key in ("id", "author", "body", "created_at")
    }
    assert envelopes[3]["data"]["deleted_at"] is not None
    assert envelopes[4]["data"] == {**restored, "deleted_at": None}
    assert len({e["id"] for e in envelopes}) == 5


def test_a_change_that_fails_writes_no_event(api: CustomerApi, query: Query) -> None:
    customer = api.create_ok()
    taken = api.create_ok()

    clash = api.patch(customer["id"], {"email": taken["email"]}, 1)
    stale = api.patch(customer["id"], {"name": "Other"}, 7)
    unchanged = api.patch(customer["id"], {"name": customer["name"]}, 1)

    assert (clash.status_code, stale.status_code, unchanged.status_code) == (409, 412, 200)
    assert [e["type"] for e in events_of(query, customer["id"])] == ["customer.created"]


def test_a_replayed_create_writes_no_second_event(api: CustomerApi, query: Query) -> None:
    body = customer_fields()
    headers = api.headers(**{"Idempotency-Key": "outbox-replay-1"})
    first = api.client.post("/customers", json=body, headers=headers)
    again = api.client.post("/customers", json=body, headers=headers)

    assert (first.status_code, again.status_code) == (201, 201)
    assert len(events_of(query, first.get_json()["id"])) == 1


def test_the_outbox_notifies_the_relay_channel_on_commit(
    api: CustomerApi, customer_database: str
) -> None:
    listener = psycopg2.connect(customer_database)
    listener.autocommit = True
    with listener.cursor() as cursor:
        cursor.execute("LISTEN customer_outbox")
    try:
        api.create_ok()
        readable, _, _ = select.select([listener], [], [], 5)
        listener.poll()
        assert readable
        assert [n.channel for n in listener.notifies] == ["customer_outbox"]
    finally:
        listener.close()


@pytest.mark.parametrize(
    ("change", "where"),
    [
        (lambda e: e.pop("subject"), "(root)"),
        (lambda e: e.update(type="customer.renamed"), "type"),
        (lambda e: e.update(version=0), "version"),
        (lambda e: e["data"].update(status="gone"), "data/status"),
        (lambda e: e["data"].update(note={"id": "x"}), "data"),
        (lambda e: e.update(schema=2), "schema"),
    ],
)
def test_the_schema_refuses_what_a_consumer_could_not_apply(
    api: CustomerApi, query: Query, change: Any, where: str
) -> None:
    envelope = events_of(query, api.create_ok()["id"])[0]
    change(envelope)

    with pytest.raises(InvalidEvent) as refused:
        Event.from_document(envelope)

    assert str(refused.value).startswith(where)


def test_a_body_that_is_not_json_is_an_invalid_event() -> None:
    with pytest.raises(InvalidEvent, match="not JSON"):
        Event.from_json(b"\xff{")
