"""The batch jobs' worker (``python -m nlp_service.worker``): a Celery worker with the model loaded.

One process, one job at a time (Celery's ``solo`` pool): it loads the model
once, like the web process, and a forward pass already uses every core torch
is given. Like every worker of the platform it serves ``/metrics``,
``/healthz`` and ``/readyz`` on ``METRICS_BIND`` (``shared.worker``): ready once
the model answers and the worker consumes its queue. Every
``NLP_JOB_REQUEUE_SECONDS`` it also queues any job stored but never queued
(the broker was away when the API took it). SIGTERM is Celery's warm
shutdown: the current slice ends, then the process.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from typing import Any

from celery import signals

from nlp_service import tasks
from nlp_service.app import engine_options
from nlp_service.engine import Engine
from nlp_service.jobs import JobStore
from nlp_service.runner import JobRunner, service_scorer
from nlp_service.service import NlpService
from nlp_service.settings import Settings
from shared.database import Database
from shared.logs import configure_logging
from shared.worker import WorkerState, serve_health

logger = logging.getLogger(__name__)


def requeue_forgotten(store: JobStore, settings: Settings, state: WorkerState) -> None:
    """Queue jobs left ``accepted`` (never queued), until the worker stops."""
    while not state.wait(settings.nlp_job_requeue_seconds):
        try:
            for job_id in store.stale_accepted(settings.nlp_job_requeue_seconds):
                tasks.send_job(job_id, settings.nlp_jobs_queue)
                store.mark(job_id, "queued", only_from=("accepted",))
                logger.info("queued job %s, which was never queued", job_id)
        except Exception as error:  # the database or the broker away: try at the next round
            logger.warning("could not look for forgotten jobs: %s", error)
        state.beat()


def main() -> None:
    """Load the model, then consume the jobs queue until SIGTERM."""
    settings = Settings()
    configure_logging(f"{settings.service_name}-worker", settings.log_level, worker=True)
    state = WorkerState()
    if settings.metrics_bind:
        serve_health(state, settings.metrics_bind)
        logger.info("metrics and probes on http://%s", settings.metrics_bind)
    state.not_ready("loading the model")
    engine = Engine(engine_options(settings)).load()
    nlp = NlpService.from_settings(engine, settings)
    store = JobStore(Database(settings.database_url, pool_size=2))
    runner = JobRunner(
        store,
        service_scorer(nlp),
        chunk_rows=settings.nlp_job_chunk_rows,
        slice_seconds=settings.nlp_job_slice_seconds,
        beat=state.beat,
    )
    celery = tasks.configure(settings, runner)

    def ready(**_: Any) -> None:
        state.ready()

    def stopping(**_: Any) -> None:
        state.stopping.set()

    signals.worker_ready.connect(ready, weak=False)
    signals.worker_shutting_down.connect(stopping, weak=False)
    threading.Thread(
        target=requeue_forgotten, args=(store, settings, state), name="requeue", daemon=True
    ).start()
    worker = celery.Worker(
        pool="solo",
        concurrency=1,
        queues=[settings.nlp_jobs_queue],
        hostname=f"nlp-jobs@{socket.gethostname()}.{os.getpid()}",
        without_gossip=True,
        without_mingle=True,
        without_heartbeat=True,
        loglevel=settings.log_level,
    )
    worker.start()


if __name__ == "__main__":
    main()
