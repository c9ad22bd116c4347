"""Choosing an instance (least in flight, in turn, breakers respected) and the retry rules."""

from __future__ import annotations

import pytest
from prometheus_client import REGISTRY

from gateway.edge.balancer import Balancer, NoInstanceLeft
from gateway.edge.breaker import CircuitOpen, State
from gateway.edge.retries import RetryBudget, RetryPolicy, may_repeat
from shared.discovery import Instance
from tests.gateway.test_breaker import Clock

A, B, C = (Instance("customer_service", f"i-{n}", f"http://127.0.0.1:{9000 + n}") for n in range(3))


def balancer(clock: Clock, fail_max: int = 2) -> Balancer:
    return Balancer(fail_max=fail_max, reset_seconds=10, clock=clock)


def test_ties_are_taken_in_turn() -> None:
    pool = balancer(Clock())
    chosen = [pool.acquire([A, B, C]).instance.id for _ in range(6)]
    assert len(set(chosen[:3])) == 3
    assert chosen[3:] == chosen[:3]


def test_the_instance_with_fewest_requests_in_flight_is_chosen() -> None:
    pool = balancer(Clock())
    with pool.outstanding(A), pool.outstanding(A), pool.outstanding(B):
        assert pool.in_flight(A) == 2
        assert {pool.acquire([A, B, C]).instance.id for _ in range(5)} == {"i-2"}
    assert pool.in_flight(A) == 0


def test_tried_instances_are_never_chosen_again() -> None:
    pool = balancer(Clock())
    assert pool.acquire([A, B], tried={"i-0"}).instance == B
    with pytest.raises(NoInstanceLeft):
        pool.acquire([A, B], tried={"i-0", "i-1"})
    with pytest.raises(NoInstanceLeft):
        pool.acquire([])


def test_an_open_instance_is_skipped_and_all_open_refuses_at_once_with_the_soonest_retry() -> None:
    clock = Clock()
    pool = balancer(clock)
    for _ in range(2):
        pool.breaker(A).record_failure()
    assert {pool.acquire([A, B]).instance.id for _ in range(4)} == {"i-1"}
    clock.now += 4
    for _ in range(2):
        pool.breaker(B).record_failure()

    with pytest.raises(CircuitOpen) as refused:
        pool.acquire([A, B])

    assert refused.value.retry_after == pytest.approx(6)
    assert pool.states() == {"i-0": State.OPEN, "i-1": State.OPEN}
    clock.now += 6
    lease = pool.acquire([A, B])
    assert (lease.instance, lease.trial) == (A, True)


@pytest.mark.parametrize(
    ("method", "headers", "expected"),
    [
        ("GET", {}, True),
        ("HEAD", {}, True),
        ("PUT", {}, True),
        ("DELETE", {}, True),
        ("OPTIONS", {}, True),
        ("POST", {}, False),
        ("PATCH", {}, False),
        ("POST", {"Idempotency-Key": "k1"}, True),
        ("POST", {"idempotency-key": "k1"}, True),
        ("PATCH", {"Idempotency-Key": "k1"}, True),
    ],
)
def test_only_requests_that_may_be_repeated_are(
    method: str, headers: dict[str, str], expected: bool
) -> None:
    assert may_repeat(method, headers) is expected


def test_back_off_is_jittered_below_an_exponential_cap() -> None:
    policy = RetryPolicy(backoff_base_seconds=0.01, backoff_max_seconds=0.05)
    for retry, cap in [(1, 0.01), (2, 0.02), (3, 0.04), (4, 0.05), (9, 0.05)]:
        delays = [policy.delay(retry) for _ in range(200)]
        assert all(0 <= delay <= cap for delay in delays)
        assert max(delays) > cap / 2


def test_the_retry_budget_is_a_share_of_recent_requests_plus_a_floor() -> None:
    clock = Clock()
    budget = RetryBudget(ratio=0.2, min_per_second=0.1, window_seconds=10, clock=clock)
    for _ in range(100):
        budget.record_request()
    # 0.2 x 100 requests + 0.1/s x 10 s = 21 retries in the window, then none.
    assert sum(budget.try_spend() for _ in range(30)) == 21
    clock.now += 5
    assert not budget.try_spend()
    clock.now += 5  # the requests and retries of the first second leave the window
    assert sum(budget.try_spend() for _ in range(5)) == 1


def test_the_breaker_gauge_shows_which_instances_refuse_calls() -> None:
    clock = Clock()
    pool = balancer(clock)
    gone = Instance("customer_service", "i-gauge", "http://127.0.0.1:9999")

    def shown() -> float | None:
        return REGISTRY.get_sample_value(
            "gateway_upstream_breaker_open", {"service": "customer_service", "instance": "i-gauge"}
        )

    pool.breaker(gone)
    assert shown() == 0
    for _ in range(2):
        pool.breaker(gone).record_failure()
    assert shown() == 1
    clock.now += 10
    lease = pool.acquire([gone])
    assert lease.trial
    assert shown() == 1
    lease.breaker.record_success(trial=lease.trial)
    assert shown() == 0
