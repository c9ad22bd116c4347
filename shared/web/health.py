"""``/healthz`` (the process is alive) and ``/readyz`` (its dependencies answer)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping

from flask import Flask, Response, jsonify
from prometheus_client import Gauge

from shared.errors import PROBLEM_TYPE_BASE
from shared.web.errors import problem_response

#: A readiness check raises when its dependency cannot be reached; it may return a
#: string saying how it still works though degraded (``/readyz`` shows
#: ``degraded: <it>`` and stays ready). Any other return value means "ok".
HealthCheck = Callable[[], object]
#: How ``/readyz`` reports a check that passed degraded.
DEGRADED = "degraded: "

logger = logging.getLogger(__name__)


def run_checks(checks: Mapping[str, HealthCheck]) -> dict[str, str]:
    """Run every check; map each name to ``"ok"``, ``"degraded: ..."`` or why it failed."""
    results: dict[str, str] = {}
    for name, check in checks.items():
        try:
            note = check()
        except Exception as error:  # any failure means "not ready", whatever its kind
            results[name] = f"unreachable: {type(error).__name__}: {error}".strip()
        else:
            results[name] = DEGRADED + note if isinstance(note, str) and note else "ok"
    return results


#: What the last ``/readyz`` said, so an alert sees a web process that is up but not ready
#: (probes call it: Kubernetes, compose's healthcheck). The lowest over the live workers.
READY = Gauge(
    "service_ready",
    "1 if the last /readyz found every dependency answering, 0 if not",
    ["service"],
    multiprocess_mode="livemin",
)


def passed(result: str) -> bool:
    """Whether a check's result leaves the process ready."""
    return result == "ok" or result.startswith(DEGRADED)


def register_health(app: Flask, service: str, checks: Mapping[str, HealthCheck]) -> None:
    """Serve liveness and readiness for ``service``."""

    @app.get("/healthz")
    def healthz() -> Response:
        return jsonify(status="ok", service=service)

    @app.get("/readyz")
    def readyz() -> Response:
        results = run_checks(checks)
        failing = sorted(name for name, result in results.items() if not passed(result))
        READY.labels(service).set(not failing)
        if not failing:
            return jsonify(status="ready", service=service, checks=results)
        logger.warning("not ready: %s", results)
        return problem_response(
            {
                "type": PROBLEM_TYPE_BASE + "not-ready",
                "title": "Service Unavailable",
                "status": 503,
                "detail": f"{service} is not ready: {', '.join(failing)} unreachable",
                "checks": results,
            },
            {"Retry-After": "5"},
        )
