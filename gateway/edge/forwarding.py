"""The forwarding path: calls to routed services served as plain WSGI, in front of Flask.

Per forwarded call, Flask's request context, its dozen hooks and werkzeug's
``Response`` cost about as much as the guard itself (see README, "The gateway
next to a plain proxy"). :class:`ForwardingPath` wraps the Flask app and
answers the calls that make up the gateway's traffic itself, taking the same
steps the app's hooks take, in the same order, with the same code where there
is code to share:

1. the request id (the caller's if sane) and the access log's clock;
2. the guard: the bearer token (401), the rate limit named by the service's
   operation (429, ``RateLimit-*``), the operation itself (404/405), its scope
   (403), the body limit (413);
3. the forward (:class:`~gateway.edge.service.Forwarder`: balancer, breakers,
   retries; 502/503/504);
4. the answer: the service's headers but its ``Access-Control-*``, then
   ``Vary: Origin`` where CORS covers the path, ``RateLimit-*``, the security
   headers, ``Cache-Control: no-store``, ``X-Request-ID``; the request metrics
   and one access log line. Errors are problem+json through the same
   ``shared.web.errors.problem_of`` the app's handlers use.

Everything else goes to the Flask app untouched: the gateway's own endpoints,
``HEAD`` and ``OPTIONS`` (preflights), API keys and missing credentials,
chunked bodies, cross-origin calls when CORS is on, and paths Werkzeug would
read differently from the raw one (non-ASCII, doubled slashes, a bare trailing
slash). An answer whose shape Werkzeug adjusts (no body, ``Location``, a streamed
body, no ``Content-Type``) is built as the app's own response class, so it
leaves exactly as the app would send it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from flask import Flask
from werkzeug.datastructures import EnvironHeaders
from werkzeug.http import HTTP_STATUS_CODES
from werkzeug.wsgi import get_host, get_input_stream

from gateway.edge.limits import LimitState, limit_for
from gateway.edge.routes import Route, find_route
from gateway.edge.service import IncomingRequest
from gateway.edge.upstream import UpstreamResponse
from shared.auth import check_scope
from shared.contract import Contract
from shared.errors import PROBLEM_JSON
from shared.logs import current_request_id
from shared.web.app import REQUEST_ID_HEADER, log_access, request_id_for, security_headers
from shared.web.errors import problem_of
from shared.web.metrics import observe_request

if TYPE_CHECKING:
    from gateway.edge.api import Edge

StartResponse = Callable[..., Any]
WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]

#: Methods the forwarding path serves; HEAD and OPTIONS take Flask's own handling.
FORWARDED_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE"})
#: Status lines as werkzeug writes them.
STATUS_LINES = {code: f"{code} {reason.upper()}" for code, reason in HTTP_STATUS_CODES.items()}
#: Headers whose presence makes werkzeug rewrite an answer: built as its response then.
_ADJUSTED_HEADERS = frozenset({"location", "content-location", "vary"})


def incoming_request(
    environ: dict[str, Any], path: str, request_id: str, body: bytes
) -> IncomingRequest:
    """What a WSGI request carries that forwarding needs (``path`` as the guard matched it)."""
    headers = EnvironHeaders(environ)
    # Behind trusted proxies REMOTE_ADDR is already the client taken from the chain;
    # appending it again would name the client twice and drop the proxy.
    original = environ.get("werkzeug.proxy_fix.orig", {})
    return IncomingRequest(
        method=environ["REQUEST_METHOD"],
        path=path,
        query_string=environ.get("QUERY_STRING", "").encode("latin-1"),
        headers=headers.items(),
        body=body,
        request_id=request_id,
        peer_address=str(original.get("REMOTE_ADDR") or environ.get("REMOTE_ADDR") or ""),
        # From the environ: werkzeug's ``get`` raises and catches an error for a missing header.
        forwarded_for=environ.get("HTTP_X_FORWARDED_FOR"),
        scheme=environ["wsgi.url_scheme"],
        host=get_host(environ),
    )


def relayed_headers(upstream: UpstreamResponse) -> list[tuple[str, str]]:
    """The service's answer headers the client gets: all but its own ``Access-Control-*``.

    CORS is the gateway's to answer, for the origins it is configured with; a
    service's own Access-Control-* headers would override that choice.
    """
    return [
        (name, value)
        for name, value in upstream.headers
        if not name.lower().startswith("access-control-")
    ]


def _may_match_below(contract: Contract, prefix: str) -> bool:
    """Whether an operation of ``contract`` could match a path at or under ``prefix``."""
    for operation in contract.operations:
        literal, templated, _ = operation.path.partition("{")
        if literal == prefix or literal.startswith(prefix + "/"):
            return True
        # Only a template can reach below its literal start ("/{page}" could be anything).
        if templated and prefix.startswith(literal):
            return True
    return False


class ForwardingPath:
    """WSGI middleware: serves routed calls itself (module docstring), the rest through ``app``."""

    def __init__(self, app: Flask, edge: Edge, *, service: str) -> None:
        self._app = app
        #: The Flask app's own handling: every call this path does not serve goes there.
        self.fallback: WsgiApp = app.wsgi_app
        self._edge = edge
        self._service = service
        self._max_body_bytes: int | None = app.config["MAX_CONTENT_LENGTH"]
        # Prefixes where one of the gateway's own operations might match: checked per call.
        self._shared_prefixes = frozenset(
            route.prefix for route in edge.routes if _may_match_below(edge.contract, route.prefix)
        )

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        found = self._routed(environ)
        if found is None:
            return self.fallback(environ, start_response)
        route, rule, path = found
        return self._serve(environ, start_response, route, rule, path)

    def _routed(self, environ: dict[str, Any]) -> tuple[Route, str, str] | None:
        """The route, URL rule and path of a call this path serves; None for Flask's calls."""
        method = environ["REQUEST_METHOD"]
        if method not in FORWARDED_METHODS:
            return None
        path: str = environ.get("PATH_INFO") or ""
        if environ.get("SCRIPT_NAME") or not path.isascii() or path[:1] != "/" or "//" in path:
            return None
        route = find_route(self._edge.routes, path)
        if route is None:
            return None
        rest = path[len(route.prefix) :]
        if not rest:
            rule = route.prefix
        elif len(rest) > 1:
            rule = f"{route.prefix}/<path:rest>"
        else:
            return None  # a bare trailing slash matches no rule: Flask's 404
        if route.prefix in self._shared_prefixes and self._edge.contract.match(method, path):
            return None
        if self._edge.cors.enabled and "HTTP_ORIGIN" in environ:
            return None
        if "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower():
            return None
        scheme, _, credential = environ.get("HTTP_AUTHORIZATION", "").strip().partition(" ")
        if scheme.lower() != "bearer" or not credential.strip():
            return None
        return route, rule, path

    def _serve(
        self,
        environ: dict[str, Any],
        start_response: StartResponse,
        route: Route,
        rule: str,
        path: str,
    ) -> Iterable[bytes]:
        started = time.perf_counter()
        request_id = request_id_for(environ.get("HTTP_X_REQUEST_ID", ""))
        bound = current_request_id.set(request_id)
        method = environ["REQUEST_METHOD"]
        state: LimitState | None = None
        status: int
        headers: list[tuple[str, str]]
        body: Any
        try:
            try:
                edge = self._edge
                authentication = edge.authenticator.authenticate(EnvironHeaders(environ))
                principal = authentication.principal
                operation = route.declared_operation(method, path)
                state = edge.limiter.hit(limit_for(operation), f"principal:{principal.subject}")
                if operation is None:
                    operation = route.operation(method, path)  # raises the 404 or 405
                check_scope(principal, operation.scope)
                limit = operation.max_body_bytes or self._max_body_bytes
                data = get_input_stream(environ, max_content_length=limit).read()
                upstream = edge.forwarder.forward(
                    route,
                    incoming_request(environ, path, request_id, data),
                    authentication.bearer_token,
                )
                status, headers, body = upstream.status, relayed_headers(upstream), upstream.body
            except Exception as error:
                problem, extra = problem_of(error)
                status, body = int(problem["status"]), self._app.json.dumps(problem).encode()
                headers = [("Content-Type", PROBLEM_JSON), *extra.items()]
            finished = self._finish(environ, status, headers, body, state, request_id, path)
            self._observe(rule, method, status, started, path, environ)
        finally:
            current_request_id.reset(bound)
        return finished(start_response)

    def _finish(
        self,
        environ: dict[str, Any],
        status: int,
        headers: list[tuple[str, str]],
        body: Any,
        state: LimitState | None,
        request_id: str,
        path: str,
    ) -> Callable[[StartResponse], Iterable[bytes]]:
        """The answer, with the headers the app's ``after_request`` hooks add, ready to send."""
        added: list[tuple[str, str]] = [*state.headers().items()] if state is not None else []
        # The call carried credentials (a bearer token): no cache keeps the answer.
        secure = environ["wsgi.url_scheme"] in ("https", "wss")
        added.extend(security_headers(secure=secure, credentialed=True))
        covered = self._edge.cors.enabled and self._edge.cors.covers(path)
        names = {name.lower() for name, _ in headers}
        if (
            isinstance(body, bytes)
            and status >= 200
            and status not in (204, 304)
            and "content-type" in names
            and not names & _ADJUSTED_HEADERS
        ):
            headers.append(("Content-Length", str(len(body))))
            if covered:
                headers.append(("Vary", "Origin"))
            headers.extend((name, value) for name, value in added if name.lower() not in names)
            headers.append((REQUEST_ID_HEADER, request_id))
            line = STATUS_LINES.get(status) or f"{status} UNKNOWN"

            def send(start_response: StartResponse) -> Iterable[bytes]:
                start_response(line, headers)
                return [body]

            return send
        response = self._app.response_class(body, status=status, headers=headers)
        if covered:
            response.vary.add("Origin")
        for name, value in added:
            response.headers.setdefault(name, value)
        response.headers[REQUEST_ID_HEADER] = request_id
        return lambda start_response: response(environ, start_response)

    def _observe(
        self,
        rule: str,
        method: str,
        status: int,
        started: float,
        path: str,
        environ: dict[str, Any],
    ) -> None:
        """The request metrics and the access log line, as ``shared.web`` records them."""
        elapsed = time.perf_counter() - started
        observe_request(self._service, rule, method, status, elapsed)
        log_access(method, path, status, elapsed, environ.get("REMOTE_ADDR"))
