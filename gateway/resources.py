"""The base of the gateway's Flask-RESTful resources and how they answer."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import flask_restful
from flask import Response
from pydantic import BaseModel


class GatewayResource(flask_restful.Resource):  # type: ignore[misc]
    """A Flask-RESTful resource of the gateway's own API."""


def json_answer(
    body: BaseModel | dict[str, Any], status: int = 200, headers: Mapping[str, str] | None = None
) -> tuple[dict[str, Any], int, dict[str, str]]:
    """A Flask-RESTful answer; datetimes as RFC 3339, UUIDs as text."""
    payload = body.model_dump(mode="json") if isinstance(body, BaseModel) else body
    return payload, status, dict(headers or {})


def no_content() -> Response:
    """An empty 204 answer."""
    return Response(status=204)
