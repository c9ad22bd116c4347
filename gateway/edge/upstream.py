"""The upstream client: HTTP to the services, with timeouts, a breaker, and header hygiene.

``UpstreamClient`` is the one seam to the wire: a urllib3 connection pool
(what ``requests`` runs on, without its per-call overhead, which measured
more than the rest of the gateway's work) with connect/read timeouts, a retry
only where nothing was sent yet (connection refused), and a circuit breaker
per service so a dead service fails fast with 503 instead of tying up workers.
Transport failures become problems: refused or open circuit → 503,
timeout → 504, broken answer → 502.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import partial

import urllib3
from prometheus_client import Counter, Histogram
from urllib3.exceptions import (
    ConnectTimeoutError,
    HTTPError,
    MaxRetryError,
    NewConnectionError,
    ReadTimeoutError,
)
from urllib3.util.retry import Retry

from gateway.edge.breaker import CircuitBreaker, CircuitOpen
from gateway.edge.routes import Route
from shared.errors import BadGateway, GatewayTimeout, ProblemError, ServiceUnavailable

#: Headers meaningful for one connection only (RFC 9110 §7.6.1), never forwarded.
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    }
)
#: Request headers the gateway sets itself.
REPLACED_REQUEST_HEADERS = frozenset(
    {
        "host",
        "content-length",
        "authorization",
        "x-api-key",
        "x-request-id",
        "x-forwarded-for",
        "x-forwarded-proto",
        "x-forwarded-host",
        "x-forwarded-prefix",
    }
)
#: Response headers the gateway's own server sets again.
REPLACED_RESPONSE_HEADERS = frozenset(
    {"content-length", "content-encoding", "date", "server", "x-request-id"}
)

UPSTREAM_REQUESTS = Counter(
    "gateway_upstream_requests_total",
    "Requests forwarded to a service, by outcome (status class or failure).",
    ["service", "outcome"],
)
UPSTREAM_DURATION = Histogram(
    "gateway_upstream_request_duration_seconds",
    "Time waiting for a service to answer a forwarded request.",
    ["service"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)


@dataclass(frozen=True)
class UpstreamTimeouts:
    """Seconds to wait for a connection and for the answer."""

    connect: float = 1.0
    read: float = 10.0


@dataclass(frozen=True)
class UpstreamResponse:
    """What a service answered, ready to be sent on."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes


def connection_tokens(headers: Mapping[str, str]) -> set[str]:
    """Header names listed in ``Connection``: hop-by-hop for this message too."""
    return {token.strip().lower() for token in headers.get("Connection", "").split(",") if token}


def forwardable_request_headers(headers: Iterable[tuple[str, str]]) -> dict[str, str]:
    """End-to-end request headers the service should see."""
    headers = list(headers)
    dropped = HOP_BY_HOP | REPLACED_REQUEST_HEADERS | connection_tokens(dict(headers))
    return {name: value for name, value in headers if name.lower() not in dropped}


def forwardable_response_headers(
    headers: Iterable[tuple[str, str]], route: Route
) -> list[tuple[str, str]]:
    """End-to-end response headers, with the service's paths made public."""
    headers = list(headers)
    dropped = HOP_BY_HOP | REPLACED_RESPONSE_HEADERS | connection_tokens(dict(headers))
    kept: list[tuple[str, str]] = []
    for name, value in headers:
        lower = name.lower()
        if lower in dropped:
            continue
        if lower == "location":
            value = route.public_path(value)
        elif lower == "link":
            value = value.replace(f"<{route.upstream_prefix}", f"<{route.prefix}")
        kept.append((name, value))
    return kept


def transport_problem(
    service: str, error: HTTPError, read_timeout: float
) -> tuple[str, ProblemError]:
    """The outcome label and the problem a client gets for a failed forward."""
    reason: object = error.reason if isinstance(error, MaxRetryError) else error
    # NewConnectionError subclasses ConnectTimeoutError in urllib3: test it first.
    if isinstance(reason, NewConnectionError):
        return "unreachable", ServiceUnavailable(f"{service} is unreachable")
    if isinstance(reason, ConnectTimeoutError):
        return "timeout", ServiceUnavailable(f"{service} did not accept a connection in time")
    if isinstance(reason, ReadTimeoutError):
        return "timeout", GatewayTimeout(f"{service} did not answer within {read_timeout} s")
    return "bad_response", BadGateway(f"{service} sent a broken answer: {reason}")


class UpstreamClient:
    """Pooled HTTP to the services, with timeouts and one breaker per service."""

    def __init__(
        self,
        *,
        timeouts: UpstreamTimeouts,
        pool_size: int = 32,
        breaker_fail_max: int = 5,
        breaker_reset_seconds: float = 10.0,
    ) -> None:
        self.timeouts = timeouts
        self._pool = urllib3.PoolManager(
            num_pools=16,
            maxsize=pool_size,
            timeout=urllib3.Timeout(connect=timeouts.connect, read=timeouts.read),
            # Retry only failed connects: the request never reached the service.
            retries=Retry(total=1, connect=1, read=0, status=0, other=0, redirect=False),
        )
        self._breaker_fail_max = breaker_fail_max
        self._breaker_reset_seconds = breaker_reset_seconds
        self._breakers: dict[str, CircuitBreaker] = {}

    def breaker(self, service: str) -> CircuitBreaker:
        """The circuit breaker for ``service`` in this process."""
        breaker = self._breakers.get(service)
        if breaker is None:
            # setdefault is atomic: two threads racing here end up with one breaker.
            breaker = self._breakers.setdefault(
                service,
                CircuitBreaker(
                    service,
                    fail_max=self._breaker_fail_max,
                    reset_seconds=self._breaker_reset_seconds,
                ),
            )
        return breaker

    def _send(
        self, method: str, url: str, headers: dict[str, str], body: bytes
    ) -> UpstreamResponse:
        response = self._pool.request(
            method, url, body=body or None, headers=headers, redirect=False
        )
        return UpstreamResponse(response.status, list(response.headers.items()), response.data)

    def forward(
        self,
        service: str,
        method: str,
        url: str,
        headers: dict[str, str],
        body: bytes,
    ) -> UpstreamResponse:
        """Send one request to ``service``; transport failures raise problems."""
        started = time.perf_counter()
        outcome = "error"
        try:
            response = self.breaker(service).call(partial(self._send, method, url, headers, body))
            outcome = f"{response.status // 100}xx"
            return response
        except CircuitOpen as error:
            outcome = "circuit_open"
            raise ServiceUnavailable(
                f"{service} is failing; requests to it are paused",
                headers={"Retry-After": str(max(1, math.ceil(error.retry_after)))},
            ) from None
        except HTTPError as error:
            outcome, problem = transport_problem(service, error, self.timeouts.read)
            raise problem from None
        finally:
            UPSTREAM_REQUESTS.labels(service, outcome).inc()
            UPSTREAM_DURATION.labels(service).observe(time.perf_counter() - started)
