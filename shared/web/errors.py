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


#: What a client is told of an error it did not cause: nothing about the failure.
UNEXPECTED_PROBLEM = {
    "type": "about:blank",
    "title": "Internal Server Error",
    "status": 500,
    "detail": "The server failed to handle this request; it has been logged.",
}


def problem_of(error: Exception) -> tuple[dict[str, Any], dict[str, str]]:
    """The problem document and headers answering ``error``; logs server-side failures.

    Shared by the Flask handlers below and by any WSGI path that answers without
    Flask (the gateway's forwarding path), so both answer an error alike.
    """
    if isinstance(error, ValidationError):
        error = ValidationFailed.from_pydantic(error)
    if isinstance(error, ProblemError):
        if error.status >= 500:
            logger.warning("upstream or dependency problem: %s", error.detail)
        return error.to_problem(), error.headers
    if isinstance(error, HTTPException):
        return _http_exception_problem(error)
    logger.exception("unhandled error", exc_info=error)
    return dict(UNEXPECTED_PROBLEM), {}


def register_error_handlers(app: Flask) -> None:
    """Answer every error, ours or Werkzeug's, as problem+json."""

    @app.errorhandler(ProblemError)
    @app.errorhandler(ValidationError)
    @app.errorhandler(HTTPException)
    @app.errorhandler(Exception)
    def handle_error(error: Exception) -> Response:
        problem, headers = problem_of(error)
        return problem_response(problem, headers)
