"""The public contract at ``/api/v1/openapi.json`` and Swagger UI at ``/docs``, on the gateway.

``/api/v1/openapi.json`` is an operation of the gateway's contract (public).
``/docs`` and its files are pages, not API: :func:`with_api_docs_pages` declares
them public, explicitly, in the contract the gateway's guard checks (which
refuses anything undeclared), and they stay out of every OpenAPI document.

Swagger UI's files come from the npm package ``swagger-ui-dist``, installed
from the lockfile under ``gateway/console/node_modules`` (``make setup-dev``
runs ``npm ci --prefix gateway/console``); only the files :data:`ASSETS` names
are served, never a CDN. The page's script is ``static/docs.js``: no inline
script, so :data:`DOCS_CSP` allows scripts from this origin only.
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path
from typing import Any

from flask import Blueprint, Flask, Response, request, send_file

from gateway.apidocs.contract import public_api_document
from gateway.console.pages import CONSOLE_CSP
from shared.contract import Contract
from shared.errors import NotFound

logger = logging.getLogger(__name__)

PACKAGE = Path(__file__).parent
STATIC = PACKAGE / "static"
SWAGGER_UI = PACKAGE.parent / "console" / "node_modules" / "swagger-ui-dist"
PUBLIC_API_PATH = "/api/v1/openapi.json"
DOCS_RULE = "/docs"
ASSETS_RULE = "/docs/assets/<name>"
#: ``/docs/assets/<name>`` -> the file served: Swagger UI's own, and the page's initializer.
ASSETS: dict[str, Path] = {
    "swagger-ui-bundle.js": SWAGGER_UI / "swagger-ui-bundle.js",
    "swagger-ui.css": SWAGGER_UI / "swagger-ui.css",
    "favicon-16x16.png": SWAGGER_UI / "favicon-16x16.png",
    "favicon-32x32.png": SWAGGER_UI / "favicon-32x32.png",
    "docs.js": STATIC / "docs.js",
}
#: Everything from this origin, nothing inline: Swagger UI's styles are its stylesheet
#: (React sets the rest through the DOM, which the policy allows), no script is inline and
#: nothing is ``eval``-ed (tests/browser/test_api_docs.py watches for violations in chromium).
#: Its icons are ``data:`` images; "Try it out" calls this origin only: the console's policy.
DOCS_CSP = CONSOLE_CSP
#: The contract changes only with a deployment; clients revalidate with the ETag.
CONTRACT_CACHE_CONTROL = "public, max-age=300"
#: Swagger UI's files change with the npm lockfile: a day, revalidated after.
ASSET_MAX_AGE_SECONDS = 86_400


class PublicApiDocument:
    """The merged contract, serialised once, and its ETag."""

    def __init__(self, document: dict[str, Any]) -> None:
        self.document = document
        self.body = json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode()
        self.etag = hashlib.sha256(self.body).hexdigest()[:32]

    def response(self) -> Response:
        """The document, or 304 when the request's ``If-None-Match`` names this version."""
        response = Response(self.body, mimetype="application/json")
        response.set_etag(self.etag)
        response.headers["Cache-Control"] = CONTRACT_CACHE_CONTROL
        response.make_conditional(request)
        return response


def _api_docs_blueprint(public_api: PublicApiDocument) -> Blueprint:
    pages = Blueprint("apidocs", __name__)
    page = (STATIC / "docs.html").read_bytes()

    @pages.get(PUBLIC_API_PATH)
    def public_contract() -> Response:
        return public_api.response()

    @pages.get(DOCS_RULE)
    def docs() -> Response:
        response = Response(page, mimetype="text/html")
        response.headers["Content-Security-Policy"] = DOCS_CSP
        response.headers["Cache-Control"] = "no-cache"
        return response

    @pages.get(ASSETS_RULE)
    def asset(name: str) -> Response:
        path = ASSETS.get(name)
        if path is None:
            raise NotFound(f"No such file: {request.path}")
        if not path.is_file():
            raise NotFound(
                f"{name} is not installed: run `npm ci --prefix gateway/console` (make setup-dev)"
            )
        response = send_file(path, max_age=ASSET_MAX_AGE_SECONDS, conditional=True)
        response.headers["Content-Security-Policy"] = DOCS_CSP
        return response

    return pages


def docs_paths() -> dict[str, dict[str, Any]]:
    """``/docs`` and its files as public OpenAPI operations (what the guard lets through)."""

    def page(operation_id: str, parameters: list[dict[str, Any]]) -> dict[str, Any]:
        return {
            "get": {
                "operationId": operation_id,
                "security": [],
                "x-rate-limit": "public",
                "tags": ["docs"],
                "parameters": parameters,
                "responses": {"200": {"description": "Swagger UI's page or one of its files"}},
            }
        }

    name = {"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}
    return {
        DOCS_RULE: page("apiDocsPage", []),
        "/docs/assets/{name}": page("apiDocsAsset", [name]),
    }


def with_api_docs_pages(contract: Contract) -> Contract:
    """``contract`` plus ``/docs`` and its files, declared public: the contract the guard checks."""
    return contract.with_paths(docs_paths())


def register_api_docs(app: Flask, document: dict[str, Any] | None = None) -> None:
    """Serve the public contract (built from the declared contracts unless given) and ``/docs``."""
    missing = [name for name, path in ASSETS.items() if not path.is_file()]
    if missing:
        logger.warning(
            "Swagger UI files missing (run `npm ci --prefix gateway/console`): /docs is blank",
            extra={"missing": missing},
        )
    public_api = PublicApiDocument(public_api_document() if document is None else document)
    app.register_blueprint(_api_docs_blueprint(public_api))
