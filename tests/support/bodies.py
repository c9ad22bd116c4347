"""Request bodies sent to an app in-process with either framing, and the 413 they may get."""

from __future__ import annotations

import io
from collections.abc import Mapping

from flask.testing import FlaskClient
from werkzeug.test import EnvironBuilder, TestResponse
from werkzeug.wrappers import Request

PROBLEM_JSON = "application/problem+json"
OCTETS = {"Content-Type": "application/octet-stream"}


def post_with_length(
    client: FlaskClient, path: str, body: bytes, headers: Mapping[str, str] = OCTETS
) -> TestResponse:
    """POST ``body`` with its ``Content-Length``."""
    return client.post(path, data=body, headers=dict(headers))


def post_chunked(
    client: FlaskClient, path: str, body: bytes, headers: Mapping[str, str] = OCTETS
) -> TestResponse:
    """POST ``body`` as gunicorn passes a chunked request on: de-chunked, without a length."""
    environ = EnvironBuilder(
        path=path,
        method="POST",
        input_stream=io.BytesIO(body),
        headers={**headers, "Transfer-Encoding": "chunked"},
    ).get_environ()
    del environ["CONTENT_LENGTH"]
    environ["wsgi.input_terminated"] = True
    # As a request, not a dict: the client would rebuild a dict's environ without these.
    return client.open(Request(environ))


def assert_too_large(response: TestResponse) -> None:
    """The answer is 413, as problem+json."""
    assert response.status_code == 413, response.get_data(as_text=True)
    assert response.mimetype == PROBLEM_JSON
    assert response.get_json(force=True)["status"] == 413
