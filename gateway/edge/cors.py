"""CORS: which browser front ends on other origins may call the API, with ``flask-cors``.

Only the origins in ``CORS_ORIGINS`` (exact ``scheme://host[:port]``, none by
default: no CORS header at all) get ``Access-Control-Allow-Origin``, and only on
what a front end calls: ``/api/v1/*`` and the JWKS. Tokens travel in headers,
never in cookies, so credentials are not allowed (no
``Access-Control-Allow-Credentials``): a page on an allowed origin still needs
a token to do anything.

A preflight (``OPTIONS`` with ``Origin`` and ``Access-Control-Request-Method``)
carries no token by design. The edge guard lets one from an allowed origin
through unauthenticated, counted against the ``public`` limit per client
address, when the gateway serves the method it asks about; it is answered here
(Flask's automatic ``OPTIONS`` plus these headers), never forwarded.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from flask import Flask, Response, request
from flask_cors import CORS
from werkzeug.datastructures import Headers

#: The paths a front end calls: the API and the keys that verify its tokens.
CORS_PATHS = re.compile(r"/api/v1/|/\.well-known/jwks\.json\Z")
#: Methods a front end may use (the edge forwards these; ``OPTIONS`` is the preflight itself).
CORS_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")
#: Request headers clients send: credentials, bodies, conditional and idempotent writes.
ALLOWED_REQUEST_HEADERS = (
    "Authorization",
    "Content-Type",
    "If-Match",
    "If-None-Match",
    "Idempotency-Key",
    "X-API-Key",
    "X-Request-ID",
)
#: Response headers clients read beyond the CORS-safelisted ones (a browser hides the rest).
EXPOSED_RESPONSE_HEADERS = (
    "ETag",
    "Location",
    "Link",
    "Retry-After",
    "RateLimit-Limit",
    "RateLimit-Remaining",
    "RateLimit-Reset",
    "X-Request-ID",
    "Idempotent-Replayed",
)


def _exactly(origin: str) -> re.Pattern[str]:
    # flask-cors reads a string holding "[" (an IPv6 origin) or "*" as a regular
    # expression; an escaped, anchored pattern matches that one origin and no other.
    return re.compile(re.escape(origin) + r"\Z", re.IGNORECASE)


@dataclass(frozen=True)
class CorsPolicy:
    """The origins allowed to call the API from a browser; none: CORS is off."""

    #: Serialized origins as browsers send them (``gateway.settings.web_origin``).
    origins: tuple[str, ...] = ()
    #: How long a browser may reuse a preflight's answer.
    max_age_seconds: int = 600

    @property
    def enabled(self) -> bool:
        """Whether any origin is allowed."""
        return bool(self.origins)

    def covers(self, path: str) -> bool:
        """Whether ``path`` is one a front end may call across origins."""
        return CORS_PATHS.match(path) is not None

    def allows(self, origin: str | None) -> bool:
        """Whether ``origin`` (the request's ``Origin`` header) is an allowed one."""
        return origin is not None and origin.lower() in self.origins

    def preflight_method(self, method: str, path: str, headers: Headers) -> str | None:
        """The method an allowed origin's preflight asks about; ``None`` if this is no such one."""
        if method != "OPTIONS" or not self.covers(path) or not self.allows(headers.get("Origin")):
            return None
        requested = headers.get("Access-Control-Request-Method", "").strip().upper()
        return requested if requested in CORS_METHODS else None


def install_cors(app: Flask, policy: CorsPolicy) -> None:
    """Answer allowed origins with CORS headers on the covered paths; nothing when CORS is off."""
    if not policy.enabled:
        return
    CORS(
        app,
        resources=[CORS_PATHS],
        origins=[_exactly(origin) for origin in policy.origins],
        methods=list(CORS_METHODS),
        allow_headers=list(ALLOWED_REQUEST_HEADERS),
        expose_headers=list(EXPOSED_RESPONSE_HEADERS),
        supports_credentials=False,
        max_age=policy.max_age_seconds,
        # Without an Origin header, flask-cors would list every allowed origin.
        always_send=False,
        # Vary is set below on every covered answer, not only on allowed origins' ones.
        vary_header=False,
        # Error answers pass through after_request already; no need to wrap Flask's handlers.
        intercept_exceptions=False,
    )

    @app.after_request
    def vary_by_origin(response: Response) -> Response:
        # The answer differs by Origin (allowed or not): a cache (the JWKS is public for
        # a minute) must not hand one origin's answer to another.
        if policy.covers(request.path):
            response.vary.add("Origin")
        return response
