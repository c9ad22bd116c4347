"""Every error a Flask app meets, answered as RFC 9457 ``application/problem+json``.

:func:`register_error_handlers` renders each ``shared.errors.ProblemError``
(with its headers), each pydantic ``ValidationError`` that escapes a view (422)
and each Werkzeug HTTP error (404, 405 with ``Allow``, 413, ...). Anything else
is logged with its traceback and answered with a bare 500 problem that tells
the client nothing about the failure.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from flask import Flask, Response, json
from pydantic import ValidationError
from werkzeug.exceptions import HTTPException

from shared.errors import PROBLEM_JSON, ProblemError, ValidationFailed

logger = logging.getLogger(__name__)


def problem_response(
    problem: Mapping[str, Any], headers: Mapping[str, str] | None = None
) -> Response:
    """A ``Response`` carrying a problem document."""
    response = Response(json.dumps(problem), status=int(problem["status"]), mimetype=PROBLEM_JSON)
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def _http_exception_problem(error: HTTPException) -> tuple[dict[str, Any], dict[str, str]]:
    status = error.code or 500
    problem = {
        "type": "about:blank",
        "title": error.name,
        "status": status,
        "detail": error.description or error.name,
    }
    headers: dict[str, str] = {}
    if status == 405 and error.valid_methods:  # type: ignore[attr-defined]
        headers["Allow"] = ", ".join(error.valid_methods)  # type: ignore[attr-defined]
    return problem, headers


def register_error_handlers(app: Flask) -> None:
    """Answer every error, ours or Werkzeug's, as problem+json."""

    @app.errorhandler(ProblemError)
    def handle_problem(error: ProblemError) -> Response:
        if error.status >= 500:
            logger.warning("upstream or dependency problem: %s", error.detail)
        return problem_response(error.to_problem(), error.headers)

    @app.errorhandler(ValidationError)
    def handle_validation(error: ValidationError) -> Response:
        return handle_problem(ValidationFailed.from_pydantic(error))

    @app.errorhandler(HTTPException)
    def handle_http(error: HTTPException) -> Response:
        problem, headers = _http_exception_problem(error)
        return problem_response(problem, headers)

    @app.errorhandler(Exception)
    def handle_unexpected(error: Exception) -> Response:
        logger.exception("unhandled error")
        return problem_response(
            {
                "type": "about:blank",
                "title": "Internal Server Error",
                "status": 500,
                "detail": "The server failed to handle this request; it has been logged.",
            }
        )
