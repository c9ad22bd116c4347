"""Prometheus request metrics for every service (counted here, served apart from the API).

Under gunicorn each worker is its own process, so when
``PROMETHEUS_MULTIPROC_DIR`` is set every worker writes its samples to that
folder and the master serves them all on ``METRICS_BIND``
(``shared.gunicorn_conf``); the API's listener has no ``/metrics``.
:func:`metrics_payload` reads the same samples in-process.
"""

from __future__ import annotations

import os
import time

from flask import Flask, Response, g, request
from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.multiprocess import MultiProcessCollector

LABELS = ("service", "route", "method", "status")

HTTP_REQUESTS = Counter("http_requests_total", "HTTP requests served.", LABELS)
HTTP_REQUEST_DURATION = Histogram(
    "http_request_duration_seconds",
    "Time to serve an HTTP request, from first byte read to response built.",
    LABELS,
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)


#: Methods counted by name; anything else a client invents is ``other``, so random
#: method names cannot add series (and memory, and scrape time) without bound.
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def method_label(method: str) -> str:
    """The ``method`` label: the method if it is a standard one, else ``other``."""
    return method if method in KNOWN_METHODS else "other"


def _route_template() -> str:
    # The rule, not the path: one series per route, however many ids exist.
    return request.url_rule.rule if request.url_rule is not None else "unmatched"


def metrics_payload() -> bytes:
    """Every metric of this process, or of all workers in multiprocess mode."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry)
    return generate_latest(REGISTRY)


#: The two metrics' children per label set: ``labels()`` looks them up under a lock on
#: every call, which a hot path pays for each request.
_CHILDREN: dict[tuple[str, str, str, str], tuple[Counter, Histogram]] = {}


def observe_request(service: str, route: str, method: str, status: int, seconds: float) -> None:
    """Count one request served by ``route`` (the rule, not the path) and time it."""
    labels = (service, route, method_label(method), str(status))
    children = _CHILDREN.get(labels)
    if children is None:
        children = _CHILDREN.setdefault(
            labels, (HTTP_REQUESTS.labels(*labels), HTTP_REQUEST_DURATION.labels(*labels))
        )
    children[0].inc()
    children[1].observe(seconds)


def register_metrics(app: Flask, service: str) -> None:
    """Count and time every request (served apart from the API: ``shared.gunicorn_conf``)."""

    @app.before_request
    def start_timer() -> None:
        g.request_started = time.perf_counter()

    @app.after_request
    def observe(response: Response) -> Response:
        started = g.get("request_started")
        if started is not None:
            observe_request(
                service,
                _route_template(),
                request.method,
                response.status_code,
                time.perf_counter() - started,
            )
        return response
