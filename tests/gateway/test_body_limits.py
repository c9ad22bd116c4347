"""A routed operation's ``x-max-body-bytes`` is the gateway's limit for calls to it, too.

The gateway routes ``/api/v1/uploads`` to a real service (the shared skeleton,
served on a loopback port) whose contract, written here, lets ``POST
/uploads/files`` take 10 000 000 bytes and leaves ``POST /uploads/notes`` at
the global limit (1 MiB). A 5 MB upload passes the gateway and reaches the
service whole; the same body to the other operation is refused at the gateway,
and the service never sees it.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask, request
from flask.testing import FlaskClient
from werkzeug.serving import BaseWSGIServer, make_server

from gateway.edge.routes import Route
from shared.contract import Contract
from shared.settings import ServiceSettings
from shared.web.app import create_service_app
from tests.support.bodies import assert_too_large, post_chunked, post_with_length

UPLOAD_LIMIT = 10_000_000
FIVE_MB = 5_000_000
FILES = "/api/v1/uploads/files"
NOTES = "/api/v1/uploads/notes"

CONTRACT_YAML = f"""
openapi: 3.1.0
info: {{title: uploads, version: "1"}}
security: [{{oauth2: [customers:write]}}]
paths:
  /uploads/files:
    post:
      operationId: uploadFile
      x-max-body-bytes: {UPLOAD_LIMIT}
      responses: {{"200": {{description: received}}}}
  /uploads/notes:
    post:
      operationId: addNote
      responses: {{"200": {{description: received}}}}
"""


class UploadService:
    """A service on the shared skeleton, on a loopback port, noting the size of each body."""

    def __init__(self, contract: Contract) -> None:
        self.received: list[int] = []
        app = create_service_app(
            ServiceSettings(service_name=f"uploads-{uuid.uuid4().hex[:10]}"),
            readiness={},
            contract=contract,
        )
        app.add_url_rule("/uploads/files", "files", self._receive, methods=["POST"])
        app.add_url_rule("/uploads/notes", "notes", self._receive, methods=["POST"])
        self._server: BaseWSGIServer = make_server("127.0.0.1", 0, app, threaded=True)
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    def _receive(self) -> dict[str, int]:
        size = len(request.get_data())
        self.received.append(size)
        return {"bytes": size}

    def close(self) -> None:
        """Stop serving."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()


@pytest.fixture
def contract(tmp_path: Path) -> Contract:
    path = tmp_path / "openapi.yaml"
    path.write_text(CONTRACT_YAML)
    return Contract.load(path)


@pytest.fixture
def service(contract: Contract) -> Iterator[UploadService]:
    running = UploadService(contract)
    yield running
    running.close()


@pytest.fixture
def gateway(make_app, contract: Contract, service: UploadService) -> Flask:
    route = Route(
        prefix="/api/v1/uploads", service="uploads", upstream_prefix="/uploads", contract=contract
    )
    return make_app(routes=(route,), discovery_static=f"uploads={service.url}")


@pytest.fixture
def client(gateway: Flask) -> FlaskClient:
    return gateway.test_client()


@pytest.fixture
def headers(gateway: Flask, auth_headers_for) -> dict[str, str]:
    return {**auth_headers_for(gateway), "Content-Type": "application/octet-stream"}


FRAMINGS = pytest.mark.parametrize(
    "post", [post_with_length, post_chunked], ids=["content-length", "chunked"]
)


def test_an_upload_over_the_global_limit_passes_to_the_operation_declaring_more(
    client, headers, service
):
    post = post_with_length
    response = post(client, FILES, b"x" * FIVE_MB, headers)

    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.get_json() == {"bytes": FIVE_MB}
    assert service.received == [FIVE_MB]
    # Past the declared limit, the gateway refuses it: the service sees nothing more.
    assert_too_large(post(client, FILES, b"x" * (UPLOAD_LIMIT + 1), headers))
    assert service.received == [FIVE_MB]


def test_a_chunked_upload_keeps_the_global_limit_at_the_gateway(client, headers, service):
    # A chunked body is read before authentication: only a body that announces its length
    # gets an upload's larger limit, and is refused unread past it.
    assert_too_large(post_chunked(client, FILES, b"x" * FIVE_MB, headers))
    assert service.received == []


def test_the_same_body_to_an_operation_declaring_no_limit_is_refused_at_the_gateway(
    client, headers, service
):
    post = post_with_length
    assert post(client, FILES, b"x" * FIVE_MB, headers).status_code == 200

    assert_too_large(post(client, NOTES, b"x" * FIVE_MB, headers))
    assert service.received == [FIVE_MB]
