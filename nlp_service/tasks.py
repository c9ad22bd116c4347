"""The batch jobs' Celery app: the one task, and how the API queues a job for it.

RabbitMQ is the broker (``AMQP_URL``), on a queue of the jobs' own
(``NLP_JOBS_QUEUE``); nothing goes to a result backend, as a job's progress and
results live in the service's own database (``nlp_service.jobs``). A message is
acknowledged only once its run has ended (``acks_late``), and one whose worker
died is delivered again (``reject_on_worker_lost``), so a killed worker's job
is taken up by the next. A run that raises is retried with exponential back-off
and jitter, up to ``NLP_JOB_MAX_RETRIES`` times; then the job ends in ``error``
with the reason.
"""

from __future__ import annotations

import logging
import random
import uuid
from collections.abc import Callable

from celery import Celery, Task

from nlp_service.runner import JobRunner
from nlp_service.settings import Settings

logger = logging.getLogger(__name__)

TASK_NAME = "nlp.process_job"

app = Celery("nlp_service", set_as_current=False)
app.conf.update(
    task_acks_late=True,
    task_reject_on_worker_lost=True,
    worker_prefetch_multiplier=1,
    task_serializer="json",
    accept_content=["json"],
    task_ignore_result=True,
    worker_hijack_root_logger=False,
    worker_redirect_stdouts=False,
    broker_connection_retry_on_startup=True,
    broker_connection_timeout=3,
    # No remote control (celery inspect/control): nothing uses it, and it would keep a
    # fanout exchange (celery.pidbox) and a queue per worker on the broker.
    worker_enable_remote_control=False,
)

_runner: JobRunner | None = None
_settings = Settings.model_construct()


def configure(settings: Settings, runner: JobRunner | None = None) -> Celery:
    """Point the app at ``settings``' broker; in the worker, ``runner`` does the work."""
    global _runner, _settings
    _settings = settings
    _runner = runner
    app.conf.update(broker_url=settings.amqp_url, task_default_queue=settings.nlp_jobs_queue)
    return app


def queue_to(settings: Settings) -> Callable[[uuid.UUID], None]:
    """What the API calls to queue a job: :func:`send_job` on ``settings``' queue."""
    configure(settings)
    return lambda job_id: send_job(job_id, settings.nlp_jobs_queue)


def retry_delay(retries: int, base: float) -> float:
    """Seconds before retry number ``retries + 1``: exponential, capped at a minute, jittered."""
    ceiling = min(base * 2**retries, 60.0)
    return random.uniform(ceiling / 2, ceiling)  # noqa: S311  # nosec B311 # jitter, not a secret


@app.task(name=TASK_NAME, bind=True, max_retries=None)  # type: ignore[untyped-decorator]
def process_job(self: Task, job_id: str) -> str:
    """Work on a job for one slice; queue its continuation, or retry it after a failure."""
    assert _runner is not None, "configure() the worker with a runner first"
    try:
        outcome = _runner.run(uuid.UUID(job_id))
    except Exception as error:
        reason = f"{type(error).__name__}: {error}"
        if self.request.retries >= _settings.nlp_job_max_retries:
            _runner.fail(uuid.UUID(job_id), reason)
            return "error"
        delay = retry_delay(self.request.retries, _settings.nlp_job_retry_seconds)
        logger.warning("job %s failed (%s); retrying in %.1f s", job_id, reason, delay)
        raise self.retry(countdown=delay, exc=error) from error
    if outcome == "more":
        send_job(uuid.UUID(job_id), _settings.nlp_jobs_queue)
    return outcome


def send_job(job_id: uuid.UUID, queue: str) -> None:
    """Queue a job on ``queue`` for the workers (raises if the broker cannot take it)."""
    process_job.apply_async((str(job_id),), queue=queue, retry=False)
