"""What clients get when a service is down, slow or broken: problems, never a hang."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from tests.e2e.conftest import Stack
from tests.support.processes import free_port
from tests.support.upstreams import (
    BrokenUpstream,
    answers_garbage,
    answers_slowly,
    echoes_request_head,
    read_request_head,
)


@pytest.fixture
def gateway_in_front_of(stack_for_test) -> Callable[..., Stack]:
    """Factory: a fresh stack whose gateway sends customer routes to ``url``."""

    def start(url: str, **env: str) -> Stack:
        return stack_for_test(
            {"DISCOVERY_STATIC": f"customer_service={url}", **env}, gateway_workers=1, only=()
        )

    return start


def _get(stack: Stack, path: str = "/customers") -> requests.Response:
    return requests.get(f"{stack.api}{path}", headers=stack.headers(), timeout=15)


def test_nothing_listening_is_503_then_the_breaker_opens(gateway_in_front_of) -> None:
    stack = gateway_in_front_of(f"http://127.0.0.1:{free_port()}", UPSTREAM_BREAKER_FAIL_MAX="3")
    first = [_get(stack) for _ in range(3)]
    assert [response.status_code for response in first] == [503, 503, 503]
    assert first[0].headers["Content-Type"] == "application/problem+json"
    assert "unreachable" in first[0].json()["detail"]
    paused = _get(stack)
    assert paused.status_code == 503
    assert "paused" in paused.json()["detail"]
    assert int(paused.headers["Retry-After"]) >= 1


def test_slow_service_is_504_after_the_read_timeout(gateway_in_front_of) -> None:
    upstream = BrokenUpstream(answers_slowly(5))
    try:
        stack = gateway_in_front_of(upstream.url, UPSTREAM_READ_TIMEOUT_SECONDS="0.5")
        started = time.monotonic()
        response = _get(stack)
        elapsed = time.monotonic() - started
    finally:
        upstream.close()
    assert response.status_code == 504
    assert response.headers["Content-Type"] == "application/problem+json"
    assert elapsed < 3


class CountsConcurrentRequests:
    """An upstream that holds each request a while and records how many it held at once."""

    def __init__(self, hold_seconds: float) -> None:
        self.hold_seconds = hold_seconds
        self.in_flight = 0
        self.most_at_once = 0
        self._lock = threading.Lock()

    def __call__(self, connection: socket.socket) -> None:
        read_request_head(connection)
        with self._lock:
            self.in_flight += 1
            self.most_at_once = max(self.most_at_once, self.in_flight)
        time.sleep(self.hold_seconds)
        with self._lock:
            self.in_flight -= 1
        connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}")


def test_a_slow_service_does_not_queue_other_requests_to_it(gateway_in_front_of) -> None:
    # One gateway worker with four threads: all four requests must reach the
    # service together, none waiting for another to finish first.
    behaviour = CountsConcurrentRequests(hold_seconds=1.0)
    upstream = BrokenUpstream(behaviour)
    try:
        stack = gateway_in_front_of(upstream.url)
        with ThreadPoolExecutor(max_workers=4) as pool:
            responses = list(pool.map(lambda _: _get(stack), range(4)))
    finally:
        upstream.close()
    assert [response.status_code for response in responses] == [200] * 4
    assert behaviour.most_at_once == 4


def test_garbage_from_the_service_is_502(gateway_in_front_of) -> None:
    upstream = BrokenUpstream(answers_garbage)
    try:
        response = _get(gateway_in_front_of(upstream.url))
    finally:
        upstream.close()
    assert response.status_code == 502
    assert response.headers["Content-Type"] == "application/problem+json"


def test_hop_by_hop_headers_are_dropped_both_ways(gateway_in_front_of) -> None:
    upstream = BrokenUpstream(echoes_request_head)
    try:
        stack = gateway_in_front_of(upstream.url)
        response = requests.get(
            f"{stack.api}/customers/abc?x=1",
            headers={
                **stack.headers(),
                "Connection": "keep-alive, X-Client-Secret",
                "X-Client-Secret": "do-not-forward",
                "Proxy-Authorization": "Basic c2VjcmV0",
                "TE": "trailers",
                "X-Custom": "kept",
            },
            timeout=15,
        )
    finally:
        upstream.close()
    assert response.status_code == 200
    seen = response.text.lower()
    assert seen.startswith("get /customers/abc?x=1 http/1.1")
    assert "x-custom: kept" in seen
    assert "x-client-secret" not in seen
    assert "proxy-authorization" not in seen
    assert "\r\nte:" not in seen
    assert "authorization: bearer " in seen
    assert "x-request-id: " in seen
    assert "x-forwarded-for: 127.0.0.1" in seen
    assert "X-Upstream-Secret" not in response.headers
    assert "Keep-Alive" not in response.headers
