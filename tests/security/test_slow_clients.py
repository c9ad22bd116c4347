"""Slow clients against every web process: read deadlines hold and a crowd of them starves no one.

Every service ``services.toml`` declares with a web process is attacked on its
own listener (the gateway's is the one the public reaches), so a new service is
covered without a test of its own. They run on the shared platform, whose
processes all have short deadlines (``HEADER_READ_TIMEOUT``, ``BODY_READ_TIMEOUT``:
:mod:`tests.support.platform`), so waiting one out takes seconds; the bounds
asserted are generous, the point is that the server ends a slow request and
keeps answering everyone else.
"""

from __future__ import annotations

import contextlib
import json
import resource
import select
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
import requests

from shared.contract import Contract, load_document
from shared.services import GUNICORN, Service, load_services, service_named
from tests.e2e.conftest import Stack
from tests.support.platform import BODY_DEADLINE, HEADER_DEADLINE, IDLE_DEADLINE

pytestmark = pytest.mark.e2e

#: Added to a deadline before a test gives up: a loaded machine is slow, the server must not hang.
MARGIN = 4.0
#: However busy the server is with slow clients, /healthz answers within this.
PROBE_BOUND = 5.0
#: Slow connections held open at once on one listener: partial headers, and partial bodies.
CROWD_HEADERS = 150
CROWD_BODIES = 50
DECLARED_BODY = 100_000
#: A request line and some headers, never the blank line that ends them.
PARTIAL_HEADERS = b"GET /healthz HTTP/1.1\r\nHost: slow.test\r\nX-Slow: yes\r\n"
PROBLEM_JSON = "application/problem+json"
#: The operation whose body is sent slowly, where the contract's first one is not the obvious
#: target: the gateway's public login is what anyone on the internet can reach.
BODY_OPERATIONS = {"gateway": "/api/v1/auth/token"}

WEB_SERVICES = [
    service
    for service in load_services()
    if any(process.target == GUNICORN for process in service.processes)
]


@dataclass(frozen=True)
class Listener:
    """One service's web process, and where it reads request bodies."""

    name: str
    port: int
    #: An operation that reads a ``Content-Length`` body; None if the service has none.
    body_path: str | None
    #: Header lines (credentials) that get a request past authentication to its body.
    credentials: str

    @property
    def healthz(self) -> str:
        return f"http://127.0.0.1:{self.port}/healthz"

    def post_head(self, *, framing: str) -> bytes:
        """Request line and headers of a JSON POST, ``framing`` its length.

        To ``body_path``, or when the service reads no body to ``/healthz``: every
        service reads a chunked body whole before routing it (``shared.web.app``).
        """
        return (
            f"POST {self.body_path or '/healthz'} HTTP/1.1\r\nHost: slow.test\r\n"
            f"{self.credentials}Content-Type: application/json\r\n{framing}\r\n\r\n"
        ).encode()


def _body_path(service: Service) -> str | None:
    if service.name in BODY_OPERATIONS:
        return BODY_OPERATIONS[service.name]
    document = load_document(service.contract_path)
    for operation in Contract.load(service.contract_path).operations:
        item = document["paths"][operation.path][operation.method.lower()]
        if operation.method == "POST" and "{" not in operation.path and "requestBody" in item:
            return operation.path
    return None


def _listener(name: str, stack: Stack) -> Listener:
    service = service_named(name)
    processes = {service_named("gateway").name: stack.gateway, **stack.services}
    return Listener(
        name=service.name,
        port=processes[service.name].port,
        body_path=_body_path(service),
        credentials=f"Authorization: Bearer {stack.tokens['admin']}\r\n",
    )


@pytest.fixture(params=[service.name for service in WEB_SERVICES])
def listener(request: pytest.FixtureRequest, stack: Stack) -> Listener:
    """Each declared web process in turn, on its own port."""
    return _listener(request.param, stack)


@pytest.fixture(params=[service.name for service in WEB_SERVICES if _body_path(service)])
def body_listener(request: pytest.FixtureRequest, stack: Stack) -> Listener:
    """Each declared web process with an operation that reads a request body."""
    return _listener(request.param, stack)


def _probe(url: str) -> float | None:
    """Seconds a fresh connection's GET /healthz took to answer 200; None if it did not."""
    started = time.monotonic()
    try:
        answered = requests.get(url, timeout=PROBE_BOUND).status_code == 200
    except requests.RequestException:
        return None
    return time.monotonic() - started if answered else None


def _is_open(connection: socket.socket) -> bool:
    """Whether the server still holds the connection open without having answered."""
    connection.setblocking(False)
    try:
        connection.recv(1)  # b"" when closed; anything else is an answer
        return False
    except BlockingIOError:
        return True
    except OSError:
        return False
    finally:
        connection.setblocking(True)


@dataclass
class Answer:
    """What the server sent before closing: a response, or nothing."""

    status: int | None
    headers: dict[str, str]
    body: bytes


def _answer(connection: socket.socket, timeout: float) -> Answer:
    """Read one response; ``status`` None when the server closed (or reset) without one."""
    connection.settimeout(timeout)
    data = b""
    try:
        while b"\r\n\r\n" not in data:
            received = connection.recv(65536)
            if not received:
                return Answer(None, {}, data)
            data += received
        head, _, body = data.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        headers = {
            name.strip().lower(): value.strip()
            for name, _, value in (line.partition(":") for line in lines[1:])
        }
        while len(body) < int(headers.get("content-length", "0")):
            received = connection.recv(65536)
            if not received:
                break
            body += received
    except (ConnectionResetError, BrokenPipeError):
        return Answer(None, {}, data)
    return Answer(int(lines[0].split()[1]), headers, body)


def _until_answered(
    connection: socket.socket,
    give_up: float,
    *,
    drip: bytes = b"",
    meanwhile: Callable[[], object] | None = None,
) -> float:
    """Wait until the server answers or closes; every half second send ``drip``, call ``meanwhile``.

    Returns when that happened (``time.monotonic()``); fails the test at ``give_up``.
    """
    while time.monotonic() < give_up:
        readable, _, _ = select.select([connection], [], [], 0.5)
        if readable:
            return time.monotonic()
        if drip:
            try:
                connection.send(drip)
            except OSError:  # closed by the server between two drips
                return time.monotonic()
        if meanwhile is not None:
            meanwhile()
    pytest.fail("the server neither answered nor closed the connection")


@pytest.fixture
def send() -> Iterator[Callable[[int, bytes], socket.socket]]:
    """Factory: a new connection to a port, ``data`` sent on it; all closed at the end."""
    opened: list[socket.socket] = []

    def connect_and_send(port: int, data: bytes) -> socket.socket:
        connection = socket.create_connection(("127.0.0.1", port), timeout=5)
        opened.append(connection)
        connection.sendall(data)
        return connection

    yield connect_and_send
    for connection in opened:
        connection.close()


def test_a_crowd_of_slow_clients_starves_no_one(listener: Listener, send):
    soft_limit, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    assert soft_limit > 2 * (CROWD_HEADERS + CROWD_BODIES), f"ulimit -n {soft_limit}: too few"
    headers = [send(listener.port, PARTIAL_HEADERS) for _ in range(CROWD_HEADERS)]
    # Chunked, which every service reads, whether or not one of its operations takes a body.
    body = listener.post_head(framing="Transfer-Encoding: chunked") + b"400\r\n{"
    bodies = [send(listener.port, body) for _ in range(CROWD_BODIES)]
    held_until = time.monotonic() + min(HEADER_DEADLINE, BODY_DEADLINE) / 2

    probes = []
    while time.monotonic() < held_until:
        for connection in headers:
            with contextlib.suppress(OSError):  # closed: counted below
                connection.send(b"X-More: trickled\r\n")  # a header line now and then
        probes.append(_probe(listener.healthz))
        time.sleep(0.2)
    held = sum(_is_open(connection) for connection in headers + bodies)

    assert held == CROWD_HEADERS + CROWD_BODIES, (
        f"{listener.name}: only {held} slow connections were held"
    )
    assert probes
    assert None not in probes, (listener.name, probes)  # each answered within PROBE_BOUND


@pytest.fixture
def gateway_listener(stack: Stack) -> Listener:
    """The gateway's web process: the one whose connections the public holds open."""
    return _listener("gateway", stack)


def test_a_kept_alive_connection_may_sit_idle_past_the_header_deadline(
    gateway_listener: Listener, send
):
    request = b"GET /healthz HTTP/1.1\r\nHost: idle.test\r\n\r\n"
    connection = send(gateway_listener.port, request)
    assert _answer(connection, timeout=PROBE_BOUND).status == 200

    time.sleep(HEADER_DEADLINE + 1.5)  # quiet between requests: idle, not a slow request
    connection.sendall(request)

    assert _answer(connection, timeout=PROBE_BOUND).status == 200


def test_a_connection_idle_past_the_idle_deadline_is_closed(gateway_listener: Listener, send):
    started = time.monotonic()
    connection = send(gateway_listener.port, b"")

    ended = _until_answered(connection, started + IDLE_DEADLINE + MARGIN)

    assert _answer(connection, timeout=1).status is None, "nothing was asked"
    assert IDLE_DEADLINE - 1 <= ended - started < IDLE_DEADLINE + MARGIN


@pytest.mark.parametrize("pace", ["stall", "trickle"])
def test_a_request_slow_to_send_its_headers_is_closed_at_the_header_deadline(
    listener: Listener, send, pace
):
    started = time.monotonic()
    connection = send(listener.port, PARTIAL_HEADERS)

    ended = _until_answered(
        connection,
        started + HEADER_DEADLINE + MARGIN,
        drip=b"X-More: trickled\r\n" if pace == "trickle" else b"",
    )

    assert _answer(connection, timeout=1).status is None, "no request arrived to answer"
    assert ended - started < HEADER_DEADLINE + MARGIN


@pytest.mark.parametrize("pace", ["stall", "trickle"])
def test_a_body_slower_than_the_body_deadline_is_408_and_starves_no_one(
    body_listener: Listener, send, pace
):
    listener = body_listener
    started = time.monotonic()
    head = listener.post_head(framing=f"Content-Length: {DECLARED_BODY}")
    connection = send(listener.port, head + b'{"a')

    probes: list[float | None] = []
    ended = _until_answered(
        connection,
        started + BODY_DEADLINE + MARGIN,
        drip=b"a" if pace == "trickle" else b"",
        meanwhile=lambda: probes.append(_probe(listener.healthz)),
    )
    answer = _answer(connection, timeout=2)
    probes.append(_probe(listener.healthz))

    assert ended - started < BODY_DEADLINE + MARGIN
    if pace == "stall" or answer.status is not None:
        # A trickler may see the connection reset instead: bytes it sent after the deadline
        # were never read, and closing a socket with unread input resets it.
        assert answer.status == 408, (listener.name, answer)
        assert answer.headers["content-type"] == PROBLEM_JSON
        assert answer.headers["connection"] == "close"
        assert json.loads(answer.body)["status"] == 408
    assert None not in probes, (listener.name, probes)


def test_a_huge_chunk_size_then_silence_ends_promptly(listener: Listener, send):
    started = time.monotonic()
    head = listener.post_head(framing="Transfer-Encoding: chunked")
    connection = send(listener.port, head + b"FFFFFFFFFFFFFFFFFFFF\r\n{")

    ended = _until_answered(connection, started + BODY_DEADLINE + MARGIN)
    answer = _answer(connection, timeout=2)

    assert ended - started < BODY_DEADLINE + MARGIN
    assert answer.status in (400, 408, 413), (listener.name, answer)
    assert answer.headers["content-type"] == PROBLEM_JSON
    assert json.loads(answer.body)["status"] == answer.status
