"""The Flask skeleton every service starts from.

:func:`create_service_app` wires, in order: JSON logging, the request id,
the body size limit, problem+json errors, metrics, health and the contract
(``shared.contract``) served at ``/openapi.json``. A service's ``create_app``
calls it, then installs authentication and adds its own API.

The body size limit is ``MAX_BODY_BYTES`` for every request but those to an
operation whose contract entry sets ``x-max-body-bytes``, which get that limit
instead (:func:`install_body_limit`).
"""

from __future__ import annotations

import io
import logging
import re
import time
import uuid
from collections.abc import Callable, Mapping

import flask_restful
from flask import Flask, Response, current_app, g, jsonify, request

from shared.contract import Contract, Operation
from shared.errors import BadRequest, ContentTooLarge
from shared.logs import configure_logging, current_request_id
from shared.settings import ServiceSettings
from shared.web.errors import register_error_handlers
from shared.web.health import HealthCheck, register_health
from shared.web.metrics import register_metrics

REQUEST_ID_HEADER = "X-Request-ID"
_SAFE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
#: Paths every service serves for operators; each contract declares them public (`security: []`).
OPERATIONAL_PATHS = ("/healthz", "/readyz", "/openapi.json")

access_log = logging.getLogger("clientele.access")


def request_id_for(incoming: str) -> str:
    """The id of a request: the caller's ``X-Request-ID`` if it is sane, else a new one."""
    return incoming if _SAFE_REQUEST_ID.fullmatch(incoming) else uuid.uuid4().hex


def log_access(
    method: str, path: str, status: int, seconds: float, remote_addr: str | None
) -> None:
    """The one access log line of a request."""
    access_log.info(
        "request",
        extra={
            "method": method,
            "path": path,
            "status": status,
            "duration_ms": round(seconds * 1000, 2),
            "remote_addr": remote_addr,
        },
    )


#: Finds the contract operation serving ``method path``, if any (:meth:`Contract.match`).
OperationFinder = Callable[[str, str], Operation | None]


def install_body_limit(
    app: Flask, max_bytes: int, find_operation: OperationFinder | None = None
) -> None:
    """Refuse bodies over ``max_bytes``, or over their operation's ``x-max-body-bytes``: 413.

    The operation's limit is set on the request (Flask's per-request
    ``max_content_length``) by a hook registered ahead of the chunked-body
    reader, so both framings are held to it: Werkzeug refuses a ``Content-Length``
    over it before reading, and :func:`install_chunked_body_limit` reads against it.
    """
    app.config["MAX_CONTENT_LENGTH"] = max_bytes
    if find_operation is not None:

        @app.before_request
        def apply_operation_body_limit() -> None:
            operation = find_operation(request.method, request.path)
            if operation is not None and operation.max_body_bytes is not None:
                request.max_content_length = operation.max_body_bytes

    install_chunked_body_limit(app)


def install_chunked_body_limit(app: Flask) -> None:
    """Read a chunked body whole, up to its limit: 413 beyond, 400 if its framing is broken.

    The limit is ``MAX_CONTENT_LENGTH``, or the one :func:`install_body_limit`
    set for the request's operation when that is smaller: a chunked body is read
    here, before authentication, so a larger limit (an upload) is only for a
    body that announces its length, which is refused unread. A body with
    ``Content-Length`` is refused by Werkzeug before it is read. A chunked one
    announces no length, and reading it through that limit stops silently at
    it, so the view would get the body cut short; a malformed chunk size
    surfaced as a 500. Here the body is read once, one byte past the limit, and
    handed on with its length.
    """

    @app.before_request
    def read_chunked_body() -> None:
        environ = request.environ
        if "chunked" not in environ.get("HTTP_TRANSFER_ENCODING", "").lower():
            return
        # Never past the app's own limit: a chunked body is read before authentication, so
        # an upload operation's larger limit is for bodies that announce their length.
        max_bytes = min(
            filter(None, (request.max_content_length, current_app.config["MAX_CONTENT_LENGTH"])),
            default=None,
        )
        try:
            body = environ["wsgi.input"].read(-1 if max_bytes is None else max_bytes + 1)
        except Exception:  # whatever the server's chunk parser raises, the framing is broken
            raise BadRequest("Malformed chunked request body") from None
        if max_bytes is not None and len(body) > max_bytes:
            raise ContentTooLarge(f"Request body is over the limit of {max_bytes} bytes")
        environ["wsgi.input"] = io.BytesIO(body)
        environ["CONTENT_LENGTH"] = str(len(body))


#: Sent on every answer: an API's responses are data, never a page to frame, sniff or run.
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
    "X-Frame-Options": "DENY",
}
#: Sent when the request came over TLS (directly, or as a trusted proxy says).
HSTS = "max-age=31536000; includeSubDomains"


def security_headers(*, secure: bool, credentialed: bool) -> list[tuple[str, str]]:
    """The headers every answer carries unless it set them itself.

    HSTS over TLS; an answer to a caller with credentials is theirs alone, so no
    cache keeps it, unless the endpoint chose its caching itself (the public JWKS).
    """
    headers = list(SECURITY_HEADERS.items())
    if secure:
        headers.append(("Strict-Transport-Security", HSTS))
    if credentialed:
        headers.append(("Cache-Control", "no-store"))
    return headers


def install_security_headers(app: Flask) -> None:
    """Security headers on every response; ``no-store`` on every answer to credentials."""

    @app.after_request
    def add_security_headers(response: Response) -> Response:
        credentialed = "Authorization" in request.headers or "X-API-Key" in request.headers
        for name, value in security_headers(secure=request.is_secure, credentialed=credentialed):
            response.headers.setdefault(name, value)
        return response


def install_request_context(app: Flask) -> None:
    """Give every request an id (kept from the caller if sane) and log it once."""

    @app.before_request
    def bind_request_id() -> None:
        request_id = request_id_for(request.headers.get(REQUEST_ID_HEADER, ""))
        g.request_id = request_id
        g.request_id_token = current_request_id.set(request_id)
        g.access_started = time.perf_counter()

    @app.after_request
    def echo_request_id(response: Response) -> Response:
        request_id = g.get("request_id")
        if request_id:
            response.headers[REQUEST_ID_HEADER] = request_id
            log_access(
                request.method,
                request.path,
                response.status_code,
                time.perf_counter() - g.get("access_started", time.perf_counter()),
                request.remote_addr,
            )
        return response

    @app.teardown_request
    def unbind_request_id(_error: BaseException | None) -> None:
        token = g.pop("request_id_token", None)
        if token is not None:
            current_request_id.reset(token)


def _serve_contract(app: Flask, contract: Contract) -> None:
    """Serve the service's contract at ``/openapi.json``."""
    document = contract.document

    @app.get("/openapi.json")
    def openapi() -> Response:
        return jsonify(document)


def create_service_app(
    settings: ServiceSettings,
    *,
    readiness: Mapping[str, HealthCheck],
    contract: Contract | None = None,
    find_operation: OperationFinder | None = None,
) -> Flask:
    """A Flask app with the platform's cross-cutting behaviour installed.

    A request's body limit is its operation's ``x-max-body-bytes`` when it has
    one, else ``settings.max_body_bytes``; ``find_operation`` finds the
    operation (``contract.match`` unless given: the gateway looks in the
    contracts of the services it routes to as well).
    """
    if find_operation is None and contract is not None:
        find_operation = contract.match
    configure_logging(settings.service_name, settings.log_level)
    app = Flask(settings.service_name)
    # Werkzeug answers "//x" with a 308 whose Location is built from the Host
    # header, before any check: a redirect an attacker can aim. "//x" is a 404.
    app.url_map.merge_slashes = False
    app.json.sort_keys = False  # type: ignore[attr-defined]
    install_request_context(app)
    install_body_limit(app, settings.max_body_bytes, find_operation)
    install_security_headers(app)
    register_error_handlers(app)
    register_metrics(app, settings.service_name)
    register_health(app, settings.service_name, readiness)
    if contract is not None:
        _serve_contract(app, contract)
    return app


class ProblemApi(flask_restful.Api):  # type: ignore[misc]
    """Flask-RESTful, but errors go to the app's problem+json handlers."""

    def handle_error(self, e: Exception) -> Response:
        # Re-raising makes Flask-RESTful fall back to Flask's own handlers.
        raise e
