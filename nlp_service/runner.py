"""Working through a batch job: score its rows chunk by chunk, for a slice of time at a time.

Framework-free: ``nlp_service.tasks`` runs :meth:`JobRunner.run` inside a Celery
task. Each chunk's results are stored with the job's progress in one
transaction, so a worker killed mid-job loses at most the chunk it was
scoring: the job, delivered again, goes on from the first row without a result.
A run stops after ``slice_seconds`` and asks to be queued again, so no task
holds the broker's message for long and jobs take turns. A chunk the model
cannot score is scored row by row, and the rows that fail alone keep their
error; a chunk where every row fails means the worker is broken, not the data,
and is raised for the task to retry.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from prometheus_client import Counter, Histogram

from nlp_service.jobs import JobStore, Row
from nlp_service.schemas import LabelSpec
from nlp_service.service import NlpService

logger = logging.getLogger(__name__)

ROWS = Counter("nlp_job_rows_total", "Batch job rows processed", ["task", "outcome"])
CHUNK_SECONDS = Histogram(
    "nlp_job_chunk_seconds",
    "Time to score and store one chunk of a batch job",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
JOBS = Counter("nlp_jobs_finished_total", "Batch jobs that ended, by how", ["status"])

Outcome = Literal["finished", "more", "stopped"]


class Scorer(Protocol):
    """Scores texts for a task: one result (``label``, ``score``...) per text."""

    def __call__(
        self, task: str, texts: list[str], labels: Sequence[LabelSpec] | None
    ) -> list[dict[str, Any]]: ...


def service_scorer(nlp: NlpService) -> Scorer:
    """A :class:`Scorer` over the process's NLP service (its cache and its model)."""

    def score(
        task: str, texts: list[str], labels: Sequence[LabelSpec] | None
    ) -> list[dict[str, Any]]:
        if task == "sentiment":
            return [
                {"label": verdict.label, "score": verdict.score, "scores": verdict.scores}
                for verdict in nlp.sentiments(texts)
            ]
        assert labels, "a classify job has its labels"
        answer = nlp.classify(texts, labels)
        return [
            {
                "label": result.label,
                "score": result.labels[0].score,
                "labels": [label.model_dump() for label in result.labels],
            }
            for result in answer.results
        ]

    return score


@dataclass
class JobRunner:
    """Scores a job's pending rows until it is done, cancelled or its slice ends."""

    store: JobStore
    score: Scorer
    chunk_rows: int = 64
    slice_seconds: float = 10.0
    #: Called after every chunk: the worker's liveness beat.
    beat: Callable[[], None] = lambda: None
    clock: Callable[[], float] = time.monotonic

    def run(self, job_id: uuid.UUID) -> Outcome:
        """One slice of the job: ``finished`` (ready, or gone), ``more``, or ``stopped``."""
        job = self.store.start(job_id)
        if job is None:
            return "finished"  # finished, cancelled or unknown: nothing to do
        labels = [LabelSpec(**label) for label in job.labels] if job.labels else None
        ends = self.clock() + self.slice_seconds
        while True:
            rows = self.store.pending(job.id, self.chunk_rows)
            if not rows:
                finished = self.store.finish(job.id)
                if finished is not None:
                    JOBS.labels(status="ready").inc()
                    logger.info("job %s ready: %s", job.id, finished.statistics)
                return "finished"
            started = time.perf_counter()
            results = self._score(job.task, rows, labels)
            status = self.store.record(job.id, results)
            CHUNK_SECONDS.observe(time.perf_counter() - started)
            self.beat()
            if status != "running":
                logger.info("job %s %s: stopping", job.id, status)
                return "stopped"
            if self.clock() >= ends:
                return "more"

    def _score(
        self, task: str, rows: list[Row], labels: Sequence[LabelSpec] | None
    ) -> list[tuple[int, dict[str, Any] | None, str | None]]:
        try:
            scored = self.score(task, [row.text for row in rows], labels)
        except Exception:
            logger.warning("a chunk of %d rows failed; scoring them one by one", len(rows))
            return self._score_alone(task, rows, labels)
        ROWS.labels(task=task, outcome="scored").inc(len(rows))
        return [(row.line, result, None) for row, result in zip(rows, scored, strict=True)]

    def _score_alone(
        self, task: str, rows: list[Row], labels: Sequence[LabelSpec] | None
    ) -> list[tuple[int, dict[str, Any] | None, str | None]]:
        results: list[tuple[int, dict[str, Any] | None, str | None]] = []
        last: Exception | None = None
        for row in rows:
            try:
                (result,) = self.score(task, [row.text], labels)
            except Exception as error:
                last = error
                results.append((row.line, None, f"could not be scored: {type(error).__name__}"))
                ROWS.labels(task=task, outcome="failed").inc()
            else:
                results.append((row.line, result, None))
                ROWS.labels(task=task, outcome="scored").inc()
        if last is not None and all(result is None for _, result, _ in results):
            raise last  # nothing scores: the worker is at fault, not the rows
        return results

    def fail(self, job_id: uuid.UUID, reason: str) -> None:
        """End a job that kept failing in ``error``, with the reason."""
        if self.store.mark(
            job_id, "error", only_from=("accepted", "queued", "running"), error=reason
        ):
            JOBS.labels(status="error").inc()
            logger.error("job %s ended in error: %s", job_id, reason)
