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
        self._packed: dict[tuple[str, str], bytes] = {}

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
        try:
            try:
                allowed, remaining, reset_at = self._hit_in_one_round_trip(item, name, key)
            except NoScriptError:
                allowed = self._strategy.hit(item, name, key)
                stats = self._strategy.get_window_stats(item, name, key)
                remaining, reset_at = stats.remaining, stats.reset_time
        except (StorageError, RedisError) as error:
            RATE_LIMIT_ERRORS.inc()
            logger.warning("rate limit not applied, Redis unavailable: %s", error)
            return None
        reset = max(1, math.ceil(reset_at - time.time()))
        state = LimitState(item.amount, max(0, remaining), reset)
        if not allowed:
            RATE_LIMITED.labels(name).inc()
            raise TooManyRequests(
                f"Rate limit of {item} exceeded; retry in {reset} s",
                headers={**state.headers(), "Retry-After": str(reset)},
            )
        return state

    def _hit_in_one_round_trip(
        self, item: RateLimitItem, name: str, key: str
    ) -> tuple[bool, int, float]:
        """``SlidingWindowCounterRateLimiter.hit`` then ``get_window_stats``, in one round trip.

        Returns whether the hit was allowed, the requests remaining and when the
        window resets (epoch seconds), computed as ``limits`` 5.8 computes them.
        """
        reused = bool(self._idle)
        connection = self._idle.pop() if reused else self._new_connection()
        packed = self._packed.get((name, key)) or self._pack(connection, item, name, key)
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

    def _pack(self, connection: RedisConnection, item: RateLimitItem, name: str, key: str) -> bytes:
        """The two scripts' calls for ``key`` under ``name``, as bytes on the wire (kept)."""
        storage = self._storage
        window_key = item.key_for(name, key)
        expiry = item.get_expiry()
        # The library's own key layout for the two windows.
        keys = (
            storage.prefixed_key(storage._previous_window_key(window_key)),
            storage.prefixed_key(storage._current_window_key(window_key)),
        )
        commands = (
            ("EVALSHA", storage.lua_acquire_sliding_window.sha, 2, *keys, item.amount, expiry, 1),
            ("EVALSHA", storage.lua_sliding_window.sha, 2, *keys, expiry),
        )
        packed = b"".join(connection.pack_commands(commands))
        if len(self._packed) >= PACKED_COMMANDS_KEPT:
            self._packed.clear()
        self._packed[(name, key)] = packed
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
