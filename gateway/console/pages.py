"""The console's routes: a HTML shell per page, its static files, an allow-list of vendor files.

The gateway is secure by default: its guard refuses any route its contract does
not declare. The console's routes are declared public, explicitly, by
:func:`with_console_pages`, which adds them (``security: []``, counted against
the ``public`` rate limit per client address) to the contract the guard checks.
They stay out of ``/openapi.json``: that document describes the API, not pages.

A page holds no data: its scripts fetch everything from ``/api/v1/...`` with
the user's token, so serving the shell to anyone reveals nothing. Every console
answer carries :data:`CONSOLE_CSP`: scripts, styles and fetches from this
origin only, no inline script or handler, no ``eval``, never framed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Blueprint, Flask, Response, abort, render_template, request, send_from_directory
from werkzeug.exceptions import NotFound

from shared.contract import Contract

PACKAGE = Path(__file__).parent
NODE_MODULES = PACKAGE / "node_modules"

#: page name -> URL rule. Each renders ``templates/<page>.html``, which extends ``base.html``.
PAGES: dict[str, str] = {
    "home": "/",
    "login": "/login",
    "customers": "/customers",
    "customer": "/customers/<customer_id>",
    "import": "/import",
    "search": "/search",
    "analytics": "/analytics",
    "nlp": "/nlp",
    "account": "/account",
    "admin": "/admin",
}

#: ``/console/vendor/<name>`` -> the file under ``node_modules`` (installed by npm from the
#: lockfile). Only these are served: never a directory listing or an arbitrary package file.
VENDOR_FILES: dict[str, str] = {
    "chart.umd.js": "chart.js/dist/chart.umd.js",
}

STATIC_RULE = "/console/static/<path:filename>"
VENDOR_RULE = "/console/vendor/<name>"

#: The Content-Security-Policy of every page the gateway serves to a browser (the console's
#: and /docs): everything from this origin, nothing inline.
CONSOLE_CSP = "; ".join(
    (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "form-action 'self'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
    )
)

console = Blueprint(
    "console",
    __name__,
    template_folder="templates",
    static_folder="static",
    static_url_path="/console/static",
)


def _render_page(page: str) -> Any:
    def view(**_arguments: str) -> str:
        return render_template(f"{page}.html", page=page)

    view.__name__ = f"page_{page}"
    return view


for _page, _rule in PAGES.items():
    console.add_url_rule(_rule, _page, _render_page(_page), methods=["GET"])


@console.get(VENDOR_RULE)
def vendor(name: str) -> Response:
    """One allow-listed file from ``node_modules``; 404 for anything else."""
    relative = VENDOR_FILES.get(name)
    if relative is None:
        abort(404)
    return send_from_directory(NODE_MODULES, relative)


@console.after_request
def add_console_headers(response: Response) -> Response:
    """The console's CSP (set before the gateway's API-wide default, which only sets defaults)."""
    response.headers["Content-Security-Policy"] = CONSOLE_CSP
    response.headers.setdefault("Cache-Control", "no-cache")
    return response


def _template(rule: str) -> str:
    """An OpenAPI path for a Flask rule: ``<path:filename>`` -> ``{filename}``."""
    parts = []
    for part in rule.split("/"):
        if part.startswith("<") and part.endswith(">"):
            part = "{" + part[1:-1].rpartition(":")[2] + "}"
        parts.append(part)
    return "/".join(parts)


def console_paths() -> dict[str, dict[str, Any]]:
    """The console's routes as public OpenAPI operations (what the guard lets through)."""
    rules = {f"consolePage_{page}": rule for page, rule in PAGES.items()}
    rules["consoleStatic"] = STATIC_RULE
    rules["consoleVendor"] = VENDOR_RULE
    return {
        _template(rule): {
            "get": {
                "operationId": operation_id,
                "security": [],
                "x-rate-limit": "public",
                "tags": ["console"],
                "responses": {"200": {"description": "an HTML page or a static file"}},
            }
        }
        for operation_id, rule in rules.items()
    }


def with_console_pages(contract: Contract) -> Contract:
    """``contract`` plus the console's routes, declared public: the contract the guard checks."""
    return contract.with_paths(console_paths())


def _refuse_an_empty_path() -> None:
    """404 for a request with no path at all (``GET http://host`` in absolute form, say).

    Its path reads as ``/``, a public page, so the guard lets it through, and
    routing would answer it with a redirect to ``/`` on whatever host the
    ``Host`` header names. Nothing is served for it instead.
    """
    if not request.environ.get("PATH_INFO"):
        raise NotFound("No such page")


def register_console(app: Flask) -> None:
    """Serve the console on ``app`` (its guard must check :func:`with_console_pages`)."""
    app.before_request(_refuse_an_empty_path)
    app.register_blueprint(console)
