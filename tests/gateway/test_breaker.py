"""The circuit breaker (one per service instance): its states; it never serialises calls."""

from __future__ import annotations

import threading

import pytest

from gateway.edge.breaker import CircuitBreaker, CircuitOpen, State


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Refused(Exception):
    """What a failing call raises."""


def failing() -> None:
    raise Refused


def make(clock: Clock, fail_max: int = 3) -> CircuitBreaker:
    return CircuitBreaker("customer_service", fail_max=fail_max, reset_seconds=10, clock=clock)


def test_opens_after_fail_max_failures_in_a_row_and_refuses_without_calling() -> None:
    clock = Clock()
    breaker = make(clock)
    for _ in range(3):
        with pytest.raises(Refused):
            breaker.call(failing)
    assert breaker.state is State.OPEN

    calls = []
    clock.now += 4
    with pytest.raises(CircuitOpen) as refused:
        breaker.call(lambda: calls.append(1))
    assert calls == []
    assert refused.value.retry_after == pytest.approx(6)


def test_a_success_resets_the_count_of_failures() -> None:
    breaker = make(Clock())
    for _ in range(2):
        with pytest.raises(Refused):
            breaker.call(failing)
    assert breaker.call(lambda: "ok") == "ok"
    for _ in range(2):
        with pytest.raises(Refused):
            breaker.call(failing)
    assert breaker.state is State.CLOSED


def test_after_the_reset_time_one_trial_call_decides() -> None:
    clock = Clock()
    breaker = make(clock, fail_max=1)
    with pytest.raises(Refused):
        breaker.call(failing)
    clock.now += 10
    assert breaker.state is State.HALF_OPEN

    # A failed trial opens the circuit for another full period.
    with pytest.raises(Refused):
        breaker.call(failing)
    assert breaker.state is State.OPEN
    clock.now += 9
    with pytest.raises(CircuitOpen):
        breaker.call(lambda: None)

    clock.now += 1
    assert breaker.call(lambda: "back") == "back"
    assert breaker.state is State.CLOSED


def test_while_the_trial_runs_other_calls_are_refused() -> None:
    clock = Clock()
    breaker = make(clock, fail_max=1)
    with pytest.raises(Refused):
        breaker.call(failing)
    clock.now += 10
    outcomes: list[str] = []

    def trial() -> str:
        try:
            breaker.call(lambda: outcomes.append("second call ran"))
        except CircuitOpen:
            outcomes.append("second call refused")
        return "trial done"

    assert breaker.call(trial) == "trial done"
    assert outcomes == ["second call refused"]
    assert breaker.state is State.CLOSED


def test_calls_run_concurrently_not_one_at_a_time() -> None:
    breaker = make(Clock())
    inside = threading.Barrier(4, timeout=5)

    def guarded() -> None:
        # Every thread must be inside the guarded call at once to get past the barrier.
        inside.wait()

    threads = [threading.Thread(target=breaker.call, args=(guarded,)) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert not inside.broken
    assert breaker.state is State.CLOSED


def test_a_late_success_of_a_call_admitted_before_the_circuit_opened_does_not_close_it() -> None:
    clock = Clock()
    breaker = make(clock)
    late = breaker.before_call()  # admitted while closed, answers slowly
    for _ in range(3):
        with pytest.raises(Refused):
            breaker.call(failing)
    assert breaker.state is State.OPEN

    breaker.record_success(trial=late)

    assert breaker.state is State.OPEN
    with pytest.raises(CircuitOpen):
        breaker.call(lambda: "refused")


def test_a_late_answer_during_the_trial_leaves_the_decision_to_the_trial() -> None:
    clock = Clock()
    breaker = make(clock)
    late = breaker.before_call()
    for _ in range(3):
        with pytest.raises(Refused):
            breaker.call(failing)
    clock.now += 10
    trial = breaker.before_call()
    assert trial is True

    breaker.record_success(trial=late)  # an old call comes back while the trial runs
    assert breaker.state is State.HALF_OPEN
    with pytest.raises(CircuitOpen):
        breaker.before_call()  # still only one trial at a time

    breaker.record_failure(trial=trial)
    assert breaker.state is State.OPEN


def test_every_state_change_is_reported_once() -> None:
    clock = Clock()
    changes: list[State] = []
    breaker = CircuitBreaker(
        "x", fail_max=1, reset_seconds=10, clock=clock, on_change=changes.append
    )
    with pytest.raises(Refused):
        breaker.call(failing)
    clock.now += 10
    assert breaker.call(lambda: "ok") == "ok"

    assert changes == [State.OPEN, State.HALF_OPEN, State.CLOSED]
