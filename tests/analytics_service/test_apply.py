"""Applying customer events moves the rollups, once per change, whatever the order."""

from __future__ import annotations

from datetime import date, timedelta

from tests.analytics_service.conftest import Deliver, Rollups
from tests.analytics_service.history import START, Customer
from tests.support.databases import Query

DAY = START.date()


def live(rollups: Rollups) -> dict[tuple[str, str], int]:
    """The dimension rollup, without empty rows."""
    return {bucket: count for bucket, count in rollups.dimensions().items() if count}


def test_a_created_customer_counts_in_each_of_its_buckets_and_as_a_signup(
    deliver: Deliver, rollups: Rollups
) -> None:
    ada = Customer(country="FR", segment="smb", tags=["vip", "beta"])

    assert deliver([ada.created()]) == 1

    assert live(rollups) == {
        ("status", "lead"): 1,
        ("country", "FR"): 1,
        ("segment", "smb"): 1,
        ("tag", "beta"): 1,
        ("tag", "vip"): 1,
    }
    assert rollups.daily() == {("signups", DAY): 1}


def test_a_customer_without_country_segment_or_tags_counts_in_the_none_buckets(
    deliver: Deliver, rollups: Rollups
) -> None:
    deliver([Customer().created()])

    assert live(rollups) == {
        ("status", "lead"): 1,
        ("country", ""): 1,
        ("segment", ""): 1,
        ("tag", ""): 1,
    }


def test_an_update_moves_the_customer_from_its_old_buckets_to_its_new_ones(
    deliver: Deliver, rollups: Rollups
) -> None:
    ada, bob = Customer(country="FR", tags=["vip"]), Customer(country="FR")
    deliver([ada.created(), bob.created()])

    assert deliver([ada.updated(status="active", country="DE", segment="smb", tags=["new"])]) == 1

    assert live(rollups) == {
        ("status", "lead"): 1,
        ("status", "active"): 1,
        ("country", "FR"): 1,
        ("country", "DE"): 1,
        ("segment", ""): 1,
        ("segment", "smb"): 1,
        ("tag", ""): 1,
        ("tag", "new"): 1,
    }
    assert rollups.daily() == {("signups", DAY): 2}


def test_a_delete_takes_the_customer_out_of_the_live_counts_and_a_restore_brings_it_back(
    deliver: Deliver, rollups: Rollups
) -> None:
    ada = Customer(country="FR", tags=["vip"])
    deliver([ada.created()])
    counted = live(rollups)

    deliver([ada.deleted_event()])
    assert live(rollups) == {}
    assert rollups.daily() == {("signups", DAY): 1}  # the signup happened all the same

    deliver([ada.restored()])
    assert live(rollups) == counted


def test_a_change_into_churned_counts_one_churn_on_the_day_of_the_change(
    deliver: Deliver, rollups: Rollups
) -> None:
    ada = Customer(status="active")
    later = START + timedelta(days=2)
    deliver([ada.created()])

    deliver([ada.updated(at=later, status="churned")])
    deliver([ada.updated(tags=["lost"])])  # still churned: no second churn

    assert rollups.daily()[("churns", later.date())] == 1
    assert sum(count for (metric, _), count in rollups.daily().items() if metric == "churns") == 1
    assert live(rollups)[("status", "churned")] == 1


def test_a_customer_churning_twice_counts_two_churns(deliver: Deliver, rollups: Rollups) -> None:
    ada = Customer(status="active")
    deliver([ada.created(), ada.updated(status="churned")])
    deliver([ada.updated(status="active"), ada.updated(status="churned")])

    assert rollups.daily()[("churns", DAY)] == 2


def test_a_customer_created_churned_counts_a_churn(deliver: Deliver, rollups: Rollups) -> None:
    deliver([Customer(status="churned").created()])

    assert rollups.daily() == {("signups", DAY): 1, ("churns", DAY): 1}


def test_delivering_the_same_events_again_changes_nothing(
    deliver: Deliver, rollups: Rollups
) -> None:
    ada = Customer(country="FR")
    events = [ada.created(), ada.updated(status="churned"), ada.note(), ada.deleted_event()]
    assert deliver(events) == 4
    before = rollups.kept()

    assert deliver(events) == 0
    assert deliver(events[1:2]) == 0

    assert rollups.kept() == before


def test_an_older_event_after_a_newer_one_is_skipped(deliver: Deliver, rollups: Rollups) -> None:
    ada = Customer(country="FR")
    created, to_germany, to_spain = (
        ada.created(),
        ada.updated(country="DE"),
        ada.updated(country="ES"),
    )

    deliver([created])
    deliver([to_spain])
    assert deliver([to_germany]) == 0

    assert live(rollups)[("country", "ES")] == 1
    assert ("country", "DE") not in live(rollups)
    assert rollups.kept() == rollups.recounted()


def test_a_churn_whose_event_comes_after_a_newer_one_is_counted_once_when_the_newer_applies(
    deliver: Deliver, rollups: Rollups
) -> None:
    ada = Customer(status="active")
    created = ada.created()
    churned = ada.updated(status="churned")
    tagged = ada.updated(at=START + timedelta(days=1), tags=["lost"])

    deliver([created])
    deliver([tagged])  # moves active -> churned: the churn is counted here, on its day
    deliver([churned])  # older: skipped

    assert [key for key in rollups.daily() if key[0] == "churns"] == [
        ("churns", DAY + timedelta(days=1))
    ]
    assert rollups.daily()[("churns", DAY + timedelta(days=1))] == 1


def test_a_signup_is_counted_once_even_when_the_creation_comes_last(
    deliver: Deliver, rollups: Rollups
) -> None:
    ada = Customer(created_at=START - timedelta(days=3))
    created, updated = ada.created(), ada.updated(status="active")

    deliver([updated])
    deliver([created])

    assert rollups.daily() == {("signups", DAY - timedelta(days=3)): 1}
    assert live(rollups)[("status", "active")] == 1


def test_a_deleted_customer_is_not_brought_back_by_an_older_event(
    deliver: Deliver, rollups: Rollups, query: Query
) -> None:
    ada = Customer(country="FR")
    created, updated, deleted = ada.created(), ada.updated(status="active"), ada.deleted_event()

    deliver([deleted])
    assert deliver([created, updated]) == 0

    assert live(rollups) == {}
    assert query("SELECT version, deleted FROM customers") == [{"version": 3, "deleted": True}]


def test_a_note_counts_once_per_note_id_on_the_notes_day(
    deliver: Deliver, rollups: Rollups
) -> None:
    ada = Customer()
    created = ada.created()
    first = ada.note(at=START + timedelta(days=1))
    second = ada.note(at=START + timedelta(days=1, hours=1))

    # The note's event carries the customer at version 1: the creation then adds nothing.
    assert deliver([first, created, first]) == 1
    assert deliver([first]) == 0
    assert deliver([second]) == 1

    assert rollups.daily()[("notes", DAY + timedelta(days=1))] == 2


def test_a_note_event_carrying_a_newer_snapshot_applies_it(
    deliver: Deliver, rollups: Rollups
) -> None:
    ada = Customer()
    created, updated, note = ada.created(), ada.updated(status="active"), ada.note()

    deliver([created, note])  # the update's event is late: the note's snapshot has it
    assert deliver([updated]) == 0

    assert live(rollups)[("status", "active")] == 1


def test_one_batch_applies_a_customers_events_in_version_order(
    deliver: Deliver, rollups: Rollups
) -> None:
    ada = Customer(status="active")
    events = [ada.created(), ada.updated(status="churned"), ada.updated(status="active")]

    assert deliver(list(reversed(events))) == 3

    assert live(rollups)[("status", "active")] == 1
    assert rollups.daily()[("churns", DAY)] == 1  # the transition in the middle was seen


def test_notes_on_different_days_land_on_their_own_days(deliver: Deliver, rollups: Rollups) -> None:
    ada = Customer()
    deliver([ada.created()])
    days = [date(2026, 3, 3), date(2026, 3, 5), date(2026, 3, 5)]

    deliver([ada.note(at=START.replace(month=day.month, day=day.day)) for day in days])

    assert rollups.daily() == {
        ("signups", DAY): 1,
        ("notes", date(2026, 3, 3)): 1,
        ("notes", date(2026, 3, 5)): 2,
    }
