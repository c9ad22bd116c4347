"""Predictions cached in Redis, keyed by model version, task and the text's hash.

A repeated text costs no forward pass; a new model (or a new sentiment head)
has a new version, so it never serves an answer the old one gave. Redis being
away costs the cache, never the answer: a failed read is a miss, a failed write
is dropped, and both are counted.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar, cast

import redis

log = logging.getLogger(__name__)

V = TypeVar("V")


def text_key(prefix: str, text: str) -> str:
    """``<prefix>:<sha256 of the text>``: the text itself never reaches Redis."""
    return f"{prefix}:{hashlib.sha256(text.encode('utf-8')).hexdigest()}"


class PredictionCache(Generic[V]):
    """One task's cache: ``get_many`` returns hits by index, ``put_many`` stores new ones."""

    def __init__(
        self,
        client: redis.Redis | None,
        *,
        namespace: str,
        version: str,
        task: str,
        ttl_seconds: int,
        encode: Callable[[V], bytes],
        decode: Callable[[bytes], V],
        on_result: Callable[[str, str], None] = lambda task, outcome: None,
    ) -> None:
        self.client = client
        self.prefix = f"{namespace}:{version}:{task}"
        self.task = task
        self.ttl_seconds = ttl_seconds
        self._encode = encode
        self._decode = decode
        self._on_result = on_result

    def get_many(self, texts: Sequence[str]) -> dict[int, V]:
        """Index -> cached value, for the texts already answered by this version."""
        if self.client is None or self.ttl_seconds == 0 or not texts:
            return {}
        try:
            # bytes: the client is made without decode_responses
            raw = cast(
                list[bytes | None],
                self.client.mget([text_key(self.prefix, text) for text in texts]),
            )
        except redis.RedisError as exc:
            log.warning("prediction cache unavailable: %s", exc)
            self._on_result(self.task, "error")
            return {}
        hits = {index: self._decode(value) for index, value in enumerate(raw) if value is not None}
        for _ in hits:
            self._on_result(self.task, "hit")
        for _ in range(len(texts) - len(hits)):
            self._on_result(self.task, "miss")
        return hits

    def put_many(self, items: Sequence[tuple[str, V]]) -> None:
        """Remember each text's value for ``ttl_seconds``."""
        if self.client is None or self.ttl_seconds == 0 or not items:
            return
        try:
            with self.client.pipeline(transaction=False) as pipe:
                for text, value in items:
                    pipe.set(text_key(self.prefix, text), self._encode(value), ex=self.ttl_seconds)
                pipe.execute()
        except redis.RedisError as exc:
            log.warning("prediction cache not written: %s", exc)
            self._on_result(self.task, "error")
