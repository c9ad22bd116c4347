"""The upstream client: HTTP to the services' instances, resilient, and header hygiene.

``UpstreamClient`` is the one seam to the wire: kept-alive connections per
instance (:mod:`gateway.edge.transport`) with connect/read timeouts per
route; a balancer (:mod:`gateway.edge.balancer`) that picks the instance with
the fewest requests in flight and keeps a circuit breaker per instance, so a
dead instance is skipped and a dead service fails fast with 503 and
``Retry-After`` instead of tying up workers; and retries on another instance
where they are safe, within a budget (:mod:`gateway.edge.retries`).
Transport failures become problems: refused or open circuit → 503,
timeout → 504, broken answer → 502.

An answer that announces its length (``Content-Length``) is read whole before
it is sent on, as every JSON answer is. One that does not (``Transfer-Encoding:
chunked``: a service streaming a CSV export) is relayed as it arrives
(:class:`StreamedBody`), so the gateway holds one piece of it at a time however
large it is.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass

from prometheus_client import Counter, Histogram

from gateway.edge.balancer import Balancer, Lease
from gateway.edge.breaker import CircuitOpen
from gateway.edge.retries import (
    BUDGET_EXHAUSTED,
    RETRIES,
    RETRY_STATUSES,
    RetryBudget,
    RetryPolicy,
    may_repeat,
)
from gateway.edge.routes import Route
from gateway.edge.transport import (
    Busy,
    ConnectTimedOut,
    InstanceConnections,
    ReadTimedOut,
    Streaming,
    TransportError,
    Unreachable,
    Unsent,
)
from gateway.settings import Settings
from shared.discovery import Instance, ServiceNotFound
from shared.errors import BadGateway, GatewayTimeout, ProblemError, ServiceUnavailable
from shared.services import service_named

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
#: Request headers the gateway sets itself (``Expect``: the gateway has read the body already).
REPLACED_REQUEST_HEADERS = frozenset(
    {
        "host",
        "expect",
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
REPLACED_RESPONSE_HEADERS = frozenset({"content-length", "date", "server", "x-request-id"})

UPSTREAM_REQUESTS = Counter(
    "gateway_upstream_requests_total",
    "Requests forwarded to a service, by final outcome (status class or failure).",
    ["service", "outcome"],
)
UPSTREAM_DURATION = Histogram(
    "gateway_upstream_request_duration_seconds",
    "Time waiting for one instance to answer one attempt, by outcome.",
    ["service", "instance", "outcome"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)


@dataclass(frozen=True)
class UpstreamTimeouts:
    """Seconds to wait for a connection and for the answer."""

    connect: float = 1.0
    read: float = 10.0


#: Connection pools kept, one per instance the gateway has called; past it the oldest goes.
MAX_INSTANCE_POOLS = 64


class StreamedBody:
    """An answer's body, read from the service as the client takes it.

    Iterating yields what arrives; the connection goes back to the pool once the
    body has been read to its end. :meth:`close` (called by the WSGI server when
    the client goes away, or when the answer is not sent at all) closes a
    connection whose body was not read to its end, as it cannot carry another
    request. A service that breaks off mid-body raises here, so the client's
    connection is cut too instead of ending as if the body were complete.
    """

    def __init__(self, streaming: Streaming) -> None:
        self._streaming = streaming

    def __iter__(self) -> Iterator[bytes]:
        return iter(self._streaming)

    def close(self) -> None:
        """Give the connection back to the pool, closed first if its body was not all read."""
        self._streaming.close()


@dataclass(frozen=True)
class UpstreamResponse:
    """What a service answered, ready to be sent on: its body whole, or as it streams."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes | StreamedBody


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
    service: str, error: TransportError, read_timeout: float
) -> tuple[str, ProblemError]:
    """The outcome label and the problem a client gets for a failed forward."""
    if isinstance(error, Unreachable):
        return error.outcome, ServiceUnavailable(f"{service} is unreachable")
    if isinstance(error, Unsent):
        return error.outcome, ServiceUnavailable(f"{service} did not take the request")
    if isinstance(error, ConnectTimedOut):
        return error.outcome, ServiceUnavailable(f"{service} did not accept a connection in time")
    if isinstance(error, Busy):
        return error.outcome, ServiceUnavailable(f"{service} is too busy to take the request")
    if isinstance(error, ReadTimedOut):
        return error.outcome, GatewayTimeout(f"{service} did not answer within {read_timeout} s")
    return error.outcome, BadGateway(f"{service} sent a broken answer: {error}")


class UpstreamClient:
    """Pooled HTTP to the services' instances: balancing, breakers, timeouts, safe retries."""

    def __init__(
        self,
        *,
        timeouts: UpstreamTimeouts,
        route_timeouts: Mapping[str, UpstreamTimeouts] | None = None,
        pool_size: int = 32,
        max_in_flight: int | None = None,
        breaker_fail_max: int = 5,
        breaker_reset_seconds: float = 10.0,
        retry_policy: RetryPolicy | None = None,
        retry_budget_ratio: float = 0.2,
    ) -> None:
        self._route_timeouts = dict(route_timeouts or {})
        self._default_timeouts = timeouts
        self._pool_size = pool_size
        self._max_in_flight = max_in_flight
        # One pool per instance, found by its URL.
        self._pools: dict[str, InstanceConnections] = {}
        self.balancer = Balancer(fail_max=breaker_fail_max, reset_seconds=breaker_reset_seconds)
        self._policy = retry_policy or RetryPolicy()
        self._budget_ratio = retry_budget_ratio
        self._budgets: dict[str, RetryBudget] = {}

    @classmethod
    def from_settings(cls, settings: Settings) -> UpstreamClient:
        """The client the gateway's settings describe."""
        default = UpstreamTimeouts(
            connect=settings.upstream_connect_timeout_seconds,
            read=settings.upstream_read_timeout_seconds,
        )
        return cls(
            timeouts=default,
            route_timeouts={
                service_named(name).package: UpstreamTimeouts(
                    connect=route.connect or default.connect, read=route.read or default.read
                )
                for name, route in settings.upstream_route_timeouts.items()
            },
            pool_size=settings.upstream_pool_size,
            max_in_flight=settings.upstream_max_in_flight,
            breaker_fail_max=settings.upstream_breaker_fail_max,
            breaker_reset_seconds=settings.upstream_breaker_reset_seconds,
            retry_policy=RetryPolicy(
                max_attempts=settings.upstream_retry_attempts,
                backoff_base_seconds=settings.upstream_retry_backoff_base_seconds,
                backoff_max_seconds=settings.upstream_retry_backoff_max_seconds,
            ),
            retry_budget_ratio=settings.upstream_retry_budget_ratio,
        )

    def _budget(self, service: str) -> RetryBudget:
        budget = self._budgets.get(service)
        if budget is None:
            budget = self._budgets.setdefault(service, RetryBudget(ratio=self._budget_ratio))
        return budget

    def _pool_for(self, instance: Instance) -> InstanceConnections:
        """The connections of ``instance`` (made on first use; the oldest goes past 64)."""
        pool = self._pools.get(instance.url)
        if pool is None:
            if len(self._pools) >= MAX_INSTANCE_POOLS:
                self._pools.pop(next(iter(self._pools))).close()
            pool = self._pools.setdefault(
                instance.url,
                InstanceConnections(
                    instance.url, max_idle=self._pool_size, max_in_flight=self._max_in_flight
                ),
            )
        return pool

    def _send(
        self,
        lease: Lease,
        method: str,
        target: str,
        headers: dict[str, str],
        body: bytes,
        timeouts: UpstreamTimeouts,
    ) -> UpstreamResponse:
        instance = lease.instance
        started = time.perf_counter()
        outcome = "error"
        try:
            with self.balancer.outstanding(instance):
                exchange = self._pool_for(instance).call(
                    method,
                    target,
                    headers,
                    body,
                    connect_timeout=timeouts.connect,
                    read_timeout=timeouts.read,
                )
        except TransportError as error:
            lease.breaker.record_failure(trial=lease.trial)
            outcome = error.outcome
            raise
        except BaseException:
            lease.breaker.record_failure(trial=lease.trial)
            raise
        else:
            lease.breaker.record_success(trial=lease.trial)
            outcome = f"{exchange.status // 100}xx"
            streaming = exchange.streaming
            answer = exchange.body if streaming is None else StreamedBody(streaming)
            return UpstreamResponse(exchange.status, exchange.headers, answer)
        finally:
            UPSTREAM_DURATION.labels(instance.service, instance.id, outcome).observe(
                time.perf_counter() - started
            )

    def _again(
        self, service: str, instances: Sequence[Instance], tried: list[str], reason: str
    ) -> bool:
        """Whether to retry on another instance now (after the back-off, if so)."""
        if len(tried) >= self._policy.max_attempts:
            return False
        if all(instance.id in tried for instance in instances):
            return False
        if not self._budget(service).try_spend():
            BUDGET_EXHAUSTED.labels(service).inc()
            return False
        RETRIES.labels(service, reason).inc()
        time.sleep(self._policy.delay(len(tried)))
        return True

    def forward(
        self,
        service: str,
        instances: Sequence[Instance],
        method: str,
        target: str,
        headers: dict[str, str],
        body: bytes,
    ) -> UpstreamResponse:
        """Send one request (``target``: path and query) to an instance of ``service``.

        Transport failures raise problems; a failure is retried on another instance
        only where that is safe (:mod:`gateway.edge.retries`) and the budget allows.
        """
        if not instances:
            UPSTREAM_REQUESTS.labels(service, "no_instance").inc()
            raise ServiceNotFound(f"No instance of {service} is available")
        limits = self._route_timeouts.get(service, self._default_timeouts)
        self._budget(service).record_request()
        repeatable = may_repeat(method, headers)
        tried: list[str] = []
        outcome = "error"
        try:
            while True:
                try:
                    lease = self.balancer.acquire(instances, tried)
                except CircuitOpen as error:
                    outcome = "circuit_open"
                    raise ServiceUnavailable(
                        f"{service} is failing; requests to it are paused",
                        headers={"Retry-After": str(max(1, math.ceil(error.retry_after)))},
                    ) from None
                tried.append(lease.instance.id)
                try:
                    response = self._send(lease, method, target, headers, body, limits)
                except TransportError as error:
                    outcome, problem = transport_problem(service, error, limits.read)
                    if (repeatable or error.never_sent) and self._again(
                        service, instances, tried, outcome
                    ):
                        continue
                    raise problem from None
                outcome = f"{response.status // 100}xx"
                if (
                    response.status in RETRY_STATUSES
                    and repeatable
                    and self._again(service, instances, tried, str(response.status))
                ):
                    if isinstance(response.body, StreamedBody):
                        response.body.close()
                    continue
                return response
        finally:
            UPSTREAM_REQUESTS.labels(service, outcome).inc()
