"""When a failed forward may be tried again, and how many retries a service may take.

A retry goes to another instance (never the one that just failed) after an
exponential back-off with full jitter, and only when it cannot do harm:

* the request never reached the service (connection refused or not accepted in
  time): any method;
* otherwise only an idempotent method (GET, HEAD, OPTIONS, PUT, DELETE), or a
  POST or PATCH carrying an ``Idempotency-Key`` (the service answers a replay
  with the first answer), after a broken or timed-out answer or a 502/503/504.

A :class:`RetryBudget` per service caps retries at a share of recent requests
(as Finagle's and Envoy's budgets do), so in an outage retries cannot multiply
the load on what is left.

The loop itself is in :mod:`gateway.edge.upstream`; it is a few lines because
choosing the next attempt's instance is part of each step, which a generic
retry decorator (tenacity) would have to be handed as state anyway.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from prometheus_client import Counter

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
#: Statuses a service answers when another instance may do better.
RETRY_STATUSES = frozenset({502, 503, 504})

RETRIES = Counter(
    "gateway_upstream_retries_total",
    "Forwards tried again on another instance, by what failed.",
    ["service", "reason"],
)
BUDGET_EXHAUSTED = Counter(
    "gateway_upstream_retry_budget_exhausted_total",
    "Retries not made because the service's retry budget was spent.",
    ["service"],
)


def may_repeat(method: str, headers: Mapping[str, str]) -> bool:
    """Whether sending the request twice has the effect of sending it once."""
    if method in IDEMPOTENT_METHODS:
        return True
    return method in ("POST", "PATCH") and any(
        name.lower() == "idempotency-key" for name in headers
    )


@dataclass(frozen=True)
class RetryPolicy:
    """How many attempts a forward gets, and the back-off between them."""

    max_attempts: int = 3
    backoff_base_seconds: float = 0.01
    backoff_max_seconds: float = 0.2

    def delay(self, retry: int) -> float:
        """Seconds before retry number ``retry`` (1, 2, ...): full jitter, exponential cap."""
        cap = min(self.backoff_max_seconds, self.backoff_base_seconds * 2 ** (retry - 1))
        return random.uniform(0, cap)  # noqa: S311  # nosec B311 # jitter, not a secret


class RetryBudget:
    """Retries allowed: ``ratio`` of the last ``window_seconds``' requests, plus a floor.

    Counts live in one-second buckets, so the check is a few additions; the floor
    (``min_per_second``) lets a quiet service still retry a lone failure.
    """

    def __init__(
        self,
        *,
        ratio: float = 0.2,
        min_per_second: float = 1.0,
        window_seconds: int = 10,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._ratio = ratio
        self._floor = min_per_second * window_seconds
        self._window = window_seconds
        self._clock = clock
        self._requests = [0] * window_seconds
        self._retries = [0] * window_seconds
        self._second = int(clock())
        self._lock = threading.Lock()

    def _advance(self) -> int:
        now = int(self._clock())
        if now != self._second:
            for second in range(max(self._second + 1, now - self._window + 1), now + 1):
                self._requests[second % self._window] = 0
                self._retries[second % self._window] = 0
            self._second = now
        return now % self._window

    def record_request(self) -> None:
        """Count a request (the first attempt of a forward)."""
        with self._lock:
            self._requests[self._advance()] += 1

    def try_spend(self) -> bool:
        """Take one retry from the budget; False when it is spent."""
        with self._lock:
            slot = self._advance()
            if sum(self._retries) + 1 > self._ratio * sum(self._requests) + self._floor:
                return False
            self._retries[slot] += 1
            return True
