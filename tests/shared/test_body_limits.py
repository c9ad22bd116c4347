"""Body limits per operation: ``x-max-body-bytes`` in the contract, else ``MAX_BODY_BYTES``.

A tiny app on the real skeleton, with a contract written here: ``POST /uploads``
declares 3 000 000 bytes, ``POST /notes`` declares nothing and keeps the global
limit (1 MiB by default). Both framings are held to the same limit: a body with
``Content-Length``, and a chunked one as a WSGI server hands it on (no length,
the stream already de-chunked).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from flask import Flask, request
from flask.testing import FlaskClient

from shared.contract import Contract, ContractError
from tests.support.bodies import assert_too_large, post_chunked, post_with_length

UPLOAD_LIMIT = 3_000_000
GLOBAL_LIMIT = 1_048_576
TWO_MB = 2_000_000
FOUR_MB = 4_000_000

CONTRACT_YAML = f"""
openapi: 3.1.0
info: {{title: uploads, version: "1"}}
security: []
paths:
  /uploads:
    post:
      operationId: upload
      x-max-body-bytes: {UPLOAD_LIMIT}
      responses: {{"200": {{description: received}}}}
  /notes:
    post:
      operationId: note
      responses: {{"200": {{description: received}}}}
  /stamps:
    post:
      operationId: stamp
      x-max-body-bytes: 100
      responses: {{"200": {{description: received}}}}
"""


def write_contract(directory: Path, text: str = CONTRACT_YAML) -> Contract:
    path = directory / "openapi.yaml"
    path.write_text(text)
    return Contract.load(path)


@pytest.fixture
def contract(tmp_path: Path) -> Contract:
    return write_contract(tmp_path)


@pytest.fixture
def client(make_app: Callable[..., Flask], contract: Contract) -> FlaskClient:
    app = make_app(contract=contract)

    def received() -> dict[str, int]:
        return {"bytes": len(request.get_data())}

    for path in ("/uploads", "/notes", "/stamps"):
        app.add_url_rule(path, path.strip("/"), received, methods=["POST"])
    return app.test_client()


FRAMINGS = pytest.mark.parametrize(
    "post", [post_with_length, post_chunked], ids=["content-length", "chunked"]
)


# --- the contract -----------------------------------------------------------------


def test_the_contract_exposes_each_operations_body_limit(contract: Contract) -> None:
    assert contract.match("POST", "/uploads").max_body_bytes == UPLOAD_LIMIT
    assert contract.match("POST", "/notes").max_body_bytes is None


@pytest.mark.parametrize("value", ["10MB", "true", "0", "-5", "1.5"])
def test_a_body_limit_that_is_no_positive_size_is_refused(tmp_path: Path, value: str) -> None:
    with pytest.raises(ContractError, match="x-max-body-bytes"):
        write_contract(tmp_path, CONTRACT_YAML.replace(str(UPLOAD_LIMIT), value))


# --- the app ----------------------------------------------------------------------


def test_an_operation_declaring_a_larger_limit_takes_a_body_up_to_it_and_no_more(client):
    post = post_with_length
    response = post(client, "/uploads", b"x" * TWO_MB)

    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.get_json() == {"bytes": TWO_MB}
    assert_too_large(post(client, "/uploads", b"x" * FOUR_MB))


def test_an_operation_at_its_declared_limit_takes_the_body_whole(client):
    post = post_with_length
    response = post(client, "/uploads", b"x" * UPLOAD_LIMIT)

    assert response.get_json() == {"bytes": UPLOAD_LIMIT}
    assert_too_large(post(client, "/uploads", b"x" * (UPLOAD_LIMIT + 1)))


def test_a_chunked_body_keeps_the_global_limit_even_where_an_upload_may_be_larger(client):
    # Read before authentication: a larger limit is only for bodies that announce their length.
    assert post_chunked(client, "/uploads", b"x" * GLOBAL_LIMIT).get_json() == {
        "bytes": GLOBAL_LIMIT
    }
    assert_too_large(post_chunked(client, "/uploads", b"x" * (GLOBAL_LIMIT + 1)))


def test_only_the_declaring_operation_gets_its_limit(client):
    post = post_with_length
    assert post(client, "/uploads", b"x" * TWO_MB).get_json() == {"bytes": TWO_MB}

    assert_too_large(post(client, "/notes", b"x" * TWO_MB))
    assert post(client, "/notes", b"x" * GLOBAL_LIMIT).get_json() == {"bytes": GLOBAL_LIMIT}


@FRAMINGS
def test_an_operation_may_declare_a_limit_below_the_global_one(client, post):
    assert post(client, "/stamps", b"x" * 100).get_json() == {"bytes": 100}
    assert_too_large(post(client, "/stamps", b"x" * 101))


def test_a_request_matching_no_operation_keeps_the_global_limit(client):
    # Chunked: its body is read before routing (a Content-Length one is never read for a 404).
    # /uploads/extra is not in the contract: /uploads' limit is not its.
    assert_too_large(post_chunked(client, "/uploads/extra", b"x" * TWO_MB))
