"""Semantic matching: customers ranked by the cosine of their vectors to a query's.

Each web process keeps the embeddings of the model version its queries come
from in memory (:class:`~search_service.vectors.VectorIndex`, about 1.5 KB a
384-dimension vector), loaded from the store on the first query of that version
and then kept current from the store's change stamps: before a query, at most
every ``refresh_seconds``, it reads what was stamped since the last read (one
indexed statement that usually returns nothing). Exact search with numpy rather
than an approximate index: the floor, the total and the facets count every
match, filters cost nothing here, and a change applies at once (see README,
"Semantic and hybrid search", for the figures).

No Flask, no SQL: the statements are ``SearchTransaction.vectors``'.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable

from search_service.embedder import QueryVector
from search_service.store import SearchStore
from search_service.vector_store import CHANGES_PER_READ
from search_service.vectors import Matches, VectorIndex

#: Model versions kept in memory at once (two while a new model rolls out).
MAX_MODEL_VERSIONS = 2


class VectorSearch:
    """The customers whose vectors are close to a query vector, from in-memory indexes."""

    def __init__(
        self,
        store: SearchStore,
        *,
        floor: float,
        max_matches: int,
        refresh_seconds: float,
        read_size: int = CHANGES_PER_READ,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self.floor = floor
        self.max_matches = max_matches
        self._refresh_seconds = refresh_seconds
        self._read_size = read_size
        self._clock = clock
        self._indexes: OrderedDict[str, tuple[VectorIndex, float]] = OrderedDict()
        # Greenlet-aware under gevent (monkey-patched): a query waits for a refresh under way.
        self._lock = threading.Lock()

    def matches(self, query: QueryVector) -> Matches:
        """Customers whose best vector (profile or note) of the query's model version has a
        cosine of at least the floor with it; the ``max_matches`` most similar."""
        with self._lock:
            index = self._current(query.model_version, query.vector.shape[0])
            return index.match(query.vector, self.floor, self.max_matches)

    def index(self, model_version: str, dimensions: int) -> VectorIndex:
        """The index of ``model_version``, brought up to date now."""
        with self._lock:
            return self._current(model_version, dimensions, force=True)

    def _current(self, model_version: str, dimensions: int, *, force: bool = False) -> VectorIndex:
        held = self._indexes.get(model_version)
        if held is None or held[0].dimensions != dimensions:
            index, refreshed = VectorIndex(model_version, dimensions), -float("inf")
            with self._store.transaction() as tx:
                index.reserve(tx.vectors.count(model_version))
        else:
            index, refreshed = held
        now = self._clock()
        if force or now - refreshed >= self._refresh_seconds:
            self._catch_up(index)
            refreshed = now
        self._indexes[model_version] = (index, refreshed)
        self._indexes.move_to_end(model_version)
        while len(self._indexes) > MAX_MODEL_VERSIONS:
            self._indexes.popitem(last=False)
        return index

    def _catch_up(self, index: VectorIndex) -> None:
        """Apply every change stamped after the index's last one, a read at a time."""
        while True:
            with self._store.transaction() as tx:
                changes = tx.vectors.changes(
                    index.last_change, index.model_version, self._read_size
                )
            index.apply(changes)
            if len(changes) < self._read_size:
                return
