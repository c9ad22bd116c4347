"""JSON logs on stdout, each line carrying the request (or, in workers, the event) it belongs to."""

from __future__ import annotations

import logging
import sys
from contextvars import ContextVar

from pythonjsonlogger.json import JsonFormatter

#: The id of the request being served by this thread, "-" outside a request.
current_request_id: ContextVar[str] = ContextVar("current_request_id", default="-")
#: The id of the event a worker is handling, "-" between events.
current_event_id: ContextVar[str] = ContextVar("current_event_id", default="-")


class RequestIdFilter(logging.Filter):
    """Stamp every record with the service name and the current request (or event) id."""

    def __init__(self, service: str, *, worker: bool = False) -> None:
        super().__init__()
        self.service = service
        self.worker = worker

    def filter(self, record: logging.LogRecord) -> bool:
        if self.worker:
            record.event_id = current_event_id.get()
        else:
            record.request_id = current_request_id.get()
        record.service = self.service
        return True


def configure_logging(service: str, level: str = "INFO", *, worker: bool = False) -> None:
    """Send every log record to stdout as one JSON object per line.

    Web processes stamp each line with ``request_id``; workers (``worker=True``)
    with ``event_id`` in its place.
    """
    handler = logging.StreamHandler(sys.stdout)
    correlation = "%(event_id)s" if worker else "%(request_id)s"
    handler.setFormatter(
        JsonFormatter(
            f"%(asctime)s %(levelname)s %(name)s %(message)s %(service)s {correlation}",
            rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
            datefmt="%Y-%m-%dT%H:%M:%S%z",
        )
    )
    handler.addFilter(RequestIdFilter(service, worker=worker))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # Werkzeug's own access log would duplicate ours, in plain text; pika logs every
    # connection step at INFO.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    logging.getLogger("pika").setLevel(logging.WARNING)
