"""Errors a client may cause: plain exceptions, each with an RFC 9457 problem type and status.

The hierarchy and the status each maps to::

    ProblemError                 base of every error a client may cause
    ├── BadRequest               400  malformed JSON, bad cursor, bad header
    ├── Unauthorized             401  missing, malformed, expired or forged token
    ├── Forbidden                403  valid token, role or scope not enough
    ├── NotFound                 404  no such resource
    ├── Conflict                 409  unique value taken, state does not allow it
    ├── PreconditionFailed       412  ``If-Match`` names a stale version
    ├── ContentTooLarge          413  body over the limit (chunked; Content-Length is Werkzeug's)
    ├── UnsupportedMediaType     415  body is not ``application/json``
    ├── ValidationFailed         422  fields break their rules (lists each field)
    ├── PreconditionRequired     428  ``If-Match`` missing where it is required
    ├── TooManyRequests          429  rate limit hit (``Retry-After`` set)
    ├── BadGateway               502  upstream answered with garbage or refused
    ├── ServiceUnavailable       503  upstream or a dependency is down
    └── GatewayTimeout           504  upstream did not answer in time

Services subclass these with their own names (``CustomerNotFound(NotFound)``)
and raise them from the service layer, which knows no web framework: nothing
here imports one. ``shared.web.errors.register_error_handlers`` renders any of
them as ``application/problem+json``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from pydantic import ValidationError

PROBLEM_JSON = "application/problem+json"
PROBLEM_TYPE_BASE = "urn:clientele:problem:"


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


class ContentTooLarge(ProblemError):
    status, title, slug = 413, "Content Too Large", "content-too-large"


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
