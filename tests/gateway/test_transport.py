"""The upstream transport on real sockets: kept-alive calls, streamed bodies, every way to fail."""

from __future__ import annotations

import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from gateway.edge.transport import (
    BrokenAnswer,
    Busy,
    Connection,
    ConnectTimedOut,
    Exchange,
    InstanceConnections,
    ReadTimedOut,
    Unreachable,
    Unsent,
)
from gateway.edge.upstream import transport_problem
from tests.support.processes import free_port
from tests.support.upstreams import BrokenUpstream, read_request_head

TIMEOUTS = {"connect_timeout": 1.0, "read_timeout": 2.0}


class Counted:
    """A behaviour run per connection, counting the connections and the requests it saw."""

    def __init__(self, per_request: Callable[[socket.socket, bytes], bool]) -> None:
        self._per_request = per_request
        self.connections = 0
        self.heads: list[bytes] = []
        self._lock = threading.Lock()

    def __call__(self, connection: socket.socket) -> None:
        with self._lock:
            self.connections += 1
        while True:
            head = read_request_head(connection)
            if not head:
                return
            self.heads.append(head)
            if not self._per_request(connection, head):
                return


@pytest.fixture
def serve() -> Iterator[Callable[[Callable[[socket.socket, bytes], bool]], tuple[Counted, str]]]:
    servers: list[BrokenUpstream] = []

    def start(per_request: Callable[[socket.socket, bytes], bool]) -> tuple[Counted, str]:
        counted = Counted(per_request)
        servers.append(BrokenUpstream(counted))
        return counted, servers[-1].url

    yield start
    for server in servers:
        server.close()


def json_answer(connection: socket.socket, head: bytes) -> bool:
    body = b'{"ok": true}'
    connection.sendall(
        b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nETag: "7"\r\n'
        b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
    )
    return True


def test_answers_come_whole_and_the_connection_carries_the_next_call(serve) -> None:
    counted, url = serve(json_answer)
    pool = InstanceConnections(url, max_idle=4)

    first = pool.call("GET", "/customers/1?x=1", {"X-Request-ID": "abc"}, b"", **TIMEOUTS)
    second = pool.call("GET", "/customers/2", {}, b"", **TIMEOUTS)

    assert (first.status, first.body, first.streaming) == (200, b'{"ok": true}', None)
    assert ("ETag", '"7"') in first.headers
    assert ("Content-Type", "application/json") in first.headers
    assert second.body == b'{"ok": true}'
    assert counted.connections == 1
    assert counted.heads[0].startswith(b"GET /customers/1?x=1 HTTP/1.1\r\n")
    assert f"Host: 127.0.0.1:{pool.port}\r\n".encode() in counted.heads[0]
    assert b"X-Request-ID: abc\r\n" in counted.heads[0]


def test_a_body_is_sent_with_its_length_and_an_empty_post_says_zero(serve) -> None:
    received: list[bytes] = []

    def echo_body(connection: socket.socket, head: bytes) -> bool:
        _, _, rest = head.partition(b"\r\n\r\n")
        length = int(head.split(b"Content-Length: ")[1].split(b"\r\n")[0])
        while len(rest) < length:
            rest += connection.recv(65536)
        received.append(rest)
        return json_answer(connection, head)

    counted, url = serve(echo_body)
    pool = InstanceConnections(url, max_idle=4)
    pool.call("POST", "/customers", {"Content-Type": "application/json"}, b'{"n": 1}', **TIMEOUTS)
    pool.call("POST", "/customers/1/restore", {}, b"", **TIMEOUTS)

    assert received == [b'{"n": 1}', b""]
    assert b"Content-Length: 8\r\n" in counted.heads[0]
    assert b"Content-Length: 0\r\n" in counted.heads[1]


def test_a_chunked_answer_streams_piece_by_piece_then_frees_its_connection(serve) -> None:
    def chunked(connection: socket.socket, head: bytes) -> bool:
        connection.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nid,na\r\n")
        time.sleep(0.05)
        connection.sendall(b"3\r\nme\n\r\n0\r\n\r\n")
        return True

    counted, url = serve(chunked)
    pool = InstanceConnections(url, max_idle=4)
    exchange = pool.call("GET", "/customers/export", {}, b"", **TIMEOUTS)

    assert exchange.body == b""
    assert exchange.streaming is not None
    assert b"".join(exchange.streaming) == b"id,name\n"
    assert not exchange.streaming.open
    pool.call("GET", "/customers/export", {}, b"", **TIMEOUTS).streaming.close()  # type: ignore[union-attr]
    assert counted.connections == 1


def test_a_stream_closed_before_its_end_closes_its_connection(serve) -> None:
    def endless(connection: socket.socket, head: bytes) -> bool:
        connection.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nid,na\r\n")
        time.sleep(1)
        return False

    counted, url = serve(endless)
    pool = InstanceConnections(url, max_idle=4)
    exchange = pool.call("GET", "/export", {}, b"", **TIMEOUTS)
    assert exchange.streaming is not None
    assert next(iter(exchange.streaming)) == b"id,na"
    exchange.streaming.close()

    pool.call("GET", "/export", {}, b"", **TIMEOUTS).streaming.close()  # type: ignore[union-attr]
    assert counted.connections == 2


def test_a_body_without_a_length_ends_with_its_connection(serve) -> None:
    def until_close(connection: socket.socket, head: bytes) -> bool:
        connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nall of it")
        return False

    counted, url = serve(until_close)
    pool = InstanceConnections(url, max_idle=4)
    exchange = pool.call("GET", "/", {}, b"", **TIMEOUTS)
    assert exchange.streaming is not None
    assert b"".join(exchange.streaming) == b"all of it"
    pool.call("GET", "/", {}, b"", **TIMEOUTS).streaming.close()  # type: ignore[union-attr]
    assert counted.connections == 2


def test_a_connection_the_instance_closed_while_idle_is_dropped_not_failed(serve) -> None:
    def one_per_connection(connection: socket.socket, head: bytes) -> bool:
        json_answer(connection, head)
        return False  # the instance hangs up after each answer, without saying so

    counted, url = serve(one_per_connection)
    pool = InstanceConnections(url, max_idle=4)
    pool.call("GET", "/a", {}, b"", **TIMEOUTS)
    time.sleep(0.1)  # the close reaches this end
    assert pool.call("GET", "/b", {}, b"", **TIMEOUTS).status == 200
    assert counted.connections == 2


def test_connection_close_and_head_answers(serve) -> None:
    def answers(connection: socket.socket, head: bytes) -> bool:
        if head.startswith(b"HEAD"):
            connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 512\r\n\r\n")
            return True
        connection.sendall(b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n")
        return False

    counted, url = serve(answers)
    pool = InstanceConnections(url, max_idle=4)
    assert pool.call("HEAD", "/", {}, b"", **TIMEOUTS).body == b""
    assert pool.call("DELETE", "/", {}, b"", **TIMEOUTS).status == 204  # on the kept connection
    assert pool.call("HEAD", "/", {}, b"", **TIMEOUTS).status == 200  # a new one: "close" held
    assert counted.connections == 2


def test_idle_connections_kept_are_at_most_max_idle(serve) -> None:
    _, url = serve(json_answer)
    pool = InstanceConnections(url, max_idle=1)
    held = [pool._checkout(1.0) for _ in range(3)]
    for connection in held:
        pool._checkin(connection)
    assert len(pool._idle) == 1
    pool.close()
    assert len(pool._idle) == 0


def read_whole(exchange: Exchange) -> bytes:
    """The answer's body, read to its end if it streams."""
    return exchange.body if exchange.streaming is None else b"".join(exchange.streaming)


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (b"this is not http\r\n\r\n", "not an HTTP answer"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n{}", "closed before the answer ended"),
        (b"HTTP/1.1 200 OK\r\nContent-Le", "closed before the answer ended"),
        (b"", "closed without an answer"),
        (b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", "interim"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab", "closed before"),
    ],
)
def test_a_broken_answer_is_a_broken_answer(serve, answer: bytes, message: str) -> None:
    def broken(connection: socket.socket, head: bytes) -> bool:
        connection.sendall(answer)
        return False

    _, url = serve(broken)
    pool = InstanceConnections(url, max_idle=4)
    with pytest.raises(BrokenAnswer, match=message) as raised:
        read_whole(pool.call("GET", "/", {}, b"", **TIMEOUTS))
    assert raised.value.outcome == "bad_response"
    assert not raised.value.never_sent
    assert len(pool._idle) == 0


def test_no_answer_in_time_is_a_read_timeout(serve) -> None:
    def silent(connection: socket.socket, head: bytes) -> bool:
        time.sleep(2)
        return False

    _, url = serve(silent)
    pool = InstanceConnections(url, max_idle=4)
    started = time.monotonic()
    with pytest.raises(ReadTimedOut) as raised:
        pool.call("GET", "/", {}, b"", connect_timeout=1.0, read_timeout=0.3)
    assert time.monotonic() - started < 1.5
    assert (raised.value.outcome, raised.value.never_sent) == ("timeout", False)


def test_nothing_listening_is_unreachable_and_never_sent() -> None:
    pool = InstanceConnections(f"http://127.0.0.1:{free_port()}", max_idle=4)
    with pytest.raises(Unreachable) as raised:
        pool.call("POST", "/", {}, b"{}", **TIMEOUTS)
    assert (raised.value.outcome, raised.value.never_sent) == ("unreachable", True)


def test_an_address_that_never_answers_is_a_connect_timeout() -> None:
    # A listening socket whose backlog is full leaves further connects unanswered.
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(0)
    fillers = []
    try:
        for _ in range(8):
            filler = socket.socket()
            filler.setblocking(False)
            filler.connect_ex(server.getsockname())
            fillers.append(filler)
        pool = InstanceConnections(f"http://127.0.0.1:{server.getsockname()[1]}", max_idle=4)
        with pytest.raises(ConnectTimedOut) as raised:
            pool.call("GET", "/", {}, b"", connect_timeout=0.3, read_timeout=1.0)
        assert (raised.value.outcome, raised.value.never_sent) == ("timeout", True)
    finally:
        for filler in fillers:
            filler.close()
        server.close()


def test_a_line_break_in_a_header_is_refused_before_anything_is_sent(serve) -> None:
    counted, url = serve(json_answer)
    pool = InstanceConnections(url, max_idle=4)
    with pytest.raises(ValueError, match="line break"):
        pool.call("GET", "/", {"X-Evil": "a\r\nX-Injected: 1"}, b"", **TIMEOUTS)
    assert counted.connections == 0


def reset_after_answer(connection: socket.socket, head: bytes) -> bool:
    """Answers, then resets the connection (no FIN: a later write on it fails)."""
    json_answer(connection, head)
    connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    return False


def test_a_kept_connection_reset_after_its_check_is_replaced_for_the_write(
    serve, monkeypatch: pytest.MonkeyPatch
) -> None:
    counted, url = serve(reset_after_answer)
    pool = InstanceConnections(url, max_idle=4)
    pool.call("GET", "/a", {}, b"", **TIMEOUTS)
    time.sleep(0.1)
    # As if the reset came between the check before reuse and the write.
    monkeypatch.setattr(Connection, "dropped", lambda self: False)

    assert pool.call("POST", "/b", {}, b"{}", **TIMEOUTS).status == 200
    assert counted.connections == 2


def test_a_connection_reset_before_the_request_is_taken_is_a_transport_error() -> None:
    # A server that resets every connection it accepts, before reading anything.
    server = socket.create_server(("127.0.0.1", 0))

    def reset_all() -> None:
        while True:
            try:
                connection, _ = server.accept()
            except OSError:
                return
            connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            connection.close()

    threading.Thread(target=reset_all, daemon=True).start()
    pool = InstanceConnections(f"http://127.0.0.1:{server.getsockname()[1]}", max_idle=4)
    try:
        # Where the reset lands decides which; a bare OSError would be a 500.
        with pytest.raises((Unreachable, Unsent, BrokenAnswer)) as raised:
            pool.call("POST", "/", {}, b"x" * 4_000_000, **TIMEOUTS)
    finally:
        server.close()
    if not isinstance(raised.value, BrokenAnswer):
        assert (raised.value.outcome, raised.value.never_sent) == ("unreachable", True)


def test_calls_past_max_in_flight_wait_their_turn_and_all_get_their_answer(serve) -> None:
    in_flight = 0
    most = 0
    lock = threading.Lock()

    def slow(connection: socket.socket, head: bytes) -> bool:
        nonlocal in_flight, most
        with lock:
            in_flight += 1
            most = max(most, in_flight)
        time.sleep(0.05)
        with lock:
            in_flight -= 1
        return json_answer(connection, head)

    _, url = serve(slow)
    pool = InstanceConnections(url, max_idle=8, max_in_flight=2)
    statuses: list[int] = []

    def call() -> None:
        statuses.append(pool.call("GET", "/customers/1", {}, b"", **TIMEOUTS).status)

    callers = [threading.Thread(target=call) for _ in range(8)]
    for caller in callers:
        caller.start()
    for caller in callers:
        caller.join()

    assert statuses == [200] * 8
    assert most == 2


def test_a_call_that_waits_past_its_read_timeout_for_room_is_busy_and_never_sent(serve) -> None:
    def slow(connection: socket.socket, head: bytes) -> bool:
        time.sleep(0.5)
        return json_answer(connection, head)

    counted, url = serve(slow)
    pool = InstanceConnections(url, max_idle=4, max_in_flight=1)
    holder = threading.Thread(target=pool.call, args=("GET", "/slow", {}, b""), kwargs=TIMEOUTS)
    holder.start()
    time.sleep(0.1)

    with pytest.raises(Busy) as busy:
        pool.call("GET", "/waits", {}, b"", connect_timeout=1.0, read_timeout=0.1)
    holder.join()

    assert busy.value.never_sent
    assert [head.split(b" ")[1] for head in counted.heads] == [b"/slow"]
    # The slow call ended, and made room.
    assert pool.call("GET", "/next", {}, b"", **TIMEOUTS).status == 200


def test_a_streamed_answer_holds_its_place_until_it_is_read_or_closed(serve) -> None:
    def chunked(connection: socket.socket, head: bytes) -> bool:
        connection.sendall(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n"
        )
        return True

    _, url = serve(chunked)
    pool = InstanceConnections(url, max_idle=4, max_in_flight=1)
    quick = {"connect_timeout": 1.0, "read_timeout": 0.2}

    first = pool.call("GET", "/export", {}, b"", **quick)
    assert first.streaming is not None
    with pytest.raises(Busy):
        pool.call("GET", "/export", {}, b"", **quick)
    assert b"".join(first.streaming) == b"ok"  # read to its end: room again

    second = pool.call("GET", "/export", {}, b"", **quick)
    assert second.streaming is not None
    second.streaming.close()
    second.streaming.close()  # a second close frees nothing more
    third = pool.call("GET", "/export", {}, b"", **quick)
    assert third.streaming is not None
    with pytest.raises(Busy):
        pool.call("GET", "/export", {}, b"", **quick)
    third.streaming.close()


def test_a_failed_call_makes_room_for_the_next() -> None:
    pool = InstanceConnections(f"http://127.0.0.1:{free_port()}", max_idle=4, max_in_flight=1)
    for _ in range(3):
        with pytest.raises(Unreachable):
            pool.call("GET", "/", {}, b"", connect_timeout=1.0, read_timeout=0.2)


def test_a_busy_instance_is_a_503_to_the_client() -> None:
    outcome, problem = transport_problem("customer_service", Busy("no room"), 10.0)

    assert (outcome, problem.status) == ("timeout", 503)
    assert "too busy" in str(problem)
