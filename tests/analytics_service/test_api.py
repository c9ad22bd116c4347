"""The analytics API: summary, time series and breakdowns over events delivered, and its rules."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from flask.testing import FlaskClient

from tests.analytics_service.conftest import NOW, Deliver
from tests.analytics_service.history import Customer
from tests.support.tokens import TestIssuer


def at(day: str, hour: int = 10) -> datetime:
    """A moment on ``day`` (``YYYY-MM-DD``), UTC."""
    return datetime.fromisoformat(day).replace(hour=hour, tzinfo=UTC)


def get(client: FlaskClient, issuer: TestIssuer, path: str, role: str = "viewer") -> Any:
    response = client.get(path, headers=issuer.headers(role))
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def refused(client: FlaskClient, issuer: TestIssuer, path: str) -> list[str]:
    """The fields a 422 names."""
    response = client.get(path, headers=issuer.headers("viewer"))
    assert response.status_code == 422, response.get_json()
    assert response.mimetype == "application/problem+json"
    return [error["field"] for error in response.get_json()["errors"]]


# -- summary -------------------------------------------------------------------------------


def test_the_summary_counts_live_customers_and_the_last_30_days(
    client: FlaskClient, issuer: TestIssuer, deliver: Deliver
) -> None:
    ada = Customer(status="active", created_at=at("2026-03-02"))
    old = Customer(status="active", created_at=at("2026-01-01"))
    gone = Customer(created_at=at("2026-03-10"))
    deliver(
        [
            ada.created(),
            ada.updated(at=at("2026-03-05"), status="churned"),
            ada.note(at=at("2026-03-15")),
            ada.note(at=at("2026-03-20", hour=1)),
            old.created(),
            old.note(at=at("2026-02-01")),
            gone.created(),
            gone.deleted_event(at=at("2026-03-11")),
        ]
    )

    summary = get(client, issuer, "/analytics/summary")

    assert summary == {
        "live_customers": 2,
        "by_status": {"lead": 0, "active": 1, "churned": 1},
        "last_30_days": {
            "from": "2026-02-19",
            "to": "2026-03-20",
            "signups": 2,
            "churns": 1,
            "notes": 2,
        },
        "as_of": "2026-03-20T12:00:00Z",
    }


def test_the_summary_of_nothing_is_all_zeros(
    client: FlaskClient, issuer: TestIssuer, deliver: Deliver
) -> None:
    summary = get(client, issuer, "/analytics/summary")

    assert summary["live_customers"] == 0
    assert summary["by_status"] == {"lead": 0, "active": 0, "churned": 0}


# -- time series ---------------------------------------------------------------------------

#: 2026-02-23 is a Monday, 2026-03-15 a Sunday: 21 days, three weeks, two (partial) months.
RANGE = "from=2026-02-23&to=2026-03-15"


@pytest.fixture
def activity(deliver: Deliver) -> None:
    """Signups on 02-24 (1) and 03-02 (2), a churn on 03-05, notes on 02-28 (1) and 03-15 (2)."""
    first = Customer(created_at=at("2026-02-24"))
    second = Customer(status="active", created_at=at("2026-03-02"))
    third = Customer(created_at=at("2026-03-02", hour=23))
    deliver(
        [
            first.created(),
            first.note(at=at("2026-02-28")),
            first.note(at=at("2026-03-15")),
            first.note(at=at("2026-03-15", hour=23)),
            second.created(),
            second.updated(at=at("2026-03-05"), status="churned"),
            third.created(),
        ]
    )


@pytest.mark.parametrize(
    ("metric", "interval", "expected"),
    [
        ("signups", "day", {"2026-02-24": 1, "2026-03-02": 2}),
        ("signups", "week", {"2026-02-23": 1, "2026-03-02": 2}),
        ("signups", "month", {"2026-02-23": 1, "2026-03-01": 2}),
        ("churns", "day", {"2026-03-05": 1}),
        ("churns", "week", {"2026-03-02": 1}),
        ("churns", "month", {"2026-03-01": 1}),
        ("notes", "day", {"2026-02-28": 1, "2026-03-15": 2}),
        ("notes", "week", {"2026-02-23": 1, "2026-03-09": 2}),
        ("notes", "month", {"2026-02-23": 1, "2026-03-01": 2}),
    ],
)
@pytest.mark.usefixtures("activity")
def test_a_series_has_every_period_of_the_range_with_zeros_where_nothing_happened(
    client: FlaskClient, issuer: TestIssuer, metric: str, interval: str, expected: dict[str, int]
) -> None:
    series = get(
        client, issuer, f"/analytics/timeseries?metric={metric}&interval={interval}&{RANGE}"
    )

    periods = {"day": 21, "week": 3, "month": 2}[interval]
    assert len(series["buckets"]) == periods
    assert series["buckets"][0]["start"] == "2026-02-23"
    assert series["buckets"][-1]["end"] == "2026-03-15"
    assert {b["start"]: b["count"] for b in series["buckets"] if b["count"]} == expected
    assert series["total"] == sum(expected.values())
    assert (series["metric"], series["interval"], series["from"], series["to"]) == (
        metric,
        interval,
        "2026-02-23",
        "2026-03-15",
    )


def test_weeks_and_months_are_clipped_to_the_range(
    client: FlaskClient, issuer: TestIssuer, deliver: Deliver
) -> None:
    series = get(
        client,
        issuer,
        "/analytics/timeseries?metric=notes&interval=month&from=2026-01-15&to=2026-02-10",
    )

    assert [(b["start"], b["end"]) for b in series["buckets"]] == [
        ("2026-01-15", "2026-01-31"),
        ("2026-02-01", "2026-02-10"),
    ]


def test_a_series_defaults_to_the_30_days_ending_today_by_day(
    client: FlaskClient, issuer: TestIssuer, deliver: Deliver
) -> None:
    series = get(client, issuer, "/analytics/timeseries?metric=signups")

    assert (series["interval"], series["from"], series["to"]) == ("day", "2026-02-19", "2026-03-20")
    assert len(series["buckets"]) == 30


def test_a_series_may_cover_three_years_and_no_more(
    client: FlaskClient, issuer: TestIssuer, deliver: Deliver
) -> None:
    last = date(2026, 3, 20)
    longest = last - timedelta(days=1095)

    series = get(client, issuer, f"/analytics/timeseries?metric=notes&from={longest}&to={last}")
    too_long = refused(
        client,
        issuer,
        f"/analytics/timeseries?metric=notes&from={longest - timedelta(days=1)}&to={last}",
    )

    assert len(series["buckets"]) == 1096
    assert too_long == ["from"]


@pytest.mark.parametrize(
    ("search", "field"),
    [
        ("", "metric"),
        ("metric=visits", "metric"),
        ("metric=notes&interval=year", "interval"),
        ("metric=notes&from=2026-3-1", "from"),
        ("metric=notes&to=2026-03-01T00:00:00", "to"),
        ("metric=notes&from=2026-02-30", "from"),
        ("metric=notes&from=2026-03-10&to=2026-03-09", "from"),
        ("metric=notes&from=0001-01-01&to=9999-12-31", "from"),
        ("metric=notes&metric=signups", "metric"),
        ("metric=notes&page=2", "page"),
    ],
)
def test_a_bad_series_query_is_422_naming_the_parameter(
    client: FlaskClient, issuer: TestIssuer, search: str, field: str
) -> None:
    assert refused(client, issuer, f"/analytics/timeseries?{search}") == [field]


def test_series_at_the_edges_of_the_calendar_are_answered(
    client: FlaskClient, issuer: TestIssuer, deliver: Deliver
) -> None:
    first = get(client, issuer, "/analytics/timeseries?metric=notes&interval=week&to=0001-01-05")
    last = get(
        client,
        issuer,
        "/analytics/timeseries?metric=notes&interval=month&from=9999-12-01&to=9999-12-31",
    )

    assert first["from"] == "0001-01-01"
    assert last["buckets"] == [{"start": "9999-12-01", "end": "9999-12-31", "count": 0}]


# -- breakdowns ----------------------------------------------------------------------------


@pytest.fixture
def population(deliver: Deliver) -> None:
    """Three live customers and a deleted one."""
    ada = Customer(status="active", country="FR", segment="smb", tags=["vip", "beta"])
    bob = Customer(status="lead", country="FR", tags=["vip"])
    carol = Customer(status="active", country="DE", segment="enterprise")
    dan = Customer(status="active", country="FR", segment="smb", tags=["vip"])
    deliver([ada.created(), bob.created(), carol.created(), dan.created(), dan.deleted_event()])


def buckets(answer: dict[str, Any]) -> list[tuple[str | None, int]]:
    return [(bucket["value"], bucket["count"]) for bucket in answer["buckets"]]


@pytest.mark.parametrize(
    ("dimension", "expected"),
    [
        ("status", [("active", 2), ("lead", 1)]),
        ("country", [("FR", 2), ("DE", 1)]),
        ("segment", [("enterprise", 1), ("smb", 1), (None, 1)]),
        ("tag", [("vip", 2), ("beta", 1), (None, 1)]),
    ],
)
@pytest.mark.usefixtures("population")
def test_a_breakdown_counts_live_customers_by_the_dimension(
    client: FlaskClient, issuer: TestIssuer, dimension: str, expected: list[tuple[str | None, int]]
) -> None:
    answer = get(client, issuer, f"/analytics/breakdown?dimension={dimension}")

    assert buckets(answer) == expected
    assert (answer["dimension"], answer["filters"], answer["total"]) == (dimension, {}, 3)


@pytest.mark.parametrize(
    ("search", "filters", "expected", "total"),
    [
        ("dimension=status&country=fr", {"country": "FR"}, [("active", 1), ("lead", 1)], 2),
        ("dimension=country&status=active", {"status": "active"}, [("DE", 1), ("FR", 1)], 2),
        ("dimension=segment&tag=vip", {"tag": "vip"}, [("smb", 1), (None, 1)], 2),
        ("dimension=tag&segment=%20smb%20", {"segment": "smb"}, [("beta", 1), ("vip", 1)], 1),
        (
            "dimension=tag&status=active&country=FR",
            {"status": "active", "country": "FR"},
            [("beta", 1), ("vip", 1)],
            1,
        ),
        ("dimension=country&tag=nobody", {"tag": "nobody"}, [], 0),
    ],
)
@pytest.mark.usefixtures("population")
def test_a_breakdown_filtered_by_other_dimensions_counts_only_matching_customers(
    client: FlaskClient,
    issuer: TestIssuer,
    search: str,
    filters: dict[str, str],
    expected: list[tuple[str | None, int]],
    total: int,
) -> None:
    answer = get(client, issuer, f"/analytics/breakdown?{search}")

    assert buckets(answer) == expected
    assert (answer["filters"], answer["total"]) == (filters, total)


@pytest.mark.usefixtures("population")
def test_a_breakdown_returns_the_biggest_buckets_up_to_the_limit(
    client: FlaskClient, issuer: TestIssuer
) -> None:
    unfiltered = get(client, issuer, "/analytics/breakdown?dimension=tag&limit=1")
    filtered = get(client, issuer, "/analytics/breakdown?dimension=tag&status=active&limit=1")

    assert buckets(unfiltered) == [("vip", 2)]
    assert len(filtered["buckets"]) == 1


@pytest.mark.parametrize(
    ("search", "field"),
    [
        ("", "dimension"),
        ("dimension=city", "dimension"),
        ("dimension=status&country=FRA", "country"),
        ("dimension=status&status=gone", "status"),
        ("dimension=status&segment=%1b%5b31m", "segment"),
        ("dimension=status&tag=%E2%80%8B%20", "tag"),
        ("dimension=status&tag=" + "x" * 65, "tag"),
        ("dimension=status&segment=a%00b", "segment"),
        ("dimension=status&limit=0", "limit"),
        ("dimension=status&limit=1001", "limit"),
        ("dimension=status&limit=+5", "limit"),
        ("dimension=status&tag=a&tag=b", "tag"),
    ],
)
def test_a_bad_breakdown_query_is_422_naming_the_parameter(
    client: FlaskClient, issuer: TestIssuer, search: str, field: str
) -> None:
    assert refused(client, issuer, f"/analytics/breakdown?{search}") == [field]


# -- who may call what ---------------------------------------------------------------------

READS = [
    "/analytics/summary",
    "/analytics/timeseries?metric=notes",
    "/analytics/breakdown?dimension=tag",
    "/analytics/sentiment?by=customer",
]


@pytest.mark.parametrize("path", READS)
def test_reading_needs_a_token(client: FlaskClient, path: str) -> None:
    response = client.get(path)

    assert response.status_code == 401
    assert response.mimetype == "application/problem+json"
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize("path", READS)
def test_reading_needs_the_read_scope(client: FlaskClient, issuer: TestIssuer, path: str) -> None:
    response = client.get(path, headers=issuer.headers("viewer", scope="customers:read"))

    assert response.status_code == 403
    assert response.mimetype == "application/problem+json"


@pytest.mark.parametrize("role", ["viewer", "agent"])
def test_only_a_role_holding_the_reconcile_scope_may_reconcile(
    client: FlaskClient, issuer: TestIssuer, role: str
) -> None:
    assert client.post("/analytics/reconcile").status_code == 401
    assert client.post("/analytics/reconcile", headers=issuer.headers(role)).status_code == 403


def test_a_forged_token_is_401(client: FlaskClient) -> None:
    forged = TestIssuer(kid="unknown-key")

    assert client.get("/analytics/summary", headers=forged.headers("admin")).status_code == 401


def test_now_is_the_clock_the_app_was_given(client: FlaskClient, issuer: TestIssuer) -> None:
    summary = get(client, issuer, "/analytics/summary")

    assert summary["as_of"] == NOW.isoformat().replace("+00:00", "Z")
