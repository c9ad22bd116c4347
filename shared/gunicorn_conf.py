"""Gunicorn settings shared by every service (``gunicorn -c shared/gunicorn_conf.py``).

gevent workers (``shared.gunicorn_worker``: one greenlet per connection, header
and body read deadlines from ``HEADER_READ_TIMEOUT`` and ``BODY_READ_TIMEOUT``);
``WEB_CONCURRENCY`` workers of up to ``WORKER_CONNECTIONS`` connections each. When
``PROMETHEUS_MULTIPROC_DIR`` is set, the folder is emptied at start and each
dead worker's samples are marked so the metrics listener sums the live ones.

Metrics are never served on the API's own listener: when ``METRICS_BIND``
(``host:port``) is set, the master process serves ``GET /metrics`` there
(``prometheus_client``'s own server over every worker's samples), so the port
the public reaches carries the API and nothing else.

Under ``DISCOVERY=consul`` the master registers the process group once it
listens and deregisters it when it stops (``shared.registration``): one
instance per gunicorn, not per worker. The service is the package of the app
argument (``customer_service.app:create_app()``) or ``SERVICE_PACKAGE``.
"""

from __future__ import annotations

import os
import shutil
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, multiprocess, start_http_server

if TYPE_CHECKING:
    from shared.registration import MasterRegistration

workers = int(os.environ.get("WEB_CONCURRENCY", "3"))
# Per worker; a slow client costs a greenlet, so a few hundred of them fit beside the traffic.
worker_connections = int(os.environ.get("WORKER_CONNECTIONS", "1000"))
# gevent with read deadlines, whose own error answers (414, 431, 400, 408) are problem+json.
worker_class = "shared.gunicorn_worker.ProblemGeventWorker"
# Only a switch under this worker: the wait for the next request is KEEPALIVE_IDLE_TIMEOUT,
# then the header deadline. Never 0: the async worker would then read a request's headers
# with no deadline at all.
keepalive = 5
timeout = 30
graceful_timeout = 10
accesslog = None  # the app logs one JSON line per request itself
errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "info").lower()
# One fixed control socket path would be shared by every service on a machine.
control_socket_disable = True


def on_starting(server: Any) -> None:
    """Start with an empty metrics folder so old workers' samples don't linger."""
    folder = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if folder:
        shutil.rmtree(folder, ignore_errors=True)
        os.makedirs(folder, exist_ok=True)


#: This process group's registration in discovery, held by the master (``consul`` only).
_registration: MasterRegistration | None = None


def when_ready(server: Any) -> None:
    """Serve the workers' metrics on ``METRICS_BIND``, apart from the API; register in discovery."""
    global _registration
    bind = os.environ.get("METRICS_BIND")
    if bind and os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        host, _, port = bind.rpartition(":")
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        start_http_server(int(port), addr=host or "0.0.0.0", registry=registry)  # nosec B104 # only when METRICS_BIND names no host: the operator asked for every interface (containers, for Prometheus)
        server.log.info("metrics on http://%s/metrics", bind)
    from shared.registration import register_process_group

    _registration = register_process_group(server)


def on_exit(server: Any) -> None:
    """Withdraw the process group from discovery as the master stops."""
    if _registration is not None:
        _registration.stop()


def worker_exit(server: Any, worker: Any) -> None:
    """Stop the background work of the app's discovery (the gateway's Consul watches)."""
    from shared.discovery import DISCOVERY_EXTENSION

    app = getattr(worker, "wsgi", None)
    discovery = getattr(app, "extensions", {}).get(DISCOVERY_EXTENSION)
    if discovery is not None:
        discovery.close()


def child_exit(server: Any, worker: Any) -> None:
    """Let the metrics of a worker that exited stop counting as live gauges."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.mark_process_dead(worker.pid)  # type: ignore[no-untyped-call]
