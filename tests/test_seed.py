"""Seeding: generated customers are ones the API accepts, with the events the service writes."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from bench.seed import seed
from bench.seed_data import created_event, generate_customers
from customer_service.events import snapshot
from customer_service.schemas import CustomerCreate
from shared.events.envelope import CREATED, Event, validate_envelope
from tests.support.service_fixtures import sql_on

UNTIL = datetime(2026, 11, 30, tzinfo=UTC)
WRITABLE = ("name", "email", "phone", "company", "country", "city", "segment", "status", "tags")


def test_generated_customers_are_what_the_api_would_store_as_sent() -> None:
    customers = list(generate_customers(300, seed=3, until=UNTIL))

    for customer in customers:
        sent = {field: customer[field] for field in (*WRITABLE, "attributes")}
        accepted = CustomerCreate.model_validate(
            {field: value for field, value in sent.items() if value is not None}
        )
        assert accepted.model_dump() == sent
    assert len({customer["email"].lower() for customer in customers}) == len(customers)
    assert all(customer["created_at"] <= UNTIL for customer in customers)


def test_generated_customers_are_varied_like_real_ones() -> None:
    customers = list(generate_customers(2_000, seed=5, until=UNTIL))

    names = " ".join(customer["name"] for customer in customers)
    assert any(letter in names for letter in "äöüß"), "German umlauts"
    assert any(letter in names for letter in "éèç"), "French accents"
    assert any("\u3040" <= letter <= "\u9fff" for letter in names), "Japanese or Chinese"
    assert len({customer["country"] for customer in customers}) > 20
    assert {customer["status"] for customer in customers} == {"lead", "active", "churned"}
    assert len({tag for customer in customers for tag in customer["tags"]}) > 15
    assert max(len(customer["tags"]) for customer in customers) == 3


def test_the_same_seed_and_tag_give_the_same_customers_and_another_tag_new_ones() -> None:
    first = list(generate_customers(50, seed=9, until=UNTIL, email_tag="a"))
    again = list(generate_customers(50, seed=9, until=UNTIL, email_tag="a"))
    other = list(generate_customers(50, seed=9, until=UNTIL, email_tag="b"))

    assert first == again
    assert {c["id"] for c in first}.isdisjoint(c["id"] for c in other)
    assert {c["email"] for c in first}.isdisjoint(c["email"] for c in other)
    assert [c["name"] for c in first] == [c["name"] for c in other]


def test_each_created_event_is_a_valid_envelope_of_its_customer() -> None:
    for customer in generate_customers(200, seed=11, until=UNTIL):
        event = created_event(customer)
        document = event.to_document()

        validate_envelope(document)
        assert document["type"] == CREATED
        assert document["subject"] == str(customer["id"])
        assert document["version"] == 1
        assert document["data"] == snapshot(customer)


def test_seeding_writes_each_customer_with_its_created_event_and_can_run_again(
    make_database: Callable[[str], str],
) -> None:
    url = make_database("customer_service")

    assert seed(url, 120, seed=1, batch=50) == 120
    assert seed(url, 30, seed=1, batch=50) == 30

    customers = _rows(url, "SELECT * FROM customers")
    outbox = _rows(url, "SELECT event_id, event_type, subject, envelope FROM outbox")
    assert len(customers) == 150
    assert len(outbox) == 150
    by_id = {str(customer["id"]): customer for customer in customers}
    for row in outbox:
        event = Event.from_document(row["envelope"])
        assert (row["event_type"], str(row["event_id"])) == (CREATED, event.id)
        assert str(row["subject"]) == event.subject
        # The event carries the customer as stored, as the service's own events do.
        assert event.data == snapshot(by_id[event.subject])


def _rows(url: str, statement: str) -> list[dict[str, Any]]:
    with sql_on(url) as query:
        return query(statement)
