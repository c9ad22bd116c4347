"""The one runner every long-running worker process uses (relay, consumers).

``run_worker`` gives a worker what gunicorn gives a web process:

* JSON logs on stdout, stamped with the event id being handled;
* ``GET /metrics``, ``/healthz`` and ``/readyz`` on its own listener
  (``METRICS_BIND``, ``host:port``), for Prometheus and the orchestrator's probes:
  ``/healthz`` answers 200 while the work loop is alive (it beats at least every
  ``liveness_seconds``), ``/readyz`` 200 only while its dependencies answer, with
  the reason in the body when they don't;
* a graceful stop on SIGTERM or SIGINT: the work function sees ``state.stopping``
  set, finishes or releases its current batch and returns;
* when the broker or the database is away (a ``transient`` error), it says so
  in ``/readyz`` and the log, counts it, and starts the work again after an
  exponential back-off with jitter, instead of exiting into a silent crash loop.
"""

from __future__ import annotations

import json
import logging
import random
import signal
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from socketserver import ThreadingMixIn
from types import FrameType
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import REGISTRY, Counter, Gauge, make_wsgi_app

from shared.logs import configure_logging

logger = logging.getLogger(__name__)

RESTARTS = Counter(
    "worker_restarts_total", "Times the work loop started again after an error", ["reason"]
)
READY = Gauge("worker_ready", "1 while the worker's dependencies answer, else 0")


@dataclass
class WorkerState:
    """What the work function and the health listener share."""

    liveness_seconds: float = 60.0
    stopping: threading.Event = field(default_factory=threading.Event)
    _ready: bool = False
    _detail: str = "starting"
    _beat: float = field(default_factory=time.monotonic)

    def ready(self) -> None:
        """The dependencies answer; the worker is doing its job."""
        self._ready, self._detail = True, "ok"
        READY.set(1)
        self.beat()

    def not_ready(self, detail: str) -> None:
        """A dependency is away; ``detail`` says which and why."""
        self._ready, self._detail = False, detail
        READY.set(0)

    def beat(self) -> None:
        """The work loop is alive (call it at least every ``liveness_seconds``)."""
        self._beat = time.monotonic()

    def wait(self, seconds: float) -> bool:
        """Sleep up to ``seconds``, waking at once on stop; True if it is time to stop."""
        return self.stopping.wait(seconds)

    @property
    def is_ready(self) -> bool:
        """Whether ``/readyz`` answers 200."""
        return self._ready and not self.stopping.is_set()

    @property
    def detail(self) -> str:
        """Why the worker is not ready (or ``ok``)."""
        return "stopping" if self.stopping.is_set() else self._detail

    @property
    def is_alive(self) -> bool:
        """Whether ``/healthz`` answers 200."""
        # Waiting out a back-off is alive: the loop beats when it starts again.
        return time.monotonic() - self._beat < self.liveness_seconds or not self._ready


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """Probes every few seconds would flood the log; they are not worth a line."""


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


def health_app(state: WorkerState) -> Callable[..., Iterable[bytes]]:
    """The WSGI app of the worker's own listener: metrics, liveness and readiness."""
    metrics = make_wsgi_app(REGISTRY)

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path == "/metrics":
            return metrics(environ, start_response)  # type: ignore[no-any-return]
        if path == "/healthz":
            ok, body = state.is_alive, {"status": "alive" if state.is_alive else "stalled"}
        elif path == "/readyz":
            ok, body = state.is_ready, {"status": "ready" if state.is_ready else "not ready"}
            body["detail"] = state.detail
        else:
            start_response("404 Not Found", [("Content-Type", "application/problem+json")])
            return [b'{"title":"Not Found","status":404}']
        start_response(
            "200 OK" if ok else "503 Service Unavailable", [("Content-Type", "application/json")]
        )
        return [json.dumps(body).encode()]

    return app


def serve_health(state: WorkerState, bind: str) -> WSGIServer:
    """Serve :func:`health_app` on ``bind`` (``host:port``) in a background thread."""
    host, _, port = bind.rpartition(":")
    server = make_server(
        host or "0.0.0.0",  # nosec B104 # only when the bind names no host: containers, for the probes
        int(port),
        health_app(state),
        server_class=_ThreadingServer,
        handler_class=_QuietHandler,
    )
    threading.Thread(target=server.serve_forever, name="health", daemon=True).start()
    return server


def backoff_delays(initial: float = 0.5, maximum: float = 30.0) -> Iterable[float]:
    """Exponential delays with full jitter: 0.25-0.5 s, 0.5-1 s, 1-2 s ... capped at ``maximum``."""
    ceiling = initial
    while True:
        yield random.uniform(ceiling / 2, ceiling)  # noqa: S311  # nosec B311 # jitter, not a secret
        ceiling = min(ceiling * 2, maximum)


def run_worker(
    work: Callable[[WorkerState], None],
    *,
    service: str,
    metrics_bind: str | None,
    transient: tuple[type[BaseException], ...],
    log_level: str = "INFO",
) -> None:
    """Run ``work(state)`` until SIGTERM, starting it again after transient errors."""
    configure_logging(service, log_level, worker=True)
    state = WorkerState()

    def stop(signum: int, _frame: FrameType | None) -> None:
        logger.info("stopping on %s", signal.Signals(signum).name)
        state.stopping.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    server = serve_health(state, metrics_bind) if metrics_bind else None
    if metrics_bind:
        logger.info("metrics and probes on http://%s", metrics_bind)
    delays = iter(backoff_delays())
    try:
        while not state.stopping.is_set():
            started = time.monotonic()
            try:
                work(state)
            except transient as error:
                reason = f"{type(error).__name__}: {error}".strip()
                RESTARTS.labels("dependency").inc()
                state.not_ready(reason)
            except Exception as error:
                RESTARTS.labels("error").inc()
                state.not_ready(f"{type(error).__name__}: {error}")
                logger.exception("the work loop failed")
            else:
                break
            if time.monotonic() - started > 60:
                delays = iter(backoff_delays())  # it ran a good while: start the back-off over
            delay = next(delays)
            logger.error("not ready (%s); trying again in %.1f s", state.detail, delay)
            state.wait(delay)
    finally:
        if server is not None:
            server.shutdown()
        logger.info("stopped")
