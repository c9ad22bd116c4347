"""The NLP use cases: embed, sentiment, classify, similarity, each over the cache and the engine.

Framework-free: the API module turns requests into these calls and results into
responses. Each call looks its texts up in the prediction cache first and sends
only the misses through one shared forward pass.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Sequence
from threading import Lock

import numpy as np
import redis

from nlp_service import metrics
from nlp_service.cache import PredictionCache
from nlp_service.encoder import Vectors
from nlp_service.engine import Engine
from nlp_service.schemas import (
    ClassifyResponse,
    ClassifyResult,
    EmbedResponse,
    LabelScore,
    LabelSpec,
    ModelInfo,
    SentimentResponse,
    SentimentResult,
    SimilarityResponse,
    SimilarityResult,
)
from nlp_service.sentiment import Sentiment
from nlp_service.settings import Settings
from nlp_service.zero_shot import Label, prototypes, rank

#: Label sets whose prototypes are kept in memory (a caller usually reuses its labels).
PROTOTYPE_CACHE_SIZE = 64


def _vector_bytes(vector: np.ndarray) -> bytes:
    return np.asarray(vector, dtype=np.float32).tobytes()


def _vector(raw: bytes) -> np.ndarray:
    return np.frombuffer(raw, dtype=np.float32)


def _sentiment_bytes(value: Sentiment) -> bytes:
    return json.dumps(
        {"label": value.label, "score": value.score, "method": value.method, "scores": value.scores}
    ).encode()


def _sentiment(raw: bytes) -> Sentiment:
    data = json.loads(raw)
    return Sentiment(data["label"], data["score"], data["method"], data["scores"])


def _count_cache(task: str, outcome: str) -> None:
    metrics.CACHE.labels(task=task, outcome=outcome).inc()


class NlpService:
    """What the API calls; one per process, over the process's engine."""

    def __init__(
        self,
        engine: Engine,
        redis_client: redis.Redis | None,
        *,
        cache_ttl_seconds: int,
        cache_namespace: str = "clientele:nlp",
    ) -> None:
        self.engine = engine
        self.redis = redis_client
        self.cache_ttl_seconds = cache_ttl_seconds
        self.cache_namespace = cache_namespace
        self._caches: dict[str, PredictionCache[object]] = {}
        self._prototypes: OrderedDict[tuple[object, ...], Vectors] = OrderedDict()
        self._prototypes_lock = Lock()

    @classmethod
    def from_settings(
        cls, engine: Engine, settings: Settings, *, cache_namespace: str | None = None
    ) -> NlpService:
        """The use cases over ``engine``, with the prediction cache the settings describe."""
        client = redis.Redis.from_url(
            settings.redis_url, socket_timeout=0.5, socket_connect_timeout=0.5
        )
        return cls(
            engine,
            client,
            cache_ttl_seconds=settings.nlp_cache_ttl_seconds,
            cache_namespace=cache_namespace or settings.nlp_cache_namespace,
        )

    def _model(self) -> ModelInfo:
        loaded = self.engine.loaded
        return ModelInfo(name=loaded.name, version=loaded.version, device=loaded.device)

    def _cache(self, task: str, version: str, encode: object, decode: object) -> PredictionCache:  # type: ignore[type-arg]
        key = f"{task}:{version}"
        if key not in self._caches:
            self._caches[key] = PredictionCache(
                self.redis,
                namespace=self.cache_namespace,
                version=version,
                task=task,
                ttl_seconds=self.cache_ttl_seconds,
                encode=encode,  # type: ignore[arg-type]
                decode=decode,  # type: ignore[arg-type]
                on_result=_count_cache,
            )
        return self._caches[key]

    def vectors(self, texts: Sequence[str]) -> Vectors:
        """Unit vectors of ``texts``, from the cache where it has them."""
        cache = self._cache("embed", self.engine.loaded.version, _vector_bytes, _vector)
        found = cache.get_many(texts)
        missing = [index for index in range(len(texts)) if index not in found]
        if missing:
            fresh = self.engine.encode([texts[index] for index in missing]).vectors
            cache.put_many([(texts[index], fresh[row]) for row, index in enumerate(missing)])
            found.update({index: fresh[row] for row, index in enumerate(missing)})
        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        return np.vstack([found[index] for index in range(len(texts))]).astype(np.float32)

    def embed(self, texts: list[str]) -> EmbedResponse:
        """``POST /nlp/embed``."""
        vectors = self.vectors(texts)
        metrics.TEXTS.labels(task="embed").inc(len(texts))
        return EmbedResponse(
            model=self._model(),
            dimensions=int(vectors.shape[1]),
            vectors=[[round(float(x), 6) for x in row] for row in vectors],
        )

    def sentiments(self, texts: Sequence[str]) -> list[Sentiment]:
        """Each text's sentiment, from the cache where it has it."""
        self.engine.check_ready()
        model = self.engine.sentiment
        assert model is not None
        classifier = self.engine.classifier
        method_version = classifier.version if classifier else model.version
        version = f"{self.engine.loaded.version}.{method_version}"
        cache = self._cache("sentiment", version, _sentiment_bytes, _sentiment)
        found = cache.get_many(texts)
        missing = [index for index in range(len(texts)) if index not in found]
        if missing:
            subset = [texts[index] for index in missing]
            verdicts = (
                list(self.engine.classify_sentiment(subset))
                if classifier
                else model.predict(self.engine.encode(subset), subset)
            )
            cache.put_many(list(zip(subset, verdicts, strict=True)))
            found.update(dict(zip(missing, verdicts, strict=True)))
        return [found[index] for index in range(len(texts))]

    def sentiment(self, texts: list[str]) -> SentimentResponse:
        """``POST /nlp/sentiment``."""
        verdicts = self.sentiments(texts)
        metrics.TEXTS.labels(task="sentiment").inc(len(texts))
        return SentimentResponse(
            model=self._model(),
            results=[
                SentimentResult(
                    label=verdict.label,
                    score=verdict.score,
                    method=verdict.method,
                    scores=verdict.scores,
                )
                for verdict in verdicts
            ],
        )

    def label_prototypes(self, labels: Sequence[Label]) -> Vectors:
        """One vector per label, remembered for the label sets used lately."""
        key = tuple((label.name, label.description, label.examples) for label in labels)
        with self._prototypes_lock:
            if key in self._prototypes:
                self._prototypes.move_to_end(key)
                return self._prototypes[key]
        vectors = prototypes(labels, self.vectors)
        with self._prototypes_lock:
            self._prototypes[key] = vectors
            while len(self._prototypes) > PROTOTYPE_CACHE_SIZE:
                self._prototypes.popitem(last=False)
        return vectors

    def classify(self, texts: list[str], specs: Sequence[LabelSpec]) -> ClassifyResponse:
        """``POST /nlp/classify``: every label per text, best first."""
        labels = [Label(spec.name, spec.description, tuple(spec.examples)) for spec in specs]
        _, probabilities = rank(self.vectors(texts), self.label_prototypes(labels))
        metrics.TEXTS.labels(task="classify").inc(len(texts))
        results = []
        for row in probabilities:
            order = np.argsort(-row)
            ranked = [LabelScore(name=labels[i].name, score=round(float(row[i]), 4)) for i in order]
            results.append(ClassifyResult(label=ranked[0].name, labels=ranked))
        return ClassifyResponse(model=self._model(), results=results)

    def similarity(self, pairs: Sequence[tuple[str, str]]) -> SimilarityResponse:
        """``POST /nlp/similarity``: the cosine of each pair's embeddings."""
        vectors = self.vectors([text for pair in pairs for text in pair])
        scores = np.einsum("ij,ij->i", vectors[0::2], vectors[1::2])
        metrics.TEXTS.labels(task="similarity").inc(2 * len(pairs))
        return SimilarityResponse(
            model=self._model(),
            results=[SimilarityResult(score=round(float(score), 4)) for score in scores],
        )
