"""Chunked bodies on every service, directly and through the gateway: over the limit is 413,
broken framing is 400, both problem+json; a body is never silently cut short."""

from __future__ import annotations

import json
import socket
import uuid

import pytest

from shared.services import routed_services
from tests.e2e.conftest import Stack

LIMIT = 1_048_576  # MAX_BODY_BYTES default


def _exchange(port: int, raw: bytes, timeout: float = 10.0) -> tuple[int, dict[str, str], bytes]:
    """Send raw bytes, read one response; its status, headers and body."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as connection:
        connection.sendall(raw)
        data = b""
        while b"\r\n\r\n" not in data:
            data += connection.recv(65536)
        head, _, body = data.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        headers = {
            name.strip().lower(): value.strip()
            for name, _, value in (line.partition(":") for line in lines[1:])
        }
        length = int(headers.get("content-length", "0"))
        while len(body) < length:
            body += connection.recv(65536)
    return int(lines[0].split()[1]), headers, body


def _chunked(path: str, token: str, body: bytes) -> bytes:
    chunks = b"".join(
        b"%x\r\n%s\r\n" % (len(body[i : i + 65536]), body[i : i + 65536])
        for i in range(0, len(body), 65536)
    )
    return (
        (
            f"POST {path} HTTP/1.1\r\nHost: test\r\nAuthorization: Bearer {token}\r\n"
            "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
        ).encode()
        + chunks
        + b"0\r\n\r\n"
    )


@pytest.fixture
def targets(stack: Stack) -> list[tuple[str, int, str]]:
    """(what, port, path): every routed service of services.toml, through the gateway
    and directly."""
    found = []
    for service in routed_services():
        assert service.route is not None
        found.append((f"gateway {service.name}", stack.gateway.port, service.route.public))
        found.append((service.name, stack.services[service.name].port, service.route.upstream))
    return found


def test_a_chunked_body_over_the_limit_is_refused_not_cut(stack: Stack, targets):
    # Valid JSON up to the limit and beyond (trailing whitespace is JSON too): cut
    # at the limit it would still parse, and the tail would be lost without a word.
    for what, port, path in targets:
        document = {"name": "Chunky", "email": f"chunky-{uuid.uuid4().hex[:8]}@example.com"}
        body = json.dumps(document).encode() + b" " * (LIMIT + 53_000)

        status, headers, answer = _exchange(port, _chunked(path, stack.tokens["admin"], body))

        assert status == 413, (what, answer[:200])
        assert headers["content-type"] == "application/problem+json", what
        assert json.loads(answer)["status"] == 413


def test_a_chunked_body_within_the_limit_arrives_whole(stack: Stack):
    customers = [
        ("gateway", stack.gateway.port, "/api/v1/customers"),
        ("customer", stack.customer.port, "/customers"),
    ]
    for what, port, path in customers:
        email = f"whole-{uuid.uuid4().hex[:8]}@example.com"
        body = json.dumps({"name": "Whole", "email": email}).encode() + b" " * 200_000

        status, _, answer = _exchange(port, _chunked(path, stack.tokens["admin"], body))

        assert status == 201, (what, answer[:200])
        assert json.loads(answer)["email"] == email


@pytest.mark.parametrize("size_line", [b"zz", b"-1", b"1x"])
def test_a_malformed_chunk_size_is_a_400_problem(stack: Stack, targets, size_line):
    for what, port, path in targets:
        raw = _chunked(path, stack.tokens["admin"], b"").replace(
            b"0\r\n\r\n", size_line + b"\r\n{}\r\n0\r\n\r\n"
        )

        status, headers, answer = _exchange(port, raw)

        assert status == 400, (what, size_line, answer[:200])
        assert headers["content-type"] == "application/problem+json", what


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        (b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: test\r\n\r\n", 414),
        (
            b"GET / HTTP/1.1\r\nHost: test\r\n"
            + b"".join(b"X-Many-%d: v\r\n" % index for index in range(200))
            + b"\r\n",
            431,
        ),
        (b"GET / HTTP/1.1\r\nHost: test\r\nX-Big: " + b"a" * 10_000 + b"\r\n\r\n", 431),
        (b"NOT AN HTTP REQUEST\r\n\r\n", 400),
    ],
    ids=["long-url", "many-headers", "large-header", "broken-request-line"],
)
def test_errors_the_server_answers_itself_are_problem_json(stack: Stack, raw, status):
    ports = [("gateway", stack.gateway.port)] + [
        (name, process.port) for name, process in stack.services.items()
    ]
    for what, port in ports:
        answered, headers, body = _exchange(port, raw)

        assert answered == status, (what, body[:200])
        assert headers["content-type"] == "application/problem+json", what
        assert json.loads(body)["status"] == status
        assert headers["x-request-id"]


def test_an_answer_leaves_in_one_write_head_and_body_together(stack: Stack):
    # Written apart, a client blocked in recv() wakes for the head alone and again for the
    # body; every service's worker sends a small answer whole, so one read gets all of it.
    for port in (stack.gateway.port, *(service.port for service in stack.services.values())):
        with socket.create_connection(("127.0.0.1", port), timeout=10) as connection:
            connection.sendall(b"GET /healthz HTTP/1.1\r\nHost: test\r\n\r\n")
            data = connection.recv(65536)
        head, _, body = data.partition(b"\r\n\r\n")
        length = next(
            int(line.split(b":", 1)[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length:")
        )
        assert length > 0
        assert len(body) == length, (port, data)
