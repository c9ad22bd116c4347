"""One HTTP call from a service to another found through discovery, and its problem's detail.

Plain ``http.client``: a service calls another a few times per request at most
(a reindex page, a reconcile page, a query embedding), so it needs no pool, and
the services' images carry no HTTP client library of their own. Each caller
maps the status and the transport errors (``OSError``, ``TimeoutError``,
``http.client.HTTPException``) to its own problems.
"""

from __future__ import annotations

import http.client
import json
from collections.abc import Mapping
from urllib.parse import urlsplit

from shared.discovery import Discovery


class NoHttpUrl(Exception):
    """Discovery gave something that is not an HTTP URL for the service."""


def call_service(
    discovery: Discovery,
    service: str,
    method: str,
    path: str,
    *,
    headers: Mapping[str, str],
    timeout: float,
    body: bytes | None = None,
    max_bytes: int | None = None,
) -> tuple[int, bytes]:
    """``method path`` on one instance of ``service``: the status and the body.

    With ``max_bytes``, at most ``max_bytes + 1`` bytes are read, so the caller
    can tell an answer that is too long.
    """
    base = urlsplit(discovery.resolve(service))
    if base.scheme not in ("http", "https") or not base.hostname:
        raise NoHttpUrl(f"discovery gave no HTTP URL for {service}")
    connection_class = (
        http.client.HTTPSConnection if base.scheme == "https" else http.client.HTTPConnection
    )
    connection = connection_class(base.hostname, base.port, timeout=timeout)
    try:
        connection.request(method, base.path.rstrip("/") + path, body=body, headers=dict(headers))
        response = connection.getresponse()
        data = response.read() if max_bytes is None else response.read(max_bytes + 1)
        return response.status, data
    finally:
        connection.close()


def problem_detail(body: bytes) -> str:
    """The ``detail`` (or ``title``) of a problem document; a placeholder if it is none."""
    try:
        problem = json.loads(body)
        return str(problem.get("detail") or problem.get("title"))
    except (ValueError, AttributeError):
        return "no problem document"
