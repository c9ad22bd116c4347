"""Which instance of a service gets the next request: least outstanding, breakers respected.

One :class:`Balancer` per gateway process holds, per instance (by discovery's
instance id), a circuit breaker and the number of requests in flight. A request
goes to the instance with the fewest in flight among those whose breaker lets a
call through now, ties taken in turn (round robin), never to one it already
tried. When every instance's breaker is open the caller gets
:class:`~gateway.edge.breaker.CircuitOpen` at once, with the soonest time one
of them will let a trial through: a 503 with ``Retry-After``, not a wait for
timeouts.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

from prometheus_client import Counter, Gauge

from gateway.edge.breaker import CircuitBreaker, CircuitOpen, State
from shared.discovery import Instance

BREAKER_TRANSITIONS = Counter(
    "gateway_upstream_breaker_transitions_total",
    "Circuit breaker state changes, per service instance.",
    ["service", "instance", "state"],
)
BREAKER_OPEN = Gauge(
    "gateway_upstream_breaker_open",
    "1 while a breaker of a service instance refuses calls (open or half-open), else 0;"
    " the highest over the gateway's workers.",
    ["service", "instance"],
    multiprocess_mode="livemax",
)


def _record_breaker_state(instance: Instance, state: State) -> None:
    """Count a breaker's change and show whether it now refuses calls."""
    BREAKER_TRANSITIONS.labels(instance.service, instance.id, state.value).inc()
    BREAKER_OPEN.labels(instance.service, instance.id).set(state is not State.CLOSED)


class NoInstanceLeft(Exception):
    """Every instance was tried already (or discovery knows none)."""


@dataclass(frozen=True)
class Lease:
    """The instance a call goes to, and whether it is its breaker's half-open trial."""

    instance: Instance
    breaker: CircuitBreaker
    trial: bool


class Balancer:
    """Per-instance breakers and in-flight counts of one gateway process."""

    def __init__(
        self,
        *,
        fail_max: int,
        reset_seconds: float,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self._fail_max = fail_max
        self._reset_seconds = reset_seconds
        self._clock = clock
        self._breakers: dict[str, CircuitBreaker] = {}
        self._in_flight: dict[str, int] = {}
        self._turn = itertools.count()
        self._lock = threading.Lock()

    def breaker(self, instance: Instance) -> CircuitBreaker:
        """The breaker of ``instance`` (created closed on first use)."""
        breaker = self._breakers.get(instance.id)
        if breaker is None:
            options = {"clock": self._clock} if self._clock is not None else {}
            created = CircuitBreaker(
                f"{instance.service} at {instance.url}",
                fail_max=self._fail_max,
                reset_seconds=self._reset_seconds,
                on_change=lambda state: _record_breaker_state(instance, state),
                **options,
            )
            # setdefault is atomic: two threads racing here end up with one breaker.
            breaker = self._breakers.setdefault(instance.id, created)
            if breaker is created:
                BREAKER_OPEN.labels(instance.service, instance.id).set(0)
        return breaker

    def in_flight(self, instance: Instance) -> int:
        """Requests sent to ``instance`` by this process and not answered yet."""
        return self._in_flight.get(instance.id, 0)

    def acquire(self, instances: Sequence[Instance], tried: Collection[str] = ()) -> Lease:
        """The instance for the next call; :class:`CircuitOpen` if every breaker refuses.

        :class:`NoInstanceLeft` when no instance is left that was not ``tried``.
        """
        candidates = [instance for instance in instances if instance.id not in tried]
        if not candidates:
            raise NoInstanceLeft
        count = len(candidates)
        start = next(self._turn) % count
        order = sorted(
            range(count),
            key=lambda index: (self.in_flight(candidates[index]), (index - start) % count),
        )
        soonest: float | None = None
        for index in order:
            instance = candidates[index]
            breaker = self.breaker(instance)
            try:
                trial = breaker.before_call()
            except CircuitOpen as refused:
                soonest = (
                    refused.retry_after if soonest is None else min(soonest, refused.retry_after)
                )
                continue
            return Lease(instance, breaker, trial)
        service = candidates[0].service
        raise CircuitOpen(service, soonest if soonest is not None else self._reset_seconds)

    @contextmanager
    def outstanding(self, instance: Instance) -> Iterator[None]:
        """Count a call to ``instance`` as in flight while the block runs."""
        with self._lock:
            self._in_flight[instance.id] = self._in_flight.get(instance.id, 0) + 1
        try:
            yield
        finally:
            with self._lock:
                self._in_flight[instance.id] -= 1

    def states(self) -> dict[str, State]:
        """Each known instance's breaker state (for diagnostics and tests)."""
        return {instance_id: breaker.state for instance_id, breaker in self._breakers.items()}
