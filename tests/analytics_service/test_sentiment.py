"""Note sentiment: kept once per note whatever the delivery, summed up per segment and customer.

Events are delivered as the consumer applies them (customer events and the NLP
service's ``nlp.note_analysed`` mixed in one batch); figures are read through
``GET /analytics/sentiment``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from flask.testing import FlaskClient

from shared.events.envelope import PROFILE_EMBEDDED, Event, validate_envelope
from tests.analytics_service.conftest import Deliver
from tests.analytics_service.history import Customer, analysed
from tests.support.databases import Query
from tests.support.tokens import TestIssuer


def at(moment: str) -> datetime:
    """``YYYY-MM-DDTHH:MM`` (or a date alone, at 10:00), UTC."""
    if "T" not in moment:
        moment += "T10:00"
    return datetime.fromisoformat(moment).replace(tzinfo=UTC)


def sentiment(client: FlaskClient, issuer: TestIssuer, search: str = "") -> Any:
    """``GET /analytics/sentiment?search`` as a viewer: the answer."""
    response = client.get(f"/analytics/sentiment?{search}", headers=issuer.headers("viewer"))
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def figures(notes: int, positive: int, negative: int, neutral: int, mean: float | None) -> Any:
    """A set of notes summed up as the API writes it (shares rounded to 4 decimals)."""
    return {
        "notes": notes,
        "labels": {
            label: {"count": count, "share": round(count / notes, 4) if notes else 0.0}
            for label, count in (
                ("positive", positive),
                ("negative", negative),
                ("neutral", neutral),
            )
        },
        "mean": mean,
    }


def group(value: str | None, *counts: int, mean: float | None) -> Any:
    """One group of the answer: its value and its figures."""
    return {"value": value, **figures(*counts, mean=mean)}


def values(answer: Any) -> list[str | None]:
    """The value of each group, in the answer's order."""
    return [entry["value"] for entry in answer["groups"]]


NOTHING = figures(0, 0, 0, 0, None)


# -- once per note --------------------------------------------------------------------------


def test_a_note_counts_once_however_often_its_sentiment_arrives(
    client: FlaskClient, issuer: TestIssuer, deliver: Deliver
) -> None:
    ada = Customer(segment="smb")
    note = ada.note()
    scored = analysed(note, "negative", 0.8)

    assert deliver([ada.created(), note, scored, scored]) == 3
    assert deliver([scored]) == 0
    assert deliver([note, scored]) == 0

    answer = sentiment(client, issuer)
    assert answer["overall"] == figures(1, 0, 1, 0, mean=-0.8)
    assert answer["groups"] == [group("smb", 1, 0, 1, 0, mean=-0.8)]


def test_a_second_verdict_on_a_note_changes_nothing(
    client: FlaskClient, issuer: TestIssuer, deliver: Deliver, query: Query
) -> None:
    ada = Customer()
    note = ada.note()
    deliver([ada.created(), note, analysed(note, "positive", 0.9)])

    assert deliver([analysed(note, "negative", 0.7, method="vader")]) == 0

    assert sentiment(client, issuer)["overall"] == figures(1, 1, 0, 0, mean=0.9)
    assert query("SELECT label, score, method FROM note_sentiments") == [
        {"label": "positive", "score": 0.9, "method": "head"}
    ]


def test_a_sentiment_before_its_customer_waits_for_it_then_counts(
    client: FlaskClient, issuer: TestIssuer, deliver: Deliver
) -> None:
    ada = Customer(segment="smb")
    created = ada.created()
    note = ada.note()

    assert deliver([analysed(note, "positive", 0.5)]) == 1

    waiting = sentiment(client, issuer)
    assert (waiting["overall"], waiting["groups"], waiting["notes_awaiting_customer"]) == (
        NOTHING,
        [],
        1,
    )
    # Its segment is not known yet: it awaits whichever segment is asked for.
    assert sentiment(client, issuer, "segment=enterprise")["notes_awaiting_customer"] == 1
    assert sentiment(client, issuer, "by=customer")["groups"] == []

    assert deliver([created]) == 1

    known = sentiment(client, issuer)
    assert known["notes_awaiting_customer"] == 0
    assert known["groups"] == [group("smb", 1, 1, 0, 0, mean=0.5)]
    assert sentiment(client, issuer, "segment=enterprise")["notes_awaiting_customer"] == 0

    deliver([note])  # the note's own event, late: the note is counted once
    assert sentiment(client, issuer)["groups"] == known["groups"]


def test_any_event_of_the_customer_makes_its_waiting_notes_count(
    client: FlaskClient, issuer: TestIssuer, deliver: Deliver
) -> None:
    ada = Customer(segment="smb")
    ada.created()  # lost
    note = ada.note()
    deliver([analysed(note, "negative", 0.25)])

    deliver([note])  # a note's event carries the customer too

    answer = sentiment(client, issuer)
    assert (answer["notes_awaiting_customer"], answer["groups"]) == (
        0,
        [group("smb", 1, 0, 1, 0, mean=-0.25)],
    )


def test_other_nlp_events_change_nothing(
    client: FlaskClient, issuer: TestIssuer, deliver: Deliver, query: Query
) -> None:
    ada = Customer()
    embedded = Event(
        type=PROFILE_EMBEDDED,
        source="nlp_service",
        subject=ada.id,
        version=1,
        data={"model": {"name": "test-embedding", "version": "1"}, "embedding": [1.0]},
    )
    validate_envelope(embedded.to_document())

    assert deliver([embedded]) == 0
    assert query("SELECT count(*) AS customers FROM customers") == [{"customers": 0}]
    assert sentiment(client, issuer)["overall"] == NOTHING


# -- the customer's state now --------------------------------------------------------------


def test_notes_follow_their_customer_to_its_new_segment(
    client: FlaskClient, issuer: TestIssuer, deliver: Deliver
) -> None:
    ada, bob = Customer(segment="smb"), Customer(segment="smb")
    first, second, third = ada.note(), ada.note(), bob.note()
    deliver(
        [
            ada.created(),
            bob.created(),
            analysed(first, "positive", 0.9),
            analysed(second, "negative", 0.5),
            analysed(third, "neutral", 0.8),
        ]
    )
    assert values(sentiment(client, issuer)) == ["smb"]

    moved = ada.updated(segment="enterprise")
    left = ada.updated(segment=None)
    deliver([moved])

    answer = sentiment(client, issuer)
    assert answer["groups"] == [
        group("enterprise", 2, 1, 1, 0, mean=0.2),
        group("smb", 1, 0, 0, 1, mean=0.0),
    ]
    assert answer["overall"] == figures(3, 1, 1, 1, mean=0.1333)

    deliver([left])
    deliver([moved])  # older than the state held: moves nothing back
    assert sentiment(client, issuer)["groups"] == [
        group(None, 2, 1, 1, 0, mean=0.2),
        group("smb", 1, 0, 0, 1, mean=0.0),
    ]


def test_a_deleted_customers_notes_leave_the_figures_until_it_is_restored(
    client: FlaskClient, issuer: TestIssuer, deliver: Deliver
) -> None:
    ada, bob = Customer(segment="smb"), Customer(segment="smb")
    early, late, other = ada.note(), ada.note(), bob.note()
    deliver(
        [
            ada.created(),
            bob.created(),
            analysed(early, "positive", 0.6),
            analysed(other, "negative", 0.4),
        ]
    )

    deliver([ada.deleted_event()])
    assert deliver([analysed(late, "positive", 1.0)]) == 1  # kept, while its customer is deleted

    gone = sentiment(client, issuer)
    assert gone["overall"] == figures(1, 0, 1, 0, mean=-0.4)
    assert gone["notes_awaiting_customer"] == 0
    assert values(sentiment(client, issuer, "by=customer")) == [bob.id]
    only_ada = sentiment(client, issuer, f"customer_id={ada.id}")
    assert (only_ada["overall"], only_ada["groups"], only_ada["notes_awaiting_customer"]) == (
        NOTHING,
        [],
        0,
    )

    deliver([ada.restored()])

    back = sentiment(client, issuer)
    assert back["overall"] == figures(3, 2, 1, 0, mean=0.4)
    assert back["groups"] == [group("smb", 3, 2, 1, 0, mean=0.4)]


# -- figures per segment and per customer --------------------------------------------------


@pytest.fixture
def population(deliver: Deliver) -> dict[str, str]:
    """Five live customers with scored notes, and a deleted one; each name -> its id.

    ada (smb): +0.9 +0.7 -0.4; bob (smb): neutral 0.8; carol (enterprise): -0.9 -0.6;
    dan (no segment): +1.0; eve (no segment): -0.2; zed (smb, deleted): +0.3.
    """
    scored = {
        "ada": ("smb", [("positive", 0.9), ("positive", 0.7), ("negative", 0.4)]),
        "bob": ("smb", [("neutral", 0.8)]),
        "carol": ("enterprise", [("negative", 0.9), ("negative", 0.6)]),
        "dan": (None, [("positive", 1.0)]),
        "eve": (None, [("negative", 0.2)]),
        "zed": ("smb", [("positive", 0.3)]),
    }
    events: list[Event] = []
    ids = {}
    for name, (segment, verdicts) in scored.items():
        customer = Customer(segment=segment)
        ids[name] = customer.id
        events.append(customer.created())
        for label, score in verdicts:
            note = customer.note()
            events += [note, analysed(note, label, score)]
        if name == "zed":
            events.append(customer.deleted_event())
    deliver(events)
    return ids


def test_sentiment_per_segment_sums_up_each_segments_live_customers(
    client: FlaskClient, issuer: TestIssuer, population: dict[str, str]
) -> None:
    answer = sentiment(client, issuer)

    assert answer == {
        "by": "segment",
        "filters": {},
        "from": None,
        "to": None,
        "overall": figures(8, 3, 4, 1, mean=0.0625),
        "notes_awaiting_customer": 0,
        # Most notes first; the "none" segment after a named one with as many.
        "groups": [
            group("smb", 4, 2, 1, 1, mean=0.3),
            group("enterprise", 2, 0, 2, 0, mean=-0.75),
            group(None, 2, 1, 1, 0, mean=0.4),
        ],
    }
    assert sentiment(client, issuer, "by=segment&segment=%20smb%20")["groups"] == [
        group("smb", 4, 2, 1, 1, mean=0.3)
    ]


def test_sentiment_per_customer_sums_up_each_live_customer(
    client: FlaskClient, issuer: TestIssuer, population: dict[str, str]
) -> None:
    ids = population
    answer = sentiment(client, issuer, "by=customer")

    ones = sorted([ids["bob"], ids["dan"], ids["eve"]])
    assert values(answer) == [ids["ada"], ids["carol"], *ones]
    by_id = {entry["value"]: entry for entry in answer["groups"]}
    assert by_id[ids["ada"]] == group(ids["ada"], 3, 2, 1, 0, mean=0.4)
    assert by_id[ids["carol"]] == group(ids["carol"], 2, 0, 2, 0, mean=-0.75)
    assert by_id[ids["bob"]] == group(ids["bob"], 1, 0, 0, 1, mean=0.0)
    assert answer["overall"] == figures(8, 3, 4, 1, mean=0.0625)


@pytest.mark.parametrize(
    ("search", "expected"),
    [
        ("sort=mean", ["carol", "eve", "bob", "ada", "dan"]),
        ("sort=-mean", ["dan", "ada", "bob", "eve", "carol"]),
        ("sort=mean&limit=2", ["carol", "eve"]),
        ("segment=smb", ["ada", "bob"]),
        ("segment=smb&sort=mean", ["bob", "ada"]),
    ],
)
def test_customers_are_listed_in_the_order_asked_up_to_the_limit(
    client: FlaskClient,
    issuer: TestIssuer,
    population: dict[str, str],
    search: str,
    expected: list[str],
) -> None:
    answer = sentiment(client, issuer, f"by=customer&{search}")

    assert values(answer) == [population[name] for name in expected]


def test_segments_are_listed_in_the_order_asked_up_to_the_limit(
    client: FlaskClient, issuer: TestIssuer, population: dict[str, str]
) -> None:
    assert values(sentiment(client, issuer, "sort=mean")) == ["enterprise", "smb", None]
    assert values(sentiment(client, issuer, "sort=-mean")) == [None, "smb", "enterprise"]
    limited = sentiment(client, issuer, "limit=1")
    assert values(limited) == ["smb"]
    assert limited["overall"]["notes"] == 8  # every note, not only the groups listed


def test_one_customers_sentiment(
    client: FlaskClient, issuer: TestIssuer, population: dict[str, str]
) -> None:
    carol = population["carol"]

    answer = sentiment(client, issuer, f"customer_id={carol.upper()}&by=customer")

    assert answer["filters"] == {"customer_id": carol}
    assert answer["groups"] == [group(carol, 2, 0, 2, 0, mean=-0.75)]
    assert answer["overall"] == figures(2, 0, 2, 0, mean=-0.75)
    assert sentiment(client, issuer, f"customer_id={carol}")["groups"] == [
        group("enterprise", 2, 0, 2, 0, mean=-0.75)
    ]
    assert sentiment(client, issuer, f"customer_id={carol}&segment=smb")["overall"] == NOTHING


def test_no_notes_is_no_mean_and_no_groups(
    client: FlaskClient, issuer: TestIssuer, deliver: Deliver
) -> None:
    deliver([Customer(segment="smb").created()])

    for by in ("segment", "customer"):
        answer = sentiment(client, issuer, f"by={by}")
        assert (answer["by"], answer["overall"], answer["groups"]) == (by, NOTHING, [])


# -- dates ----------------------------------------------------------------------------------


@pytest.fixture
def dated(deliver: Deliver) -> None:
    """One customer's notes written on 03-01 23:59, 03-02 00:00, 03-03 12:00 and 03-04 00:00."""
    ada = Customer(segment="smb", created_at=at("2026-02-01"))
    events = [ada.created()]
    for moment in ("2026-03-01T23:59", "2026-03-02T00:00", "2026-03-03T12:00", "2026-03-04T00:00"):
        note = ada.note(at=at(moment))
        events += [note, analysed(note, "positive", 0.5)]
    deliver(events)


@pytest.mark.parametrize(
    ("search", "notes"),
    [
        ("", 4),
        ("from=2026-03-02&to=2026-03-03", 2),
        ("from=2026-03-02", 3),
        ("to=2026-03-01", 1),
        ("from=2026-03-03&to=2026-03-03", 1),
        ("from=2026-03-05", 0),
        ("from=2026-03-03&to=2026-03-02", 0),
        ("from=0001-01-01&to=9999-12-31", 4),
    ],
)
@pytest.mark.usefixtures("dated")
def test_from_and_to_take_the_notes_written_on_those_utc_days(
    client: FlaskClient, issuer: TestIssuer, search: str, notes: int
) -> None:
    for by in ("segment", "customer"):
        answer = sentiment(client, issuer, f"by={by}&{search}")
        assert answer["overall"]["notes"] == notes
        assert sum(entry["notes"] for entry in answer["groups"]) == notes


@pytest.mark.usefixtures("dated")
def test_the_answer_says_which_days_it_covers(client: FlaskClient, issuer: TestIssuer) -> None:
    answer = sentiment(client, issuer, "from=2026-03-02&to=2026-03-03")

    assert (answer["from"], answer["to"]) == ("2026-03-02", "2026-03-03")


def test_a_waiting_note_is_counted_within_the_dates_only(
    client: FlaskClient, issuer: TestIssuer, deliver: Deliver
) -> None:
    ada = Customer()
    note = ada.note(at=at("2026-03-10"))
    deliver([analysed(note)])

    assert sentiment(client, issuer, "from=2026-03-10")["notes_awaiting_customer"] == 1
    assert sentiment(client, issuer, "to=2026-03-09")["notes_awaiting_customer"] == 0
    assert sentiment(client, issuer, f"customer_id={Customer().id}")["notes_awaiting_customer"] == 0


# -- refusals --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("search", "field"),
    [
        ("by=region", "by"),
        ("by=", "by"),
        ("sort=best", "sort"),
        ("sort=-notes", "sort"),
        ("limit=0", "limit"),
        ("limit=1001", "limit"),
        ("limit=+5", "limit"),
        ("customer_id=ada", "customer_id"),
        ("customer_id=0b7c2f648a514d3e9f0a6e2d4c1b5a93", "customer_id"),
        ("customer_id={0b7c2f64-8a51-4d3e-9f0a-6e2d4c1b5a93}", "customer_id"),
        ("from=2026-3-1", "from"),
        ("to=2026-03-01T00:00:00Z", "to"),
        ("from=2026-02-30", "from"),
        ("segment=%1b%5b31m", "segment"),
        ("segment=%E2%80%8B%20", "segment"),
        ("segment=" + "x" * 65, "segment"),
        ("by=segment&by=customer", "by"),
        ("cursor=abc", "cursor"),
    ],
)
def test_a_bad_sentiment_query_is_422_naming_the_parameter(
    client: FlaskClient, issuer: TestIssuer, search: str, field: str
) -> None:
    response = client.get(f"/analytics/sentiment?{search}", headers=issuer.headers("viewer"))

    assert response.status_code == 422, response.get_json()
    assert response.mimetype == "application/problem+json"
    assert [error["field"] for error in response.get_json()["errors"]] == [field]
