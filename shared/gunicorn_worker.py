"""The gunicorn worker every service runs: ``gthread``, but its own error answers are problem+json.

Gunicorn answers some requests before any application sees them: a request
line over the limit (414), too many or too large headers (431), broken framing
(400), an unsupported transfer coding (501). It writes those as an HTML page
through ``gunicorn.util.write_error``, which has no hook or setting, so this
module replaces that one function in the worker processes that import it. The
status, reason and message stay gunicorn's; only the body and its type change.
"""

from __future__ import annotations

import json
import socket
import uuid

from gunicorn import util  # type: ignore[import-untyped]
from gunicorn.workers.gthread import ThreadWorker  # type: ignore[import-untyped]

PROBLEM_JSON = "application/problem+json"


def problem_answer(status: int, reason: str, message: str) -> bytes:
    """The whole HTTP/1.1 response for an error gunicorn found: problem+json, then close."""
    body = json.dumps(
        {
            "type": "about:blank",
            "title": reason,
            "status": status,
            "detail": message or reason,
        }
    ).encode("utf-8")
    head = (
        f"HTTP/1.1 {status} {reason}\r\n"
        "Connection: close\r\n"
        f"Content-Type: {PROBLEM_JSON}\r\n"
        f"Content-Length: {len(body)}\r\n"
        f"X-Request-ID: {uuid.uuid4().hex}\r\n"
        "X-Content-Type-Options: nosniff\r\n"
        "\r\n"
    )
    return head.encode("latin-1") + body


def write_problem(sock: socket.socket, status_int: int, reason: str, mesg: str) -> None:
    """Drop-in for ``gunicorn.util.write_error``."""
    util.write_nonblock(sock, problem_answer(status_int, reason, mesg))


util.write_error = write_problem


class ProblemThreadWorker(ThreadWorker):  # type: ignore[misc]
    """Gunicorn's threaded worker; importing this module makes its error pages problem+json."""
