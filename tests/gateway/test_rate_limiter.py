"""The gateway's rate limiter on the real Redis: the same answers as ``limits`` itself."""

from __future__ import annotations

import threading
import time

import pytest
import redis
from limits import parse
from limits.storage import RedisStorage
from limits.strategies import SlidingWindowCounterRateLimiter

from gateway.edge import limits
from gateway.edge.limits import MAX_LEASE, Lease, RateLimiter
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


class RoundTrips:
    """Counts the limiter's trips to Redis (wraps its own method; Redis answers them)."""

    def __init__(self, limiter: RateLimiter) -> None:
        self.count = 0
        self._trip = limiter._hit_in_one_round_trip
        limiter._hit_in_one_round_trip = self  # type: ignore[method-assign,assignment]

    def __call__(self, *args: object) -> tuple[bool, int, float]:
        self.count += 1
        return self._trip(*args)  # type: ignore[arg-type]


def test_a_busy_key_far_from_its_limit_is_counted_a_lease_at_a_time(redis_prefix: str) -> None:
    limiter = RateLimiter(REDIS_URL, {"api": "1000000/minute"}, key_prefix=redis_prefix)
    trips = RoundTrips(limiter)
    reference = SlidingWindowCounterRateLimiter(RedisStorage(REDIS_URL, key_prefix=redis_prefix))

    states = [limiter.hit("api", "principal:erin") for _ in range(400)]

    # A few requests a second is all it takes: most of the 400 went through on leases.
    assert trips.count < 400 / 4
    # Every request is in the headers, as if each had been counted on its own...
    assert [state and state.remaining for state in states] == [
        1_000_000 - hits for hits in range(1, 401)
    ]
    # ... and Redis holds them all, with at most one lease's unused requests more.
    counted = (
        1_000_000
        - reference.get_window_stats(parse("1000000/minute"), "api", "principal:erin").remaining
    )
    assert 400 <= counted < 400 + MAX_LEASE


def test_concurrent_requests_of_a_busy_key_waste_at_most_one_lease(redis_prefix: str) -> None:
    # Requests of one worker arriving while a lease is being counted count themselves
    # alone: two leases at once would each overwrite, or pile up, the other's requests.
    limiter = RateLimiter(REDIS_URL, {"api": "1000000/minute"}, key_prefix=redis_prefix)
    reference = SlidingWindowCounterRateLimiter(RedisStorage(REDIS_URL, key_prefix=redis_prefix))

    def client() -> None:
        for _ in range(100):
            limiter.hit("api", "principal:judy")

    clients = [threading.Thread(target=client) for _ in range(8)]
    for thread in clients:
        thread.start()
    for thread in clients:
        thread.join()

    item = parse("1000000/minute")
    counted = 1_000_000 - reference.get_window_stats(item, "api", "principal:judy").remaining
    lease = limiter._leases["api", "principal:judy"]
    # Counted in Redis: the 800, and what the lease still holds for the next requests
    # (give or take a few: threads, unlike the workers' greenlets, can race on it).
    assert abs(counted - lease.tokens - 800) <= MAX_LEASE


def test_near_its_limit_a_key_is_refused_exactly_where_it_would_be_one_by_one(
    redis_prefix: str,
) -> None:
    # Two workers sharing one key, taking turns as fast as they can: together they let
    # exactly the limit through, and the headers count down one request at a time.
    first, second = (
        RateLimiter(REDIS_URL, {"api": "100/minute"}, key_prefix=redis_prefix) for _ in range(2)
    )
    allowed = 0
    for turn in range(300):
        try:
            state = (first, second)[turn % 2].hit("api", "principal:frank")
        except TooManyRequests:
            continue
        else:
            allowed += 1
            assert state is not None
            assert state.remaining >= 0

    assert allowed == 100
    for limiter in (first, second):
        with pytest.raises(TooManyRequests):
            limiter.hit("api", "principal:frank")


def test_one_worker_counts_down_its_headers_to_the_limit(redis_prefix: str) -> None:
    limiter = RateLimiter(REDIS_URL, {"api": "100/minute"}, key_prefix=redis_prefix)
    trips = RoundTrips(limiter)

    states = [limiter.hit("api", "principal:grace") for _ in range(100)]

    assert [state and state.remaining for state in states] == list(range(99, -1, -1))
    assert trips.count < 100  # leases while over 16 x their size was left
    with pytest.raises(TooManyRequests):
        limiter.hit("api", "principal:grace")


def test_a_lease_too_big_for_what_others_left_falls_back_to_the_one_request(
    redis_prefix: str,
) -> None:
    limiter = RateLimiter(REDIS_URL, {"api": "1000/minute"}, key_prefix=redis_prefix)
    for _ in range(200):  # busy: leases of several requests
        limiter.hit("api", "principal:ivan")
    # Another worker (the library's own call, on the same keys) takes all but one.
    other = SlidingWindowCounterRateLimiter(RedisStorage(REDIS_URL, key_prefix=redis_prefix))
    item = parse("1000/minute")
    assert other.hit(
        item,
        "api",
        "principal:ivan",
        cost=other.get_window_stats(item, "api", "principal:ivan").remaining - 1,
    )

    allowed = 0
    while _allowed(limiter, "principal:ivan"):
        allowed += 1

    assert 1 <= allowed <= MAX_LEASE
    # The last request left went to this worker, though it asked for a lease first.
    assert other.get_window_stats(item, "api", "principal:ivan").remaining == 0


def test_a_lease_is_not_used_once_it_has_expired(
    redis_prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(limits, "LEASE_SECONDS", 0.05)
    limiter = RateLimiter(REDIS_URL, {"api": "1000000/minute"}, key_prefix=redis_prefix)
    trips = RoundTrips(limiter)
    while limiter._leases.get(("api", "principal:heidi"), Lease()).tokens < 2:
        limiter.hit("api", "principal:heidi")
    before = trips.count

    time.sleep(0.1)
    limiter.hit("api", "principal:heidi")

    assert trips.count == before + 1


def test_a_lease_is_sized_by_the_keys_pace_and_what_the_window_has_left() -> None:
    lease = Lease(remaining=1_000_000)
    assert lease.next_size() == 1  # a key not seen yet: one request
    for _ in range(9):
        lease.seen(100.5)
    assert lease.next_size() == 2  # 9 requests this second: a quarter of them
    for _ in range(200):
        lease.seen(100.6)
    assert lease.next_size() == MAX_LEASE
    lease.seen(101.2)
    assert lease.next_size() == MAX_LEASE  # the second before counts too
    lease.seen(103.0)
    assert lease.next_size() == 1  # quiet for a second and more
    busy = Lease(remaining=47)
    for _ in range(200):
        busy.seen(7.0)
    assert busy.next_size() == 2  # 47 left: at most a sixteenth of it


def _allowed(limiter: RateLimiter, key: str) -> bool:
    """Whether ``limiter`` lets one more request of ``key`` through."""
    try:
        limiter.hit("api", key)
    except TooManyRequests:
        return False
    return True


def _client_ids(name: str) -> list[str]:
    """The ids of the Redis clients named ``name``."""
    clients = redis.Redis.from_url(REDIS_URL).client_list()
    return [str(client["id"]) for client in clients if client.get("name") == name]
