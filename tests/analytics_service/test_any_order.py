"""Any delivery of a history (shuffled, repeated, batched) ends at the recount of its final state.

Hypothesis draws a few customers' histories (updates, deletes, restores, notes),
then delivers their events in a random order, with some delivered twice, in
batches of random sizes; the rollups must then equal a recount of the
per-customer rows and logs, and those rows must be each customer's last version.
"""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analytics_service.events import change_of
from analytics_service.service import AnalyticsService
from shared.events.envelope import Event
from tests.analytics_service.conftest import TABLES, Rollups
from tests.analytics_service.history import Customer
from tests.support.databases import Query

STATUSES = st.sampled_from(["lead", "active", "churned"])
COUNTRIES = st.sampled_from([None, "FR", "DE"])
TAGS = st.lists(st.sampled_from(["vip", "beta", "new"]), max_size=3)


@st.composite
def history(draw: Any) -> tuple[Customer, list[Event]]:
    """One customer's events, in the order the customer service wrote them."""
    customer = Customer(status=draw(STATUSES), country=draw(COUNTRIES), tags=draw(TAGS))
    events = [customer.created()]
    for step in draw(st.lists(st.sampled_from(["update", "delete", "note"]), max_size=6)):
        # As in the customer service, only a live customer takes notes and changes.
        if step == "delete":
            events.append(customer.restored() if customer.deleted else customer.deleted_event())
        elif customer.deleted:
            continue
        elif step == "note":
            events.append(customer.note())
        else:
            events.append(
                customer.updated(status=draw(STATUSES), country=draw(COUNTRIES), tags=draw(TAGS))
            )
    return customer, events


@st.composite
def delivery(draw: Any) -> tuple[list[Customer], list[list[Event]]]:
    """Histories of up to four customers, delivered shuffled, partly twice, in batches."""
    histories = draw(st.lists(history(), min_size=1, max_size=4))
    events = [event for _, written in histories for event in written]
    repeated = draw(st.lists(st.sampled_from(events), max_size=4))
    order = draw(st.permutations(events + repeated))
    batches: list[list[Event]] = []
    while order:
        size = draw(st.integers(min_value=1, max_value=len(order)))
        batches.append(order[:size])
        order = order[size:]
    return [customer for customer, _ in histories], batches


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(delivery())
def test_rollups_equal_the_recount_of_the_final_state_whatever_the_delivery(
    analytics: AnalyticsService, rollups: Rollups, query: Query, drawn: Any
) -> None:
    customers, batches = drawn
    query(f"TRUNCATE {', '.join(TABLES)}")
    for batch in batches:
        analytics.apply([change_of(event) for event in batch])

    assert rollups.kept() == rollups.recounted()
    held = {
        str(row["id"]): row
        for row in query("SELECT id, version, status, country, tags, deleted FROM customers")
    }
    assert {
        customer.id: (
            customer.version,
            customer.status,
            customer.country,
            sorted(set(customer.tags)),
            customer.deleted,
        )
        for customer in customers
    } == {
        key: (row["version"], row["status"], row["country"], row["tags"], row["deleted"])
        for key, row in held.items()
    }
    daily = rollups.daily()
    assert sum(count for (metric, _), count in daily.items() if metric == "signups") == len(
        customers
    )
