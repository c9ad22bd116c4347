"""Misbehaving upstreams on real sockets, to see what the gateway makes of them.

Each listens on a free loopback port in a background thread and answers
every connection the same broken way.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable

Behaviour = Callable[[socket.socket], None]


def read_request_head(connection: socket.socket) -> bytes:
    """Read until the end of the request head (enough for these tests)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = connection.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


def answers_slowly(seconds: float) -> Behaviour:
    """Reads the request, then waits ``seconds`` before a 200."""

    def behave(connection: socket.socket) -> None:
        read_request_head(connection)
        time.sleep(seconds)
        connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}")

    return behave


def answers_garbage(connection: socket.socket) -> None:
    """Reads the request, then sends something that is not HTTP and hangs up."""
    read_request_head(connection)
    connection.sendall(b"this is not http\r\n\r\n")


def echoes_request_head(connection: socket.socket) -> None:
    """Answers 200 with the request head it received as a text body."""
    head = read_request_head(connection)
    connection.sendall(
        b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: close, X-Upstream-Secret\r\n"
        b"X-Upstream-Secret: 1\r\nKeep-Alive: timeout=5\r\n"
        b"Content-Length: " + str(len(head)).encode() + b"\r\n\r\n" + head
    )


class BrokenUpstream:
    """A TCP server whose every connection gets ``behaviour``."""

    def __init__(self, behaviour: Behaviour) -> None:
        self._behaviour = behaviour
        self._server = socket.create_server(("127.0.0.1", 0))
        self.port = self._server.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                connection, _ = self._server.accept()
            except OSError:
                return
            threading.Thread(target=self._handle, args=(connection,), daemon=True).start()

    def _handle(self, connection: socket.socket) -> None:
        with connection, contextlib.suppress(OSError):
            self._behaviour(connection)

    def close(self) -> None:
        """Stop accepting connections."""
        self._server.close()
