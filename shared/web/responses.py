"""JSON answers of a service's resources, and the ``Link`` to a keyset page's next page."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

from flask import Response, current_app, request


def json_response(
    payload: Any, status: int = 200, headers: Mapping[str, str] | None = None
) -> Response:
    """A JSON response with the app's serialiser (field order kept)."""
    return Response(
        current_app.json.dumps(payload),
        status=status,
        headers=dict(headers or {}),
        mimetype="application/json",
    )


def next_link(cursor: str) -> str:
    """``Link`` header for the next page, relative to this request's own URL.

    A query-only reference resolves against whatever path the client used, so it
    stays right behind the gateway's ``/api/v1`` prefix.
    """
    params = [(name, value) for name, value in request.args.items(multi=True) if name != "cursor"]
    return f'<?{urlencode([*params, ("cursor", cursor)])}>; rel="next"'


def page_response(page: Mapping[str, Any]) -> Response:
    """A page as JSON, with ``Link: rel="next"`` when its ``next_cursor`` is set."""
    response = json_response(page)
    if page.get("next_cursor"):
        response.headers["Link"] = next_link(page["next_cursor"])
    return response
