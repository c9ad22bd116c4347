"""Micro-batching: concurrent requests in one process share one forward pass.

A request hands its texts to :meth:`MicroBatcher.submit` and waits. One
collector takes the oldest waiting request, adds every other request already
waiting (and those arriving within ``max_wait_seconds``) while the batch stays
within ``max_texts``, runs the model once on all of them and hands each request
its own rows. A lone request waits at most ``max_wait_seconds`` more than it
would alone; under load, the requests that arrive while a pass runs form the
next batch, so throughput grows with concurrency.

It works the same with OS threads and with gevent (the web workers
monkey-patch ``threading`` and ``queue``, so the collector is a greenlet):
``offload`` runs the forward pass where it does not block the others, gevent's
thread pool in the web workers, in place otherwise.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Generic, Protocol, TypeVar

T = TypeVar("T")


class Rows(Protocol):
    """A batch result that can be cut back into each request's part."""

    def rows(self: R, start: int, stop: int) -> R: ...


R = TypeVar("R", bound=Rows)

#: Runs a function and returns its result, possibly on another thread.
Offload = Callable[[Callable[[], T]], T]


def in_place(function: Callable[[], T]) -> T:
    """The default ``offload``: run the pass on the collector itself."""
    return function()


@dataclass
class _Pending(Generic[R]):
    texts: list[str]
    enqueued: float = field(default_factory=time.perf_counter)
    done: threading.Event = field(default_factory=threading.Event)
    result: R | None = None
    error: BaseException | None = None


@dataclass(frozen=True)
class BatchStats:
    """What one pass did: how many texts, how long the oldest waited, how long it ran."""

    texts: int
    requests: int
    queue_wait_seconds: float
    run_seconds: float


class MicroBatcher(Generic[R]):
    """Gathers concurrent ``submit`` calls into batches for ``run``."""

    def __init__(
        self,
        run: Callable[[list[str]], R],
        *,
        max_texts: int = 32,
        max_wait_seconds: float = 0.002,
        offload: Offload[R] = in_place,
        on_batch: Callable[[BatchStats], None] | None = None,
        on_pending: Callable[[int], None] = lambda _change: None,
    ) -> None:
        self._run = run
        self.max_texts = max_texts
        self.max_wait_seconds = max_wait_seconds
        self._offload = offload
        self._on_batch = on_batch
        self._on_pending = on_pending
        self._queue: queue.Queue[_Pending[R]] = queue.Queue()
        self._carry: _Pending[R] | None = None
        self._lock = threading.Lock()
        self._collector: threading.Thread | None = None

    def submit(self, texts: list[str]) -> R:
        """The model's result for ``texts`` (rows in order), computed with others' texts."""
        self._ensure_collector()
        pending: _Pending[R] = _Pending(list(texts))
        self._on_pending(len(pending.texts))
        try:
            self._queue.put(pending)
            pending.done.wait()
        finally:
            self._on_pending(-len(pending.texts))
        if pending.error is not None:
            raise pending.error
        assert pending.result is not None
        return pending.result

    def _ensure_collector(self) -> None:
        # Started by the first request, in the process that serves (after gunicorn forks).
        with self._lock:
            if self._collector is None or not self._collector.is_alive():
                self._collector = threading.Thread(
                    target=self._collect_forever, name="micro-batcher", daemon=True
                )
                self._collector.start()

    def _next_batch(self) -> list[_Pending[R]]:
        first = self._carry if self._carry is not None else self._queue.get()
        self._carry = None
        batch, size = [first], len(first.texts)
        deadline = time.perf_counter() + self.max_wait_seconds
        while size < self.max_texts:
            remaining = deadline - time.perf_counter()
            try:
                item = (
                    self._queue.get(timeout=remaining)
                    if remaining > 0
                    else self._queue.get_nowait()
                )
            except queue.Empty:
                break
            if size + len(item.texts) > self.max_texts:
                self._carry = item  # first in the next batch
                break
            batch.append(item)
            size += len(item.texts)
        return batch

    def _collect_forever(self) -> None:
        while True:
            self._run_batch(self._next_batch())

    def _run_batch(self, batch: list[_Pending[R]]) -> None:
        texts = [text for pending in batch for text in pending.texts]
        started = time.perf_counter()
        try:
            result = self._offload(lambda: self._run(texts))
        except Exception as exc:  # every waiting request gets the error, the collector lives on
            for pending in batch:
                pending.error = exc
                pending.done.set()
            return
        finished = time.perf_counter()
        start = 0
        for pending in batch:
            pending.result = result.rows(start, start + len(pending.texts))
            start += len(pending.texts)
            pending.done.set()
        if self._on_batch is not None:
            self._on_batch(
                BatchStats(
                    texts=len(texts),
                    requests=len(batch),
                    queue_wait_seconds=started - batch[0].enqueued,
                    run_seconds=finished - started,
                )
            )
