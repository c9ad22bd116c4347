"""Errors as RFC 9457 ``application/problem+json``, rendered by one handler.

The hierarchy and the status each maps to::

    ProblemError                 base of every error a client may cause
    ├── BadRequest               400  malformed JSON, bad cursor, bad header
    ├── Unauthorized             401  missing, malformed, expired or forged token
    ├── Forbidden                403  valid token, role or scope not enough
    ├── NotFound                 404  no such resource
    ├── Conflict                 409  unique value taken, state does not allow it
    ├── PreconditionFailed       412  ``If-Match`` names a stale version
    ├── UnsupportedMediaType     415  body is not ``application/json``
    ├── ValidationFailed         422  fields break their rules (lists each field)
    ├── PreconditionRequired     428  ``If-Match`` missing where it is required
    ├── TooManyRequests          429  rate limit hit (``Retry-After`` set)
    ├── BadGateway               502  upstream answered with garbage or refused
    ├── ServiceUnavailable       503  upstream or a dependency is down
    └── GatewayTimeout           504  upstream did not answer in time

Services subclass these with their own names (``CustomerNotFound(NotFound)``)
and raise them from the service layer; :func:`register_error_handlers` turns
any of them, and any Werkzeug HTTP error, into problem+json. Anything else is
logged with its traceback and answered with a bare 500 problem.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from flask import Flask, Response, json
from pydantic import ValidationError
from werkzeug.exceptions import HTTPException

PROBLEM_JSON = "application/problem+json"
PROBLEM_TYPE_BASE = "urn:clientele:problem:"

logger = logging.getLogger(__name__)


class ProblemError(Exception):
    """An error a client caused or should know about, with its HTTP status."""

    status: ClassVar[int] = 500
    title: ClassVar[str] = "Internal Server Error"
    #: Short slug; the problem ``type`` is ``urn:clientele:problem:<slug>``.
    slug: ClassVar[str] = "internal-error"

    def __init__(
        self,
        detail: str | None = None,
        *,
        headers: Mapping[str, str] | None = None,
        **extensions: Any,
    ) -> None:
        super().__init__(detail or self.title)
        self.detail = detail or self.title
        self.headers = dict(headers or {})
        self.extensions = extensions

    def to_problem(self) -> dict[str, Any]:
        """The problem document for this error, without ``instance``."""
        return {
            "type": PROBLEM_TYPE_BASE + self.slug,
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
            **self.extensions,
        }


class BadRequest(ProblemError):
    status, title, slug = 400, "Bad Request", "bad-request"


class Unauthorized(ProblemError):
    status, title, slug = 401, "Unauthorized", "unauthorized"

    def __init__(self, detail: str | None = None, **kwargs: Any) -> None:
        kwargs.setdefault("headers", {"WWW-Authenticate": 'Bearer realm="clientele"'})
        super().__init__(detail, **kwargs)


class Forbidden(ProblemError):
    status, title, slug = 403, "Forbidden", "forbidden"


class NotFound(ProblemError):
    status, title, slug = 404, "Not Found", "not-found"


class Conflict(ProblemError):
    status, title, slug = 409, "Conflict", "conflict"


class PreconditionFailed(ProblemError):
    status, title, slug = 412, "Precondition Failed", "precondition-failed"


class UnsupportedMediaType(ProblemError):
    status, title, slug = 415, "Unsupported Media Type", "unsupported-media-type"


class ValidationFailed(ProblemError):
    """422 listing each bad field as ``{"field", "message", "code"}``."""

    status, title, slug = 422, "Validation Failed", "validation-failed"

    def __init__(self, errors: Sequence[Mapping[str, str]], detail: str | None = None) -> None:
        fields = ", ".join(sorted({error["field"] for error in errors}))
        super().__init__(detail or f"Invalid fields: {fields}", errors=list(errors))

    @classmethod
    def from_pydantic(cls, error: ValidationError, *, prefix: str = "") -> ValidationFailed:
        """Name each field pydantic rejected, with its message."""
        return cls([field_error(entry, prefix) for entry in error.errors()])


class PreconditionRequired(ProblemError):
    status, title, slug = 428, "Precondition Required", "precondition-required"


class TooManyRequests(ProblemError):
    status, title, slug = 429, "Too Many Requests", "rate-limited"


class BadGateway(ProblemError):
    status, title, slug = 502, "Bad Gateway", "bad-gateway"


class ServiceUnavailable(ProblemError):
    status, title, slug = 503, "Service Unavailable", "service-unavailable"


class GatewayTimeout(ProblemError):
    status, title, slug = 504, "Gateway Timeout", "gateway-timeout"


def field_error(entry: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """One pydantic error entry as ``{"field", "message", "code"}``."""
    location = [str(part) for part in entry.get("loc", ()) if part != "__root__"]
    field = ".".join(location) or "body"
    if prefix:
        field = f"{prefix}.{field}" if location else prefix
    code = str(entry.get("type", "invalid"))
    message = "unknown field" if code == "extra_forbidden" else str(entry.get("msg", "invalid"))
    return {"field": field, "message": message, "code": code}


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
