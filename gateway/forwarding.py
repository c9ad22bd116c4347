"""The public routes the gateway forwards: authenticate, limit, authorise, send on."""

from __future__ import annotations

from collections.abc import Callable

from flask import Flask, Response, g, request

from gateway.proxy import (
    UpstreamClient,
    forwardable_request_headers,
    forwardable_response_headers,
)
from gateway.rate_limits import RateLimiter, enforce
from gateway.routes import Route
from shared.auth import Principal
from shared.discovery import Discovery
from shared.errors import Forbidden, ProblemError

#: Authenticates the current request: the principal and the bearer token to send on.
Authenticator = Callable[[], tuple[Principal, str]]

ALL_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"]


class MethodNotAllowedHere(ProblemError):
    """No rule of the route allows this method on this path."""

    status, title, slug = 405, "Method Not Allowed", "method-not-allowed"


def forward(
    route: Route,
    *,
    authenticate: Authenticator,
    limiter: RateLimiter,
    discovery: Discovery,
    client: UpstreamClient,
) -> Response:
    """Send the current request to ``route``'s service and relay its answer."""
    principal, bearer = authenticate()
    g.principal = principal
    enforce(limiter, "api", f"principal:{principal.subject}")
    scope = route.required_scope(request.method, request.path)
    if scope is None:
        raise MethodNotAllowedHere(f"{request.method} is not allowed on {request.path}")
    if not principal.has_scope(scope):
        raise Forbidden(f"Role {principal.role!r} lacks scope {scope!r}")

    base_url = discovery.resolve(route.service)
    url = base_url + route.upstream_path(request.path)
    if request.query_string:
        url += "?" + request.query_string.decode("latin-1")
    headers = forwardable_request_headers(request.headers.items())
    headers["Authorization"] = f"Bearer {bearer}"
    headers["X-Request-ID"] = g.request_id
    forwarded_for = request.headers.get("X-Forwarded-For")
    client_address = request.remote_addr or ""
    headers["X-Forwarded-For"] = (
        f"{forwarded_for}, {client_address}" if forwarded_for else client_address
    )
    headers["X-Forwarded-Proto"] = request.scheme
    headers["X-Forwarded-Host"] = request.host
    headers["X-Forwarded-Prefix"] = route.prefix[: -len(route.upstream_prefix)] or "/"

    upstream = client.forward(route.service, request.method, url, headers, request.get_data())
    return Response(
        upstream.body,
        status=upstream.status,
        headers=forwardable_response_headers(upstream.headers, route),
    )


def register_forwarding(
    app: Flask,
    routes: tuple[Route, ...],
    *,
    authenticate: Authenticator,
    limiter: RateLimiter,
    discovery: Discovery,
    client: UpstreamClient,
) -> None:
    """Serve every route's prefix, and everything under it, by forwarding."""
    for route in routes:

        def view(route: Route = route, **_path: str) -> Response:
            return forward(
                route,
                authenticate=authenticate,
                limiter=limiter,
                discovery=discovery,
                client=client,
            )

        endpoint = f"forward_{route.service}"
        app.add_url_rule(route.prefix, endpoint, view, methods=ALL_METHODS)
        app.add_url_rule(f"{route.prefix}/<path:rest>", endpoint, view, methods=ALL_METHODS)
