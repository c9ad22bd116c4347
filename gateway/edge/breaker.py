"""A circuit breaker that never holds a lock across the call it guards.

``pybreaker`` (the usual choice) takes its lock for the whole guarded call, so
one process can only have one request in flight per service: measured here,
that capped the gateway's throughput, and a slow service would queue every
other request to it behind the slow one (pybreaker issue #3, still so in
1.4.1). This breaker keeps the lock to its own bookkeeping.

States, as usual: *closed* counts consecutive failures and opens after
``fail_max``; *open* refuses calls for ``reset_seconds``; then *half-open*
lets one trial call through (others are refused while it runs), which closes
the circuit on success and opens it again on failure.

Calls are slow and overlap, so an answer can arrive after the circuit changed
state: a call admitted while the circuit was closed may come back after it
opened. Only the trial call decides an open circuit's fate; a late answer of an
older call neither closes it nor keeps it open longer.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from enum import Enum
from typing import TypeVar

T = TypeVar("T")


class CircuitOpen(Exception):
    """The circuit is open: the call was not made."""

    def __init__(self, name: str, retry_after: float) -> None:
        super().__init__(f"circuit for {name} is open")
        self.name = name
        #: Seconds until a trial call will be let through.
        self.retry_after = retry_after


class State(Enum):
    """Where the breaker stands."""

    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class CircuitBreaker:
    """Counts failures of the calls it is told about; refuses calls while open."""

    def __init__(
        self,
        name: str,
        *,
        fail_max: int,
        reset_seconds: float,
        clock: Callable[[], float] = time.monotonic,
        on_change: Callable[[State], None] = lambda _state: None,
    ) -> None:
        self.name = name
        self._on_change = on_change
        self._fail_max = fail_max
        self._reset_seconds = reset_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._state = State.CLOSED
        self._failures = 0
        self._opened_at = 0.0
        self._trial_running = False

    @property
    def state(self) -> State:
        """The current state (an open circuit past its timeout reads half-open)."""
        with self._lock:
            if self._state is State.OPEN and self._open_for() >= self._reset_seconds:
                return State.HALF_OPEN
            return self._state

    def call(self, function: Callable[[], T]) -> T:
        """Run ``function`` if the circuit allows; any exception it raises counts as a failure."""
        trial = self.before_call()
        try:
            result = function()
        except BaseException:
            self.record_failure(trial=trial)
            raise
        self.record_success(trial=trial)
        return result

    def before_call(self) -> bool:
        """Raise :class:`CircuitOpen` unless a call may be made now; whether it is the trial."""
        with self._lock:
            if self._state is State.CLOSED:
                return False
            if self._state is State.OPEN:
                waited = self._open_for()
                if waited < self._reset_seconds:
                    raise CircuitOpen(self.name, self._reset_seconds - waited)
                self._set(State.HALF_OPEN)
                self._trial_running = False
            if self._trial_running:
                raise CircuitOpen(self.name, self._reset_seconds)
            self._trial_running = True
            return True

    def record_success(self, *, trial: bool = False) -> None:
        """A call got through: reset the count; the trial closes a half-open circuit."""
        with self._lock:
            if self._state is State.CLOSED:
                self._failures = 0
            elif trial:
                self._set(State.CLOSED)
                self._failures = 0
                self._trial_running = False

    def record_failure(self, *, trial: bool = False) -> None:
        """A call failed: count it, and open the circuit after ``fail_max`` in a row."""
        with self._lock:
            if self._state is State.CLOSED:
                self._failures += 1
                if self._failures >= self._fail_max:
                    self._open()
            elif trial:
                self._trial_running = False
                self._open()

    def _set(self, state: State) -> None:
        self._state = state
        self._on_change(state)

    def _open(self) -> None:
        self._set(State.OPEN)
        self._opened_at = self._clock()

    def _open_for(self) -> float:
        return self._clock() - self._opened_at
