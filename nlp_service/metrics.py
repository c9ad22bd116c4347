"""The NLP service's Prometheus metrics (served apart from the API, see shared/gunicorn_conf.py)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

INFERENCE_SECONDS = Histogram(
    "nlp_inference_seconds",
    "Time of one forward pass (a micro-batch)",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)
BATCH_TEXTS = Histogram(
    "nlp_batch_texts",
    "Texts in one forward pass",
    buckets=(1, 2, 4, 8, 16, 32, 64, 128),
)
QUEUE_WAIT_SECONDS = Histogram(
    "nlp_queue_wait_seconds",
    "How long the oldest request of a batch waited for its forward pass",
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0),
)
PENDING_TEXTS = Gauge(
    "nlp_pending_texts",
    "Texts submitted to the model and not answered yet (waiting or in a forward pass)",
    multiprocess_mode="livesum",
)
TEXTS = Counter("nlp_texts_total", "Texts answered, by task", ["task"])
CACHE = Counter(
    "nlp_cache_total", "Prediction cache lookups, by task and outcome", ["task", "outcome"]
)
MODEL_LOAD_SECONDS = Gauge(
    "nlp_model_load_seconds", "How long loading the model took (with its warm-up)"
)
MODEL_READY = Gauge("nlp_model_ready", "1 once the model is loaded and warmed up")
