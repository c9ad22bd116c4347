"""Any delivery of a history (shuffled, repeated, batched) ends at the recount of its final state.

Hypothesis draws a few customers' histories (updates, deletes, restores, notes),
then delivers their events in a random order, with some delivered twice, in
batches of random sizes; the rollups must then equal a recount of the
per-customer rows and logs, and those rows must be each customer's last version.
With the NLP service's verdict on each note mixed in (often before the customer's
own events), the sentiment per segment must be that of each live customer's
notes in its final segment.
"""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analytics_service.events import batch_of, change_of
from analytics_service.schemas import SentimentQuery
from analytics_service.sentiment import Tally
from analytics_service.service import AnalyticsService
from shared.events.envelope import Event
from tests.analytics_service.conftest import TABLES, Rollups
from tests.analytics_service.history import Customer, analysed
from tests.support.databases import Query

STATUSES = st.sampled_from(["lead", "active", "churned"])
COUNTRIES = st.sampled_from([None, "FR", "DE"])
TAGS = st.lists(st.sampled_from(["vip", "beta", "new"]), max_size=3)
SEGMENTS = st.sampled_from([None, "smb", "enterprise"])
VERDICTS = st.tuples(
    st.sampled_from(["positive", "negative", "neutral"]),
    st.sampled_from([0.0, 0.25, 0.5, 0.75, 1.0]),
)


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


@st.composite
def scored_history(draw: Any) -> tuple[Customer, list[Event], Tally]:
    """One customer's events with the NLP verdict on each note, and its notes summed up."""
    customer = Customer(segment=draw(SEGMENTS))
    events = [customer.created()]
    positive = negative = neutral = 0
    signed = 0.0
    for step in draw(st.lists(st.sampled_from(["segment", "delete", "note"]), max_size=6)):
        if step == "delete":
            events.append(customer.restored() if customer.deleted else customer.deleted_event())
        elif customer.deleted:
            continue
        elif step == "note":
            note = customer.note()
            label, score = draw(VERDICTS)
            events += [note, analysed(note, label, score)]
            positive += label == "positive"
            negative += label == "negative"
            neutral += label == "neutral"
            signed += {"positive": score, "negative": -score, "neutral": 0.0}[label]
        else:
            events.append(customer.updated(segment=draw(SEGMENTS)))
    return customer, events, Tally(positive, negative, neutral, signed)


@st.composite
def scored_delivery(draw: Any) -> tuple[list[tuple[Customer, Tally]], list[list[Event]]]:
    """Scored histories of up to four customers, delivered shuffled, partly twice, in batches."""
    histories = draw(st.lists(scored_history(), min_size=1, max_size=4))
    events = [event for _, written, _ in histories for event in written]
    repeated = draw(st.lists(st.sampled_from(events), max_size=4))
    order = draw(st.permutations(events + repeated))
    batches: list[list[Event]] = []
    while order:
        size = draw(st.integers(min_value=1, max_value=len(order)))
        batches.append(order[:size])
        order = order[size:]
    return [(customer, tally) for customer, _, tally in histories], batches


def summed(tallies: list[Tally]) -> Tally:
    """The tallies of several sets of notes as one."""
    return Tally(
        positive=sum(tally.positive for tally in tallies),
        negative=sum(tally.negative for tally in tallies),
        neutral=sum(tally.neutral for tally in tallies),
        signed=sum(tally.signed for tally in tallies),
    )


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(scored_delivery())
def test_sentiment_is_each_live_customers_notes_in_its_final_segment_whatever_the_delivery(
    analytics: AnalyticsService, rollups: Rollups, query: Query, drawn: Any
) -> None:
    scored, batches = drawn
    query(f"TRUNCATE {', '.join(TABLES)}")
    for events in batches:
        batch = batch_of(events)
        analytics.apply(batch.changes, batch.sentiments)

    live = [(customer, tally) for customer, tally in scored if not customer.deleted]
    segments = {customer.segment for customer, tally in live if tally.notes}
    expected = {
        segment: summed([tally for customer, tally in live if customer.segment == segment])
        for segment in segments
    }
    answer = analytics.sentiment(SentimentQuery.model_validate({"limit": "1000"}))
    assert {
        group.value: (group.notes, group.labels.positive.count, group.labels.negative.count)
        for group in answer.groups
    } == {
        segment: (tally.notes, tally.positive, tally.negative)
        for segment, tally in expected.items()
    }
    assert {group.value: group.mean for group in answer.groups} == {
        segment: tally.mean for segment, tally in expected.items()
    }
    overall = summed([tally for _, tally in live])
    assert (answer.overall.notes, answer.overall.mean) == (overall.notes, overall.mean)
    assert answer.notes_awaiting_customer == 0
    assert query("SELECT count(*) AS kept FROM note_sentiments") == [
        {"kept": sum(tally.notes for _, tally in scored)}
    ]
    assert rollups.kept() == rollups.recounted()
