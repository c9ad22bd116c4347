"""Analytics through the gateway: customers changed there are counted, and reconcile repairs drift.

The stack is shared by every e2e test of a worker, so this test counts its own
customers through a segment and a tag no one else uses, and waits (with a
deadline, never a fixed sleep) for the events to travel outbox -> relay ->
broker -> consumer -> rollups.
"""

from __future__ import annotations

import uuid
from typing import Any

import psycopg2
import requests

from tests.e2e.conftest import Stack, create_customer, wait_for

#: How long a change may take to reach the rollups.
PROPAGATION_SECONDS = 15.0


def analytics(stack: Stack, path: str, role: str = "viewer", **params: Any) -> dict[str, Any]:
    response = requests.get(
        f"{stack.api}/analytics/{path}", params=params, headers=stack.headers(role), timeout=10
    )
    assert response.status_code == 200, response.text
    return dict(response.json())


def buckets(answer: dict[str, Any]) -> dict[str | None, int]:
    return {bucket["value"]: bucket["count"] for bucket in answer["buckets"]}


def test_changes_through_the_gateway_are_counted_and_reconcile_repairs_a_corrupted_rollup(
    stack: Stack,
) -> None:
    segment, tag = f"seg-{uuid.uuid4().hex[:8]}", f"tag-{uuid.uuid4().hex[:8]}"
    ada = create_customer(stack, segment=segment, tags=[tag], country="FR")
    bob = create_customer(stack, segment=segment, tags=[tag], country="DE", status="active")
    gone = create_customer(stack, segment=segment, tags=[tag], country="FR")
    admin = stack.headers("admin")
    churned = requests.patch(
        f"{stack.api}/customers/{bob['id']}",
        json={"status": "churned"},
        headers={**admin, "If-Match": '"1"'},
        timeout=10,
    )
    deleted = requests.delete(f"{stack.api}/customers/{gone['id']}", headers=admin, timeout=10)
    assert (churned.status_code, deleted.status_code) == (200, 204)

    def counted() -> bool:
        mine = analytics(stack, "breakdown", dimension="status", segment=segment)
        summary = analytics(stack, "summary")
        return (
            buckets(mine) == {"lead": 1, "churned": 1}
            and summary["live_customers"] >= 2
            and summary["by_status"]["churned"] >= 1
            and summary["last_30_days"]["signups"] >= 3
            and summary["last_30_days"]["churns"] >= 1
        )

    assert wait_for(counted, PROPAGATION_SECONDS), analytics(
        stack, "breakdown", dimension="status", segment=segment
    )
    assert buckets(analytics(stack, "breakdown", dimension="country", tag=tag)) == {
        "FR": 1,
        "DE": 1,
    }
    assert ada["status"] == "lead"

    # Drift: the rollup row of the segment is corrupted, and a bucket nobody has appears.
    ghost = f"ghost-{uuid.uuid4().hex[:8]}"
    with (
        psycopg2.connect(stack.databases["analytics"]) as connection,
        connection.cursor() as cursor,
    ):
        cursor.execute(
            "UPDATE dimension_counts SET count = 1002 WHERE dimension = 'segment' AND value = %s",
            (segment,),
        )
        cursor.execute("INSERT INTO dimension_counts VALUES ('segment', %s, 7)", (ghost,))
    connection.close()
    corrupted = buckets(analytics(stack, "breakdown", dimension="segment", limit=1000))
    assert (corrupted[segment], corrupted[ghost]) == (1002, 7)

    refused = requests.post(
        f"{stack.api}/analytics/reconcile", headers=stack.headers("agent"), timeout=30
    )
    reconciled = requests.post(f"{stack.api}/analytics/reconcile", headers=admin, timeout=30)

    assert refused.status_code == 403
    assert reconciled.status_code == 200, reconciled.text
    report = reconciled.json()
    assert {"rollup": "segment", "key": segment, "before": 1002, "after": 2} in report["drift"]
    assert {"rollup": "segment", "key": ghost, "before": 7, "after": 0} in report["drift"]
    assert report["source_customers"] >= 2
    repaired = buckets(analytics(stack, "breakdown", dimension="segment", limit=1000))
    assert repaired[segment] == 2
    assert ghost not in repaired
