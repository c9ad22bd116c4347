"""The gunicorn worker every service runs: gevent, with read deadlines, its own errors problem+json.

One greenlet per connection (gunicorn's gevent worker, up to ``worker_connections``
each), so a client that sends slowly holds a little memory, not a thread, and a
few hundred of them leave everyone else's requests alone. Slow clients still
end, at one of two deadlines (seconds, from the environment):

* ``KEEPALIVE_IDLE_TIMEOUT`` (75, nginx's default): how long a connection may
  sit with no byte of a next request, new or kept alive. Past it the connection
  is closed. Idle connections cost a greenlet each, so thousands of clients may
  keep theirs open between requests.
* ``HEADER_READ_TIMEOUT`` (5): from the first byte of a request (or, when that
  came with the previous one, from when the worker turns to it) until its
  request line and headers are in. Past it the connection is closed, unanswered.
* ``BODY_READ_TIMEOUT`` (10): from when the headers are in until the application
  has read the whole body, however it trickles in. Past it the answer is 408
  problem+json and the connection closes; had the response begun, it only closes.

psycopg2 is made cooperative in each worker (``psycogreen``), so a query waits
on the gevent hub instead of stopping every connection of its worker.

Gunicorn answers some requests before any application sees them: a request
line over the limit (414), too many or too large headers (431), broken framing
(400), an unsupported transfer coding (501). It writes those as an HTML page
through ``gunicorn.util.write_error``, which has no hook or setting, so this
module replaces that one function in the worker processes that import it. The
status, reason and message stay gunicorn's; only the body and its type change.
"""

from __future__ import annotations

import json
import math
import os
import socket
import ssl
import time
import uuid
import weakref
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

import gevent  # type: ignore[import-untyped]
import gevent.socket  # type: ignore[import-untyped]
import psycopg2
import psycopg2.extensions
from gunicorn import http as gunicorn_http  # type: ignore[import-untyped]
from gunicorn import util
from gunicorn.http import wsgi as gunicorn_wsgi  # type: ignore[import-untyped]
from gunicorn.workers.ggevent import GeventWorker  # type: ignore[import-untyped]
from psycogreen.gevent import gevent_wait_callback, patch_psycopg  # type: ignore[import-untyped]

PROBLEM_JSON = "application/problem+json"
#: Seconds each deadline lasts unless the environment says otherwise.
DEFAULT_HEADER_READ_TIMEOUT = 5.0
DEFAULT_BODY_READ_TIMEOUT = 10.0
DEFAULT_KEEPALIVE_IDLE_TIMEOUT = 75.0

T = TypeVar("T")
StartResponse = Callable[..., Any]
WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


def _problem(status: int, reason: str, message: str) -> tuple[list[tuple[str, str]], bytes]:
    """Headers (but ``Connection``) and body of a problem+json answer the worker writes itself."""
    body = json.dumps(
        {
            "type": "about:blank",
            "title": reason,
            "status": status,
            "detail": message or reason,
        }
    ).encode("utf-8")
    headers = [
        ("Content-Type", PROBLEM_JSON),
        ("Content-Length", str(len(body))),
        ("X-Request-ID", uuid.uuid4().hex),
        ("X-Content-Type-Options", "nosniff"),
    ]
    return headers, body


def problem_answer(status: int, reason: str, message: str) -> bytes:
    """The whole HTTP/1.1 response for an error gunicorn found: problem+json, then close."""
    headers, body = _problem(status, reason, message)
    head = f"HTTP/1.1 {status} {reason}\r\nConnection: close\r\n" + "".join(
        f"{name}: {value}\r\n" for name, value in headers
    )
    return (head + "\r\n").encode("latin-1") + body


def write_problem(sock: socket.socket, status_int: int, reason: str, mesg: str) -> None:
    """Drop-in for ``gunicorn.util.write_error``."""
    util.write_nonblock(sock, problem_answer(status_int, reason, mesg))


util.write_error = write_problem


class _Captured:
    """Stands in for the socket while gunicorn writes a response head, keeping the bytes."""

    def __init__(self) -> None:
        self.data = b""

    def sendall(self, data: bytes) -> None:
        self.data += data


class OneWriteResponse(gunicorn_wsgi.Response):  # type: ignore[misc]
    """Gunicorn's HTTP/1 response, but the head leaves with the body's first piece, in one send.

    Gunicorn sends the status line and headers, then the body, as two writes: two
    segments on the wire, and a client (or the gateway reading a service) woken
    twice for one answer. Here the head is held until the first piece of the body
    (or the end of the response, or a ``sendfile``) and sent with it.
    """

    sock: Any
    _head: bytes | None = None

    def send_headers(self) -> None:
        """Build the head as gunicorn does, and hold it."""
        if self.headers_sent:
            return
        sock, captured = self.sock, _Captured()
        self.sock = captured
        try:
            super().send_headers()
        finally:
            self.sock = sock
        self._head = captured.data

    def _flush_head(self, tail: bytes = b"") -> None:
        head, self._head = self._head, None
        if head or tail:
            self.sock.sendall((head or b"") + tail)

    def _emit_body(self, data: bytes) -> None:
        if self._head is None:
            super()._emit_body(data)
        elif self.chunked:
            self._flush_head(b"%X\r\n%s\r\n" % (len(data), data))
        else:
            self._flush_head(data)

    def sendfile(self, respiter: Any) -> bool:
        """Send the head, then let gunicorn send the file (its own writes follow the head)."""
        self.send_headers()
        self._flush_head()
        sent: bool = super().sendfile(respiter)
        return sent

    def close(self) -> None:
        """Send what is held (a response with no body), and the last chunk if chunked."""
        self.send_headers()
        self._flush_head(b"0\r\n\r\n" if self.chunked else b"")


gunicorn_wsgi.Response = OneWriteResponse

#: The request parser of the connection each greenlet serves (to see its socket and
#: what it already read ahead); gunicorn makes the parser inside its ``handle``.
_PARSERS: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()
_make_parser = gunicorn_http.get_parser


def _recording_parser(*args: Any, **kwargs: Any) -> Any:
    parser = _make_parser(*args, **kwargs)
    _PARSERS[gevent.getcurrent()] = parser
    return parser


gunicorn_http.get_parser = _recording_parser


class IdleConnections:
    """The connections of a worker waiting for their next request, closed when it stops.

    Gunicorn's graceful stop waits, up to its graceful timeout, for every open
    connection to end; a kept-alive connection with no request in it has nothing to
    finish, but would hold the worker (and a rolling deploy) for the whole timeout.
    """

    def __init__(self) -> None:
        self.stopping = False
        self._waiting: weakref.WeakSet[Any] = weakref.WeakSet()

    def wait(self, fileno: int, idle_seconds: float) -> None:
        """Wait for ``fileno`` to be readable; ``StopIteration`` once idle or stopping."""
        if self.stopping:
            raise StopIteration("the worker is stopping")
        waiting = gevent.getcurrent()
        self._waiting.add(waiting)
        try:
            gevent.socket.wait_read(fileno, timeout=idle_seconds)
        except TimeoutError:
            raise StopIteration(f"idle for {idle_seconds:g} s") from None
        finally:
            self._waiting.discard(waiting)

    def close_all(self) -> None:
        """End every idle wait (gunicorn then closes those connections); no new ones.

        Safe in a signal handler, which may run inside a greenlet between
        :meth:`wait`'s check and its wait: the waits are ended from the hub, once
        every greenlet has reached its wait or seen ``stopping``.
        """
        self.stopping = True
        gevent.get_hub().loop.run_callback(self._end_waits)

    def _end_waits(self) -> None:
        for waiting in list(self._waiting):
            gevent.kill(waiting, StopIteration("the worker is stopping"))


#: This worker process's idle connections.
IDLE_CONNECTIONS = IdleConnections()


def wait_for_a_request(parser: Any, idle_seconds: float) -> None:
    """Return when a request's first byte is there; ``StopIteration`` after ``idle_seconds``,
    or at once when the worker is stopping.

    Bytes already read ahead (a pipelined request) count as there; so does a TLS
    record already decrypted.
    """
    unreader: Any = getattr(parser, "unreader", None)
    sock = getattr(unreader, "sock", None)
    if sock is None or unreader.buf.getvalue():
        return
    if isinstance(sock, ssl.SSLSocket) and sock.pending():
        return
    IDLE_CONNECTIONS.wait(sock.fileno(), idle_seconds)


def seconds_from_env(name: str, default: float) -> float:
    """A positive, finite number of seconds from the variable ``name``."""
    raw = os.environ.get(name, "").strip()
    try:
        seconds = float(raw) if raw else default
    except ValueError:
        seconds = math.nan
    if not (seconds > 0 and math.isfinite(seconds)):
        raise ValueError(f"{name} must be a positive number of seconds, not {raw!r}")
    return seconds


class BodyReadTimeout(BaseException):
    """The request body did not arrive by its deadline.

    A ``BaseException``, like ``gevent.Timeout``, so that the application's own
    ``except Exception`` cannot turn it into something else on its way back to
    the worker: Werkzeug reads a failed read as a client disconnect (400), the
    services' chunked-body reader as broken framing (400), anything else is a 500.
    """


class DeadlineBody:
    """``wsgi.input`` whose every read ends by one deadline for the whole body.

    Gunicorn has no body deadline setting (its ``timeout`` is for the worker's
    heartbeat), so it is hand-written here around gunicorn's own body reader.
    """

    def __init__(self, body: Any, request: Any, deadline: float, seconds: float) -> None:
        self._body = body
        self._request = request
        self._deadline = deadline
        self._seconds = seconds

    def _by_deadline(self, read: Callable[..., T], *args: Any) -> T:
        # A read that finds its bytes already arrived does not wait, so it succeeds
        # even past the deadline; only waiting for bytes that are late is cut short.
        late = BodyReadTimeout(f"The request body did not arrive within {self._seconds:g} s")
        try:
            with gevent.Timeout(max(self._deadline - time.monotonic(), 0.0), late):
                return read(*args)
        except BodyReadTimeout:
            # The rest of the body is still coming: the connection cannot carry another request.
            self._request.must_close = True
            raise

    def read(self, size: int | None = None) -> bytes:
        """Up to ``size`` bytes (all that is left when None)."""
        data: bytes = self._by_deadline(self._body.read, size)
        return data

    def readline(self, size: int | None = None) -> bytes:
        """One line, of at most ``size`` bytes."""
        line: bytes = self._by_deadline(self._body.readline, size)
        return line

    def readlines(self, hint: int | None = None) -> list[bytes]:
        """Every line left."""
        lines: list[bytes] = self._by_deadline(self._body.readlines, hint)
        return lines

    def __iter__(self) -> Iterator[bytes]:
        return self

    def __next__(self) -> bytes:
        line = self.readline()
        if not line:
            raise StopIteration
        return line


class AnswerLateBodies:
    """WSGI middleware: 408 problem+json for a body that missed its deadline before the answer."""

    def __init__(self, app: WsgiApp, log: Any) -> None:
        self.app = app
        self.log = log

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        began = False

        def start(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            nonlocal began
            began = True
            return start_response(status, headers, exc_info)

        try:
            return self.app(environ, start)
        except BodyReadTimeout as late:
            if began:
                raise  # too late for a status line: the worker ends the connection
            self.log.warning(
                "Request body too slow from ip=%s: %s", environ.get("REMOTE_ADDR"), late
            )
            headers, body = _problem(408, "Request Timeout", str(late))
            start_response("408 Request Timeout", headers)
            return [body]


def _green_wait(connection: Any, timeout: float | None = None) -> None:
    """psycogreen's wait callback, but a connection attempt keeps its ``connect_timeout``.

    libpq enforces ``connect_timeout`` only while it blocks; a cooperative connect
    polls instead, and to a host that never answers it would wait forever.
    """
    if connection.status != psycopg2.extensions.STATUS_SETUP:
        gevent_wait_callback(connection, timeout)
        return
    limit = psycopg2.extensions.parse_dsn(connection.dsn).get("connect_timeout")
    expired = psycopg2.OperationalError("timeout expired")
    with gevent.Timeout(float(limit) if limit else None, expired):
        gevent_wait_callback(connection, timeout)


class ProblemGeventWorker(GeventWorker):  # type: ignore[misc]
    """Gunicorn's gevent worker with header and body deadlines; its error pages are problem+json."""

    wsgi: WsgiApp

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.header_read_timeout = seconds_from_env(
            "HEADER_READ_TIMEOUT", DEFAULT_HEADER_READ_TIMEOUT
        )
        self.body_read_timeout = seconds_from_env("BODY_READ_TIMEOUT", DEFAULT_BODY_READ_TIMEOUT)
        self.idle_timeout = seconds_from_env(
            "KEEPALIVE_IDLE_TIMEOUT", DEFAULT_KEEPALIVE_IDLE_TIMEOUT
        )

    def patch(self) -> None:
        """Monkey-patch as gunicorn does, then make psycopg2 wait on the hub too."""
        super().patch()
        patch_psycopg()  # fails loudly if this psycopg2 cannot wait cooperatively
        psycopg2.extensions.set_wait_callback(_green_wait)

    def timeout_ctx(self) -> Any:
        """The header deadline, started once the next request's first byte is there.

        Gunicorn's async worker reads each request line and headers (and drains an
        unread body before the next request) inside this context, which closes the
        connection silently when it expires; gevent's worker sizes it by
        ``keepalive``, an unrelated setting, so it is named for what it bounds.
        Before it starts, the connection may wait idle up to the idle timeout
        (``StopIteration`` then: gunicorn closes the connection).
        """
        parser = _PARSERS.get(gevent.getcurrent())
        if parser is not None and self.idle_timeout > self.header_read_timeout:
            wait_for_a_request(parser, self.idle_timeout)
        return gevent.Timeout(self.header_read_timeout, False)

    def handle_exit(self, sig: Any, frame: Any) -> None:
        """Stop gracefully: requests in progress finish, idle connections close now."""
        super().handle_exit(sig, frame)
        IDLE_CONNECTIONS.close_all()

    def load_wsgi(self) -> None:
        """Load the application, wrapped to answer 408 to a late body."""
        super().load_wsgi()
        self.wsgi = AnswerLateBodies(self.wsgi, self.log)

    def handle_request(self, listener_name: Any, req: Any, sock: Any, addr: Any) -> Any:
        """Serve one request whose body (``wsgi.input``) must arrive by the body deadline."""
        body = req.body
        req.body = DeadlineBody(
            body, req, time.monotonic() + self.body_read_timeout, self.body_read_timeout
        )
        try:
            return super().handle_request(listener_name, req, sock, addr)
        except BodyReadTimeout:
            raise StopIteration from None  # the answer had begun: only closing is left
        finally:
            # What the application left unread is drained under the header deadline.
            req.body = body
