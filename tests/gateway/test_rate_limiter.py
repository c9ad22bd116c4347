"""The gateway's rate limiter on the real Redis: the same answers as ``limits`` itself."""

from __future__ import annotations

import time

import pytest
import redis
from limits import parse
from limits.storage import RedisStorage
from limits.strategies import SlidingWindowCounterRateLimiter

from gateway.edge.limits import RateLimiter
from shared.errors import TooManyRequests
from tests.gateway.conftest import REDIS_URL


def test_counts_and_headers_match_the_librarys_own_calls(redis_prefix: str) -> None:
    # The gateway pipelines the library's two scripts; the library's own hit and
    # get_window_stats on a twin key must say the same at every step.
    limiter = RateLimiter(REDIS_URL, {"api": "5/minute"}, key_prefix=redis_prefix)
    reference = SlidingWindowCounterRateLimiter(
        RedisStorage(REDIS_URL, key_prefix=f"{redis_prefix}-reference")
    )
    item = parse("5/minute")

    for _ in range(5):
        state = limiter.hit("api", "principal:alice")
        assert reference.hit(item, "api", "principal:alice")
        stats = reference.get_window_stats(item, "api", "principal:alice")
        assert state is not None
        assert state.limit == 5
        assert state.remaining == stats.remaining
        # Same reset, give or take the rounding to whole seconds; the library's
        # arithmetic wraps at the window length, so compare on that circle.
        apart = (state.reset_seconds - (stats.reset_time - time.time())) % 60
        assert min(apart, 60 - apart) <= 1.5

    with pytest.raises(TooManyRequests) as refused:
        limiter.hit("api", "principal:alice")
    assert not reference.hit(item, "api", "principal:alice")
    assert refused.value.headers["RateLimit-Remaining"] == "0"
    assert 1 <= int(refused.value.headers["Retry-After"]) <= 60

    # Another principal has its own window.
    other = limiter.hit("api", "principal:bob")
    assert other is not None
    assert other.remaining == 4


def test_keeps_counting_after_redis_forgets_its_scripts(redis_prefix: str) -> None:
    limiter = RateLimiter(REDIS_URL, {"api": "3/minute"}, key_prefix=redis_prefix)
    first = limiter.hit("api", "principal:carol")
    assert first is not None
    assert first.remaining == 2

    redis.Redis.from_url(REDIS_URL).script_flush()  # what a Redis restart does to scripts

    second = limiter.hit("api", "principal:carol")
    third = limiter.hit("api", "principal:carol")
    assert (second and second.remaining, third and third.remaining) == (1, 0)
    with pytest.raises(TooManyRequests):
        limiter.hit("api", "principal:carol")


def test_keeps_counting_after_redis_closes_its_connections(redis_prefix: str) -> None:
    limiter = RateLimiter(REDIS_URL, {"api": "3/minute"}, key_prefix=redis_prefix)
    first = limiter.hit("api", "principal:dave")
    assert first is not None

    # What a Redis restart, or its idle timeout, does to the connections the limiter keeps.
    killed = redis.Redis.from_url(REDIS_URL).execute_command(
        "CLIENT", "KILL", "SKIPME", "yes", "ID", *_client_ids(f"{redis_prefix}-limiter")
    )
    assert killed >= 1

    second = limiter.hit("api", "principal:dave")
    third = limiter.hit("api", "principal:dave")
    assert (second and second.remaining, third and third.remaining) == (1, 0)
    with pytest.raises(TooManyRequests):
        limiter.hit("api", "principal:dave")


def _client_ids(name: str) -> list[str]:
    """The ids of the Redis clients named ``name``."""
    clients = redis.Redis.from_url(REDIS_URL).client_list()
    return [str(client["id"]) for client in clients if client.get("name") == name]
