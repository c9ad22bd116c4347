"""HTTP/1.1 to one service instance: kept-alive connections and answers parsed by llhttp.

The gateway's upstream calls are all alike: one request written whole, one
answer read back on a connection kept for the next call. urllib3 (over
``http.client``, whose header parsing goes through ``email.feedparser``) spent
about ten times the CPU of this module per call, more than the rest of the
gateway's work on a forwarded call (see README, "The gateway next to a plain
proxy"). Here the request is written in one ``sendall`` and the answer is
parsed by ``httptools`` (the Python binding of llhttp, Node.js's HTTP parser,
maintained by the uvloop/uvicorn authors); what remains of ours is the pool.

:class:`InstanceConnections` keeps up to ``max_idle`` idle connections to one
instance, newest first (a call made when all are busy opens one more, closed
after use if the pool is full: urllib3's ``block=False``). A kept connection is
checked before reuse: one the instance closed while it sat idle reads as
readable, and is dropped instead of failing the call.

Failures are :class:`TransportError` subclasses, each saying whether the
request can have reached the service (``never_sent``) and the outcome label
the metrics use.
"""

from __future__ import annotations

import socket
import ssl
import threading
from collections import deque
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

import httptools

#: Bytes read from the socket at a time.
READ_BYTES = 65_536
#: Methods whose requests carry a Content-Length even when empty (as http.client sends them).
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


class TransportError(Exception):
    """A call that got no complete answer."""

    #: The metrics' outcome label.
    outcome = "bad_response"
    #: True when the request cannot have reached the service (safe to send elsewhere).
    never_sent = False


class Unreachable(TransportError):
    """The instance refused the connection, or its address cannot be reached."""

    outcome = "unreachable"
    never_sent = True


class ConnectTimedOut(TransportError):
    """The instance did not accept a connection in time."""

    outcome = "timeout"
    never_sent = True


class Unsent(TransportError):
    """The instance took the connection but not the request (reset, or closed, mid-write)."""

    outcome = "unreachable"
    never_sent = True


class Busy(TransportError):
    """Every call this process may have in flight to the instance stayed busy too long."""

    outcome = "timeout"
    never_sent = True


class ReadTimedOut(TransportError):
    """The instance took the request but did not answer in time."""

    outcome = "timeout"


class BrokenAnswer(TransportError):
    """The answer was not HTTP, or the connection ended before it did."""


def _checked(text: str) -> str:
    """``text`` for a request head; a line break in it would start a header of its own."""
    if "\r" in text or "\n" in text:
        raise ValueError(f"a line break in a request header: {text!r}")
    return text


class _Answer:
    """llhttp's callbacks for one answer: its headers, its body pieces, whether it ended."""

    __slots__ = (
        "complete",
        "has_length",
        "headers",
        "headers_done",
        "keep_alive",
        "parser",
        "pieces",
        "received",
        "status",
    )

    def __init__(self) -> None:
        # A cycle (the parser calls back here), broken by :meth:`done` once the answer is read.
        self.parser: httptools.HttpResponseParser | None = httptools.HttpResponseParser(self)
        self.status = 0
        #: llhttp's verdict, taken when the head ends (it forgets it once the message ends).
        self.keep_alive = False
        self.headers: list[tuple[str, str]] = []
        self.pieces: list[bytes] = []
        self.headers_done = False
        self.complete = False
        self.has_length = False
        #: Whether any byte of it has arrived.
        self.received = False

    def on_header(self, name: bytes, value: bytes) -> None:
        text = name.decode("latin-1")
        if text.lower() == "content-length":
            self.has_length = True
        self.headers.append((text, value.decode("latin-1")))

    def on_headers_complete(self) -> None:
        if self.headers_done:
            # A second answer in the same read: only after an interim one, refused below.
            return
        self.headers_done = True
        assert self.parser is not None
        self.status = self.parser.get_status_code()
        self.keep_alive = self.parser.should_keep_alive()

    def feed(self, data: bytes) -> None:
        """Parse ``data`` (the callbacks above fill this answer)."""
        assert self.parser is not None
        self.parser.feed_data(data)

    def done(self) -> None:
        """Forget the parser."""
        self.parser = None

    def on_body(self, piece: bytes) -> None:
        self.pieces.append(piece)

    def on_message_complete(self) -> None:
        self.complete = True


class Connection:
    """One connection to an instance, carrying one call at a time."""

    __slots__ = ("reused", "sock")

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.reused = False

    def close(self) -> None:
        """Close the socket (closing twice does nothing)."""
        self.sock.close()

    def dropped(self) -> bool:
        """Whether the other end has closed (or written out of turn) since the last answer."""
        sock = self.sock
        try:
            sock.settimeout(0.0)
            sock.recv(1, socket.MSG_PEEK)
        except BlockingIOError:
            return False  # nothing to read: still open and quiet
        except OSError:
            return True
        return True  # end of stream, or bytes nobody asked for


@dataclass(frozen=True)
class Exchange:
    """An answer's head, and its body whole or to be read (:meth:`InstanceConnections.stream`)."""

    status: int
    headers: list[tuple[str, str]]
    #: The whole body (empty when it is read as it arrives: ``streaming``).
    body: bytes
    streaming: Streaming | None


class InstanceConnections:
    """Kept-alive connections to one instance (``http://host:port``) and calls over them."""

    def __init__(self, url: str, *, max_idle: int, max_in_flight: int | None = None) -> None:
        parts = urlsplit(url)
        self.host = parts.hostname or "127.0.0.1"
        self._tls = parts.scheme == "https"
        self.port = parts.port or (443 if self._tls else 80)
        self._host_header = f"{self.host}:{self.port}"
        self._max_idle = max_idle
        self._idle: deque[Connection] = deque()
        self._tls_context = ssl.create_default_context() if self._tls else None
        # Calls past ``max_in_flight`` wait their turn here, first come first served (a
        # green semaphore under gevent): a service given a thousand calls at once spends
        # more per call than one given them a hundred at a time.
        self._slots = threading.BoundedSemaphore(max_in_flight) if max_in_flight else None

    def _connect(self, connect_timeout: float) -> Connection:
        try:
            sock = socket.create_connection((self.host, self.port), timeout=connect_timeout)
        except TimeoutError as error:
            raise ConnectTimedOut(str(error) or "connect timed out") from None
        except OSError as error:
            raise Unreachable(str(error)) from None
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self._tls_context is not None:
            try:
                sock = self._tls_context.wrap_socket(sock, server_hostname=self.host)
            except OSError as error:
                sock.close()
                raise Unreachable(f"TLS: {error}") from None
        return Connection(sock)

    def _checkout(self, connect_timeout: float) -> Connection:
        while self._idle:
            try:
                connection = self._idle.pop()
            except IndexError:
                break
            if connection.dropped():
                connection.close()
                continue
            connection.reused = True
            return connection
        return self._connect(connect_timeout)

    def _checkin(self, connection: Connection) -> None:
        if len(self._idle) < self._max_idle:
            self._idle.append(connection)
        else:
            connection.close()

    def close(self) -> None:
        """Close every idle connection (those in use close when their call ends)."""
        while self._idle:
            self._idle.pop().close()

    def _head(self, method: str, target: str, headers: Mapping[str, str], body: bytes) -> bytes:
        lines = [f"{method} {_checked(target)} HTTP/1.1\r\nHost: {self._host_header}\r\n"]
        for name, value in headers.items():
            lines.append(f"{_checked(name)}: {_checked(value)}\r\n")
        if body or method in _BODY_METHODS:
            lines.append(f"Content-Length: {len(body)}\r\n")
        lines.append("\r\n")
        return "".join(lines).encode("latin-1")

    def call(
        self,
        method: str,
        target: str,
        headers: Mapping[str, str],
        body: bytes,
        *,
        connect_timeout: float,
        read_timeout: float,
    ) -> Exchange:
        """Send one request; the answer's head, with its body read whole if it has a length.

        An answer without a length (chunked: a streamed export) comes back with
        ``streaming`` set, its connection held until the body has been read or
        the stream is closed.
        """
        request = self._head(method, target, headers, body)
        if body:
            request += body
        if self._slots is not None and not self._slots.acquire(timeout=read_timeout):
            raise Busy("no call to the instance ended in time to make room for this one")
        try:
            exchange = self._exchange(method, request, connect_timeout, read_timeout)
        except BaseException:
            self._release()
            raise
        # A streamed answer keeps its place until its body has been read or closed.
        if exchange.streaming is None:
            self._release()
        return exchange

    def _exchange(
        self, method: str, request: bytes, connect_timeout: float, read_timeout: float
    ) -> Exchange:
        connection = self._sent(request, connect_timeout, read_timeout)
        answer = _Answer()
        try:
            while not answer.headers_done:
                self._feed(connection, answer)
            status = answer.status
            if status < 200:
                # The gateway sends no ``Expect`` and asks for no upgrade: none is due.
                raise BrokenAnswer(f"an interim answer ({status}) nobody asked for")
            if method == "HEAD" or status in (204, 304):
                answer.complete = True
            elif not answer.has_length:
                # Relayed as it comes, even when it all came at once: the client gets the
                # answer as the service framed it (chunked), whatever the timing.
                return Exchange(status, answer.headers, b"", Streaming(self, connection, answer))
            while not answer.complete:
                self._feed(connection, answer)
        except BaseException:
            answer.done()
            connection.close()
            raise
        self._finished(connection, answer)
        return Exchange(status, answer.headers, b"".join(answer.pieces), None)

    def _release(self) -> None:
        """Make room for one more call: one has ended (a streamed answer's, once read or closed)."""
        if self._slots is not None:
            self._slots.release()

    def _sent(self, request: bytes, connect_timeout: float, read_timeout: float) -> Connection:
        """The connection ``request`` was written on whole.

        A kept connection the instance closed after the check before reuse fails
        the write: the request goes once more on a new connection. A request not
        written whole cannot have been served, so a failure here is never sent.
        """
        connection = self._checkout(connect_timeout)
        while True:
            try:
                connection.sock.settimeout(read_timeout)
                connection.sock.sendall(request)
            except OSError as error:
                connection.close()
                if connection.reused:
                    connection = self._connect(connect_timeout)
                    continue
                raise Unsent(f"could not send the request: {error}") from None
            return connection

    def _feed(self, connection: Connection, answer: _Answer) -> None:
        """Read once from the connection into ``answer``'s parser."""
        try:
            data = connection.sock.recv(READ_BYTES)
        except TimeoutError:
            raise ReadTimedOut("read timed out") from None
        except OSError as error:
            raise BrokenAnswer(f"connection broken: {error}") from None
        if not data:
            if answer.headers_done and not answer.has_length and not _is_chunked(answer):
                answer.complete = True  # a body that ends with the connection (not kept)
                answer.keep_alive = False
                return
            raise BrokenAnswer(
                "connection closed before the answer ended"
                if answer.received
                else "connection closed without an answer"
            )
        answer.received = True
        try:
            answer.feed(data)
        except httptools.HttpParserUpgrade:
            raise BrokenAnswer("the service asked to switch protocols") from None
        except httptools.HttpParserError as error:
            raise BrokenAnswer(f"not an HTTP answer: {error}") from None

    def _finished(self, connection: Connection, answer: _Answer) -> None:
        """The answer has been read whole: keep the connection, or close it if it cannot go on."""
        answer.done()
        if answer.keep_alive:
            self._checkin(connection)
        else:
            connection.close()


def _is_chunked(answer: _Answer) -> bool:
    return any(
        name.lower() == "transfer-encoding" and "chunked" in value.lower()
        for name, value in answer.headers
    )


class Streaming:
    """The body of an answer without a length, read from the instance as it is taken.

    Iterating yields each piece as it arrives; the connection goes back to the
    pool once the body has been read to its end. :meth:`close` before that
    closes the connection, which cannot carry another request. A service that
    breaks off mid-body raises :class:`TransportError` from the iteration.
    """

    def __init__(
        self,
        pool: InstanceConnections,
        connection: Connection,
        answer: _Answer,
    ) -> None:
        self._pool = pool
        self._connection: Connection | None = connection
        self._answer = answer
        self._in_flight = True

    def __iter__(self) -> Iterator[bytes]:
        answer = self._answer
        try:
            while True:
                if answer.pieces:
                    pieces, answer.pieces = answer.pieces, []
                    yield b"".join(pieces)
                if answer.complete or self._connection is None:
                    break
                self._pool._feed(self._connection, answer)
            if self._connection is not None and answer.complete:
                connection, self._connection = self._connection, None
                self._pool._finished(connection, answer)
        finally:
            self.close()

    @property
    def open(self) -> bool:
        """Whether the body is still being read (its connection held)."""
        return self._connection is not None

    def close(self) -> None:
        """Close the connection if the body was not read to its end (a second call does nothing)."""
        if self._connection is not None:
            self._answer.done()
            self._connection.close()
            self._connection = None
        if self._in_flight:
            self._in_flight = False
            self._pool._release()
