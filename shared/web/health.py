"""``/healthz`` (the process is alive) and ``/readyz`` (its dependencies answer)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping

from flask import Flask, Response, jsonify

from shared.errors import PROBLEM_TYPE_BASE
from shared.web.errors import problem_response

#: A readiness check raises when its dependency cannot be reached.
HealthCheck = Callable[[], None]

logger = logging.getLogger(__name__)


def run_checks(checks: Mapping[str, HealthCheck]) -> dict[str, str]:
    """Run every check; map each name to ``"ok"`` or the reason it failed."""
    results: dict[str, str] = {}
    for name, check in checks.items():
        try:
            check()
        except Exception as error:  # any failure means "not ready", whatever its kind
            results[name] = f"unreachable: {type(error).__name__}: {error}".strip()
        else:
            results[name] = "ok"
    return results


def register_health(app: Flask, service: str, checks: Mapping[str, HealthCheck]) -> None:
    """Serve liveness and readiness for ``service``."""

    @app.get("/healthz")
    def healthz() -> Response:
        return jsonify(status="ok", service=service)

    @app.get("/readyz")
    def readyz() -> Response:
        results = run_checks(checks)
        failing = sorted(name for name, result in results.items() if result != "ok")
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
