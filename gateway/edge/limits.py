"""Rate limits kept in Redis with the ``limits`` library (no framework: the edge guard calls it).

A sliding window counter per key: one atomic Lua script per hit, so the
count holds however many gateway workers share it, in constant time and two
Redis keys per client. (A moving window is exact at window edges too, but
keeps one list entry per request: measured, its cost grew with the traffic of
a busy principal.) Keys are ``principal:<subject>`` for authenticated calls and
``ip:<address>`` for public ones. Every limited response carries
``RateLimit-Limit``/``RateLimit-Remaining``/``RateLimit-Reset``; a refused one
is 429 with ``Retry-After``.

Counting a hit and reading the window for the headers are two calls in
``limits``; the gateway sends both of the library's scripts in one write,
so a limited request costs one Redis round trip, not two (it was a third of
the gateway's own time per forwarded request). The two calls are packed once
per key and sent on connections the limiter keeps, without redis-py's
pipeline and pool checkout, which cost more than the round trip itself. Keys,
scripts and arithmetic are the library's; if Redis lost the scripts (a
restart), the library's own calls run once and load them again.

A busy key does not need a round trip per request: a worker that sees a key
at more than a few requests a second counts several of its requests in Redis
at once (the library's ``cost``) and lets the next ones through on that lease,
for at most a second (:class:`Lease`). Near the limit a key is counted one
request at a time again, so refusals come exactly where they did.

When Redis cannot be reached the gateway lets the request through and counts
it in ``gateway_rate_limit_errors_total``: a rate limiter outage should not
take the whole API down with it.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from typing import Any, cast

import redis
from limits import RateLimitItem, parse
from limits.errors import StorageError
from limits.storage import RedisStorage
from limits.strategies import SlidingWindowCounterRateLimiter
from prometheus_client import Counter
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError, RedisError, ResponseError

from shared.contract import Operation
from shared.errors import TooManyRequests

logger = logging.getLogger(__name__)

RATE_LIMITED = Counter("gateway_rate_limited_total", "Requests refused by a rate limit.", ["limit"])
RATE_LIMIT_ERRORS = Counter(
    "gateway_rate_limit_errors_total", "Requests let through because Redis could not count them."
)


#: redis-py's ``Connection``, whose methods carry no type hints.
RedisConnection = Any
#: Packed hit commands kept, one per limit and key; past it the table starts again.
PACKED_COMMANDS_KEPT = 4096
#: The limit for every authenticated call, per principal.
API_LIMIT = "api"
#: Most requests a worker counts in Redis at once for one key.
MAX_LEASE = 16
#: A lease lasts about this share of a second at the key's recent pace in this worker...
LEASE_PACE = 4
#: ... and is taken only while the window has this many times its size left: near the
#: limit every request is counted on its own, and refused exactly where it was before.
LEASE_HEADROOM = 16
#: How long a lease's requests may be let through, seconds.
LEASE_SECONDS = 1.0
#: Keys whose leases are kept; past it the table starts again.
LEASES_KEPT = 4096


def limit_for(operation: Operation | None) -> str:
    """The named limit an authenticated call counts against: its operation's ``x-rate-limit``.

    A contract may name its own (the NLP service does: inference costs more than
    a read), which the gateway's settings define; anything else counts as ``api``.
    """
    return operation.rate_limit if operation is not None and operation.rate_limit else API_LIMIT


@dataclass(frozen=True)
class LimitState:
    """What the ``RateLimit-*`` headers report for one request."""

    limit: int
    remaining: int
    reset_seconds: int

    def headers(self) -> dict[str, str]:
        """The ``RateLimit-*`` response headers."""
        return {
            "RateLimit-Limit": str(self.limit),
            "RateLimit-Remaining": str(self.remaining),
            "RateLimit-Reset": str(self.reset_seconds),
        }


@dataclass
class Lease:
    """Requests of one key already counted in Redis, that this worker may let through.

    Also keeps the key's pace in this worker (requests in this second and the one
    before), which sizes the next lease: about a quarter of a second's requests, so
    a lease is used up well before it expires while the key stays busy. What a
    lease holds when it expires was counted and not used: at most ``MAX_LEASE``
    requests, once per slowdown of a busy key, and only far from its limit.
    """

    tokens: int = 0
    #: Whether a request of this worker is counting a lease in Redis right now: the
    #: others count themselves alone meanwhile, so at most one lease is held at once.
    fetching: bool = False
    #: Requests left in the window once the lease was counted (its tokens excluded).
    remaining: int = 0
    reset_at: float = 0.0
    expires: float = 0.0
    second: int = 0
    this_second: int = 0
    last_second: int = 0

    def seen(self, now: float) -> None:
        """Count one request of the key at ``now`` (monotonic seconds) towards its pace."""
        second = int(now)
        if second != self.second:
            self.last_second = self.this_second if second == self.second + 1 else 0
            self.second, self.this_second = second, 0
        self.this_second += 1

    def take(self, now: float) -> bool:
        """Use one of the lease's requests, if it holds one and has not expired."""
        if now >= self.expires:
            self.tokens = 0
        if self.tokens > 0:
            self.tokens -= 1
            return True
        return False

    def next_size(self) -> int:
        """How many requests to count in Redis with the next one (1: just that one)."""
        pace = max(self.this_second, self.last_second) // LEASE_PACE
        return max(1, min(MAX_LEASE, pace, self.remaining // LEASE_HEADROOM))

    def state(self, limit: int) -> LimitState:
        """The headers' figures: what Redis had left, and the requests still leased."""
        reset = max(1, math.ceil(self.reset_at - time.time()))
        return LimitState(limit, self.remaining + self.tokens, reset)


class RateLimiter:
    """Named limits (``"api"``, ``"auth"``) counted per key in Redis."""

    def __init__(self, redis_url: str, limits: dict[str, str], *, key_prefix: str) -> None:
        self._storage = storage = RedisStorage(
            redis_url,
            key_prefix=key_prefix,
            wrap_exceptions=True,
            socket_timeout=0.5,
            socket_connect_timeout=0.5,
            # Named, so an operator (or a test) finds the limiter's connections in CLIENT LIST.
            client_name=f"{key_prefix}-limiter",
        )
        self._strategy = SlidingWindowCounterRateLimiter(storage)
        self._limits: dict[str, RateLimitItem] = {
            name: parse(text) for name, text in limits.items()
        }
        # redis-py's pipeline and pool cost more per hit than the round trip itself
        # (a readiness poll and bookkeeping per checkout), so hits go over connections
        # kept here, idle ones in a list, each sending a pair of calls packed once per key.
        self._idle: list[RedisConnection] = []
        self._packed: dict[tuple[str, str, int], bytes] = {}
        self._leases: dict[tuple[str, str], Lease] = {}

    def _new_connection(self) -> RedisConnection:
        """A connection made as the library's client makes them (address, timeouts, retry)."""
        pool = cast(redis.Redis, self._storage.get_connection()).connection_pool
        return pool.connection_class(**pool.connection_kwargs)

    @staticmethod
    def _exchange(connection: RedisConnection, packed: bytes) -> tuple[Any, Any]:
        """Send both calls, read both replies (all of them, so the connection stays usable)."""
        connection.send_packed_command([packed], check_health=False)
        replies: list[Any] = []
        for _ in range(2):
            try:
                replies.append(connection.read_response())
            except ResponseError as error:
                replies.append(error)
        for reply in replies:
            if isinstance(reply, ResponseError):
                raise reply
        return replies[0], replies[1]

    def refuse_if_spent(self, name: str, key: str) -> None:
        """Raise 429 if ``key`` has no request left under ``name``, without counting one."""
        item = self._limits[name]
        try:
            if self._strategy.test(item, name, key):
                return
            stats = self._strategy.get_window_stats(item, name, key)
        except (StorageError, RedisError) as error:
            RATE_LIMIT_ERRORS.inc()
            logger.warning("rate limit not applied, Redis unavailable: %s", error)
            return
        reset = max(1, math.ceil(stats.reset_time - time.time()))
        RATE_LIMITED.labels(name).inc()
        raise TooManyRequests(
            f"Too many attempts; retry in {reset} s", headers={"Retry-After": str(reset)}
        )

    def count(self, name: str, key: str) -> None:
        """Count one event for ``key`` under ``name``; never refuses (see ``refuse_if_spent``)."""
        try:
            self._strategy.hit(self._limits[name], name, key)
        except (StorageError, RedisError) as error:
            RATE_LIMIT_ERRORS.inc()
            logger.warning("rate limit not counted, Redis unavailable: %s", error)

    def hit(self, name: str, key: str) -> LimitState | None:
        """Count one request; raise 429 over the limit; None if Redis is down."""
        item = self._limits[name]
        now = time.monotonic()
        lease = self._leases.get((name, key))
        if lease is None:
            if len(self._leases) >= LEASES_KEPT:
                self._leases.clear()
            lease = self._leases[name, key] = Lease()
        lease.seen(now)
        if lease.take(now):
            return lease.state(item.amount)
        size = 1 if lease.fetching else lease.next_size()
        leasing = size > 1
        if leasing:
            lease.fetching = True
        try:
            allowed, remaining, reset_at = self._counted(item, name, key, size)
            if not allowed and size > 1:
                # Too few left for the whole lease (other workers took some): this one alone.
                allowed, remaining, reset_at = self._counted(item, name, key, 1)
                size = 1 if allowed else 0
        except (StorageError, RedisError) as error:
            RATE_LIMIT_ERRORS.inc()
            logger.warning("rate limit not applied, Redis unavailable: %s", error)
            return None
        finally:
            if leasing:
                lease.fetching = False
        if allowed and size > 1:
            # Added to what the lease holds: requests of this worker counted meanwhile
            # took none of it (``take`` emptied it if it had expired).
            lease.tokens += size - 1
            lease.expires = now + LEASE_SECONDS
        lease.remaining, lease.reset_at = max(0, remaining), reset_at
        state = lease.state(item.amount)
        if not allowed:
            RATE_LIMITED.labels(name).inc()
            raise TooManyRequests(
                f"Rate limit of {item} exceeded; retry in {state.reset_seconds} s",
                headers={**state.headers(), "Retry-After": str(state.reset_seconds)},
            )
        return state

    def _counted(
        self, item: RateLimitItem, name: str, key: str, cost: int
    ) -> tuple[bool, int, float]:
        """Count ``cost`` requests at once if the window has room for them all."""
        try:
            return self._hit_in_one_round_trip(item, name, key, cost)
        except NoScriptError:
            allowed = self._strategy.hit(item, name, key, cost=cost)
            stats = self._strategy.get_window_stats(item, name, key)
            return allowed, stats.remaining, stats.reset_time

    def _hit_in_one_round_trip(
        self, item: RateLimitItem, name: str, key: str, cost: int = 1
    ) -> tuple[bool, int, float]:
        """``SlidingWindowCounterRateLimiter.hit`` then ``get_window_stats``, in one round trip.

        Returns whether the hit was allowed, the requests remaining and when the
        window resets (epoch seconds), computed as ``limits`` 5.8 computes them.
        """
        reused = bool(self._idle)
        connection = self._idle.pop() if reused else self._new_connection()
        packed = self._packed.get((name, key, cost)) or self._pack(
            connection, item, name, key, cost
        )
        try:
            try:
                acquired, window = self._exchange(connection, packed)
            except RedisConnectionError:
                if not reused:
                    raise
                # Redis closed it while it sat idle (a restart, its idle timeout): once more
                # on a new connection, as redis-py's pool would have reconnected at checkout.
                connection.disconnect()
                acquired, window = self._exchange(connection, packed)
        except BaseException:
            connection.disconnect()
            raise
        self._idle.append(connection)
        expiry = item.get_expiry()
        previous_count, previous_ttl_ms, current_count, current_ttl_ms = (
            (int(window[0] or 0), float(window[1] or 0), int(window[2] or 0), float(window[3] or 0))
            if window
            else (0, 0.0, 0, 0.0)
        )
        previous_expires_in = max(0.0, previous_ttl_ms) / 1000
        current_expires_in = max(0.0, current_ttl_ms) / 1000
        weighted = previous_count * previous_expires_in / expiry + current_count
        remaining = max(0, item.amount - math.floor(weighted))
        now = time.time()
        if not (previous_count or current_count):
            return bool(acquired), remaining, now
        previous_reset_in = current_reset_in = math.inf
        if previous_count:
            previous_reset_in = previous_expires_in % (expiry / previous_count)
        if current_count:
            current_reset_in = current_expires_in % expiry
        return bool(acquired), remaining, now + min(previous_reset_in, current_reset_in)

    def _pack(
        self, connection: RedisConnection, item: RateLimitItem, name: str, key: str, cost: int
    ) -> bytes:
        """The two scripts' calls for ``cost`` hits of ``key`` under ``name``, as bytes (kept)."""
        storage = self._storage
        window_key = item.key_for(name, key)
        expiry = item.get_expiry()
        # The library's own key layout for the two windows.
        keys = (
            storage.prefixed_key(storage._previous_window_key(window_key)),
            storage.prefixed_key(storage._current_window_key(window_key)),
        )
        acquire = (item.amount, expiry, cost)
        commands = (
            ("EVALSHA", storage.lua_acquire_sliding_window.sha, 2, *keys, *acquire),
            ("EVALSHA", storage.lua_sliding_window.sha, 2, *keys, expiry),
        )
        packed = b"".join(connection.pack_commands(commands))
        if len(self._packed) >= PACKED_COMMANDS_KEPT:
            self._packed.clear()
        self._packed[(name, key, cost)] = packed
        return packed


class FailedLoginThrottle:
    """Failed logins counted per account, so spreading guesses over addresses does not help.

    Over the limit, the account answers 429 (even to the right password) until
    the sliding window has moved on: an attacker can slow a user down for one
    window at a time, never lock them out for good.
    """

    LIMIT = "login_failures"

    def __init__(self, limiter: RateLimiter) -> None:
        self._limiter = limiter

    @staticmethod
    def _key(username: str) -> str:
        return f"account:{username.casefold()}"

    def check(self, username: str) -> None:
        """Raise 429 while ``username`` has used up its failed attempts."""
        self._limiter.refuse_if_spent(self.LIMIT, self._key(username))

    def record_failure(self, username: str) -> None:
        """Count one failed login of ``username``."""
        self._limiter.count(self.LIMIT, self._key(username))
