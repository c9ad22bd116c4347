"""Every knob of the NLP service and its worker, read from environment variables."""

from __future__ import annotations

from pathlib import Path

from pydantic import AliasChoices, Field, field_validator

from shared.services import service_named
from shared.settings import EventSettings

#: This service as ``services.toml`` declares it.
SERVICE = service_named("nlp")


class Settings(EventSettings):
    """Settings of the NLP API and its batch worker; each field has a working local default."""

    service_name: str = "nlp_service"
    #: The service's own database (batch jobs and their results), from ``NLP_DATABASE_URL``
    #: only; see customer_service/settings.py for why the field name is not accepted too.
    database_url: str = Field(
        default=SERVICE.local_database_url,
        validation_alias=AliasChoices(SERVICE.database_url_variable),
    )
    #: Folder of a Hugging Face model (``config.json``, weights, tokenizer); empty: the
    #: packaged all-MiniLM-L6-v2. A ``*ForSequenceClassification`` folder is used through
    #: the text-classification pipeline for sentiment. Nothing is ever downloaded.
    nlp_model_dir: Path | None = None
    #: ``auto`` (CUDA when torch sees it, else CPU), ``cpu``, ``cuda`` or ``cuda:N``.
    nlp_device: str = "auto"
    #: torch's threads per process (0: torch's own choice, one per core).
    nlp_torch_threads: int = Field(default=0, ge=0)
    #: The trained sentiment head; empty: the one shipped in nlp_service/artefacts/.
    nlp_sentiment_head: Path | None = None
    #: Micro-batching: most texts in one forward pass, and how long a pass waits for more.
    nlp_batching: bool = True
    nlp_batch_max_texts: int = Field(default=32, ge=1, le=256)
    nlp_batch_max_wait_ms: float = Field(default=2.0, ge=0, le=1000)
    #: Prediction cache in Redis (0 turns it off), under keys ``<namespace>:<model>:...``.
    nlp_cache_ttl_seconds: int = Field(default=7 * 86_400, ge=0)
    nlp_cache_namespace: str = Field(default="clientele:nlp", min_length=1)
    redis_url: str = "redis://127.0.0.1:6379/0"
    #: Batch jobs: the Celery queue on the broker (``AMQP_URL``), rows per forward pass, how
    #: long one run works before queueing the rest, retries of a failing run (the first after
    #: about ``nlp_job_retry_seconds``, doubling) and how old a never-queued job gets before
    #: the worker queues it.
    nlp_jobs_queue: str = "clientele.nlp.jobs"
    nlp_job_chunk_rows: int = Field(default=64, ge=1, le=1024)
    nlp_job_slice_seconds: float = Field(default=10.0, gt=0)
    nlp_job_max_retries: int = Field(default=5, ge=0)
    nlp_job_retry_seconds: float = Field(default=2.0, gt=0)
    nlp_job_requeue_seconds: float = Field(default=30.0, gt=0)

    @field_validator("nlp_model_dir", "nlp_sentiment_head", mode="before")
    @classmethod
    def _empty_is_default(cls, value: object) -> object:
        # NLP_MODEL_DIR= (set but empty) means the default, not the current folder.
        return None if isinstance(value, str) and not value.strip() else value
