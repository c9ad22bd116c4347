"""One model per process: loaded in the background, warmed up, then shared by every request.

The web worker must answer ``/healthz`` while the model loads (seconds), so
:class:`Engine` loads it off the request path and ``/readyz`` says "loading"
until a warm-up pass has run. Every forward pass goes through one
:class:`~nlp_service.batching.MicroBatcher`.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from nlp_service import metrics
from nlp_service.batching import BatchStats, MicroBatcher, Offload, in_place
from nlp_service.encoder import Encoder, Encoding, LoadedModel, is_sequence_classifier
from nlp_service.sentiment import (
    ZERO_SHOT_LABELS,
    PipelineSentiment,
    SentimentHead,
    SentimentModel,
    Verdicts,
)
from nlp_service.zero_shot import prototypes
from shared.errors import ServiceUnavailable

log = logging.getLogger(__name__)

WARM_UP = ["Thanks, the new invoice arrived and everything works.", "Where is my parcel?"]


#: Seconds a client waits before asking again while the model loads.
RETRY_AFTER_LOADING = "5"


class ModelNotReady(ServiceUnavailable):
    """The model is still loading, or failed to load (the detail says which): 503."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail, headers={"Retry-After": RETRY_AFTER_LOADING})


@dataclass(frozen=True)
class EngineOptions:
    """What the engine loads and how it batches (from the settings)."""

    model_dir: Path
    device: str = "auto"
    torch_threads: int | None = None
    sentiment_head: Path | None = None
    max_batch_texts: int = 32
    max_batch_wait_seconds: float = 0.002
    batching: bool = True


def record_batch(stats: BatchStats) -> None:
    """Feed a pass's figures to the metrics."""
    metrics.BATCH_TEXTS.observe(stats.texts)
    metrics.QUEUE_WAIT_SECONDS.observe(stats.queue_wait_seconds)
    metrics.INFERENCE_SECONDS.observe(stats.run_seconds)


class Engine:
    """The encoder, the sentiment model and the batcher of this process."""

    def __init__(self, options: EngineOptions, *, offload: Offload[object] = in_place) -> None:
        self.options = options
        self._offload = offload
        self._ready = threading.Event()
        self._error: str | None = None
        self._started = False
        self._lock = threading.Lock()
        self.encoder: Encoder | None = None
        self.sentiment: SentimentModel | None = None
        self.batcher: MicroBatcher[Encoding] | None = None
        #: Set when the model folder holds a fine-tuned classification head.
        self.classifier: PipelineSentiment | None = None
        self.classifier_batcher: MicroBatcher[Verdicts] | None = None

    def start(self) -> None:
        """Begin loading in the background (once); ``check_ready`` tells when it is done."""
        with self._lock:
            if self._started:
                return
            self._started = True
        threading.Thread(target=self._load, name="model-loader", daemon=True).start()

    def load(self) -> Engine:
        """Load in the caller's thread and wait (scripts, workers, tests)."""
        with self._lock:
            self._started = True
        self._load()
        if self._error:
            raise ModelNotReady(self._error)
        return self

    def _load(self) -> None:
        started = time.perf_counter()
        try:
            self._offload(self._build)
            # Made here, not in _build: under gevent, _build runs on a pool thread, and a
            # (patched) queue or lock made there would belong to that thread's hub, not
            # to the one the requests wait on.
            self._make_batchers()
        except Exception as exc:  # a model that cannot load keeps /readyz saying why
            log.exception("model could not be loaded from %s", self.options.model_dir)
            self._error = f"model failed to load: {exc}"
            return
        seconds = time.perf_counter() - started
        metrics.MODEL_LOAD_SECONDS.set(seconds)
        metrics.MODEL_READY.set(1)
        assert self.encoder is not None
        log.info(
            "model %s (%s) ready on %s in %.1f s",
            self.encoder.loaded.name,
            self.encoder.loaded.version,
            self.encoder.loaded.device,
            seconds,
        )
        self._ready.set()

    def _build(self) -> None:
        options = self.options
        encoder = Encoder(
            options.model_dir, device=options.device, torch_threads=options.torch_threads
        )
        head = None
        if options.sentiment_head is not None and options.sentiment_head.is_file():
            head = SentimentHead.load(options.sentiment_head)
        sentiment = SentimentModel(
            encoder.loaded.version, head, prototypes(ZERO_SHOT_LABELS, encoder.embed)
        )
        if head is not None and sentiment.head is None:
            log.warning(
                "the sentiment head was trained on encoder %s, not %s: zero-shot sentiment",
                head.encoder_version,
                encoder.loaded.version,
            )
        encoder.encode(WARM_UP)  # the first pass allocates; pay it before /readyz says ready
        if is_sequence_classifier(encoder.config):
            classifier = PipelineSentiment(options.model_dir, encoder)
            classifier.predict(WARM_UP)
            self.classifier = classifier
        self.encoder, self.sentiment = encoder, sentiment

    def _make_batchers(self) -> None:
        options, encoder = self.options, self.encoder
        assert encoder is not None
        batching = {
            "max_texts": options.max_batch_texts if options.batching else 1,
            "max_wait_seconds": options.max_batch_wait_seconds if options.batching else 0.0,
            "offload": self._offload,
            "on_batch": record_batch,
            "on_pending": metrics.PENDING_TEXTS.inc,
        }
        if self.classifier is not None:
            self.classifier_batcher = MicroBatcher(self.classifier.predict, **batching)  # type: ignore[arg-type]
        self.batcher = MicroBatcher(encoder.encode, **batching)  # type: ignore[arg-type]

    def check_ready(self) -> None:
        """Raise :class:`ModelNotReady` until the model answers (a readiness check)."""
        if self._error:
            raise ModelNotReady(self._error)
        if not self._ready.is_set():
            raise ModelNotReady("model still loading")

    @property
    def loaded(self) -> LoadedModel:
        """Which model this is (raises until loaded)."""
        self.check_ready()
        assert self.encoder is not None
        return self.encoder.loaded

    def classify_sentiment(self, texts: list[str]) -> Verdicts:
        """The fine-tuned head's verdicts (only when the folder has one), batched."""
        self.check_ready()
        assert self.classifier_batcher is not None
        return self.classifier_batcher.submit(texts)

    def encode(self, texts: list[str]) -> Encoding:
        """One forward pass over ``texts``, shared with concurrent callers."""
        self.check_ready()
        assert self.batcher is not None
        return self.batcher.submit(texts)
