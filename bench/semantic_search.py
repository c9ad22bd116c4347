"""How fast semantic search answers over a large index: ``python -m bench.semantic_search``.

Seeds ``--customers`` (100,000 by default) generated customers into a fresh search
database through the consumer's own path (``EventIndexer.apply``: their created
events, then one ``nlp.profile_embedded`` and ``--notes`` ``nlp.note_analysed``
events each), with random 384-dimension unit vectors that fall into 64 topics:
vectors of one topic have a cosine of about 0.25 with each other, and 0.5 with
the topic's centre. Then, in this process against that database, it times:

- ``load``: the first semantic query of a process, which reads every vector into
  memory (and the index's memory: its arrays, and the process's RSS growth);
- ``narrow``: a query close to one customer's vector (one match or a few);
- ``broad``: a topic's centre (every customer with a vector of the topic matches,
  about 4.6 % of them: the total and facets count them all);
- ``broad+filters``: the same with ``status`` and ``country``;
- ``hybrid``: a customer's name as ``q``, the vector of a topic;
- ``text``: the same name in ``mode=text``, the baseline every row is compared with.

Each is the whole ``SearchService.search`` call with the query's vector given (the
NLP service's embedding of a short query, measured by ``bench.nlp_throughput``,
comes on top). The matching itself is also timed alone, for the chosen method
(exact, float32 matrix, numpy) and the rejected ones:

- ``float16``: the same matrix in half the memory (numpy has no fast float16
  product: it converts as it goes);
- ``hnsw``: an approximate index (faiss ``IndexHNSWFlat``, M=32), when faiss is
  importable (it is not in the project's locks: ``pip install --target DIR faiss-cpu``
  and ``PYTHONPATH=DIR``): its build time, memory, top-100 latency and recall@100
  against the exact answer. It answers the k nearest only, so no total or facets.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from bench.search_latency import customer_event, percentile
from search_service.embedder import QueryVector
from search_service.events import EventIndexer
from search_service.schemas import SearchQuery
from search_service.semantic import VectorSearch
from search_service.service import SearchService, SemanticSearch
from search_service.settings import Settings
from search_service.store import SearchStore
from search_service.vectors import VectorIndex
from shared.database import Database
from shared.events.envelope import NOTE_ANALYSED, PROFILE_EMBEDDED, Event, rfc3339
from tests.support.databases import drop_database, migrated_database

DIMENSIONS = 384
TOPICS = 64
#: A vector is ``TOPIC_WEIGHT`` of its topic's centre and the rest noise: two vectors of a
#: topic have a cosine of about 0.25, a vector and its centre about 0.5.
TOPIC_WEIGHT = 0.5
MODEL = {"name": "bench-encoder", "version": "bench-v1"}
NOTE_TIME = rfc3339(datetime(2025, 1, 1, tzinfo=UTC))
Vectors = npt.NDArray[np.float32]


def normalised(rows: npt.NDArray[Any]) -> Vectors:
    """Each row scaled to length 1, as float32."""
    rows = np.atleast_2d(rows).astype(np.float32)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


class TopicVectors:
    """Random unit vectors, each near one of :data:`TOPICS` random centres."""

    def __init__(self, rng: np.random.Generator) -> None:
        self.rng = rng
        self.centres = normalised(rng.standard_normal((TOPICS, DIMENSIONS)))

    def draw(self, count: int) -> tuple[Vectors, npt.NDArray[np.int64]]:
        """``count`` vectors and the topic of each."""
        topics = self.rng.integers(0, TOPICS, count)
        noise = normalised(self.rng.standard_normal((count, DIMENSIONS)))
        weight = TOPIC_WEIGHT
        return normalised(weight * self.centres[topics] + np.sqrt(1 - weight**2) * noise), topics


def nlp_events(customer_ids: list[str], vectors: Vectors, notes: int) -> Iterator[Event]:
    """Each customer's profile vector, then its notes' (``notes`` rows each, in order)."""
    per_customer = 1 + notes
    for number, customer_id in enumerate(customer_ids):
        rows = vectors[number * per_customer : (number + 1) * per_customer]
        yield Event(
            type=PROFILE_EMBEDDED,
            source="nlp_service",
            subject=customer_id,
            version=1,
            data={"model": MODEL, "embedding": rows[0].tolist()},
        )
        for row in rows[1:]:
            yield Event(
                type=NOTE_ANALYSED,
                source="nlp_service",
                subject=customer_id,
                version=1,
                data={
                    "model": MODEL,
                    "embedding": row.tolist(),
                    "note": {
                        "id": str(uuid.uuid4()),
                        "created_at": NOTE_TIME,
                        "sentiment": {"label": "neutral", "score": 0.5, "method": "bench"},
                    },
                },
            )


def rss_mb() -> float:
    """This process's resident memory now."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def timed(calls: list[Callable[[], Any]]) -> list[float]:
    """Each call's duration in milliseconds."""
    durations = []
    for call in calls:
        started = time.perf_counter()
        call()
        durations.append((time.perf_counter() - started) * 1000)
    return durations


def row(kind: str, durations: list[float], baseline: float | None, note: str = "") -> float:
    """Print one line of figures; the p50."""
    p50 = statistics.median(durations)
    ratio = f"{p50 / baseline:6.1f}x" if baseline else "   1.0x"
    print(
        f"{kind:<15} {len(durations):>5} {p50:>8.2f} {percentile(durations, 0.95):>8.2f}"
        f" {ratio:>8}  {note}"
    )
    return p50


def main() -> None:
    """Seed, measure, print, drop the database."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--notes", type=int, default=2, help="note vectors per customer")
    parser.add_argument("--batch", type=int, default=1_000, help="events per apply()")
    parser.add_argument("--queries", type=int, default=100, help="calls per kind")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    topics = TopicVectors(np.random.default_rng(args.seed))
    settings = Settings()
    url = migrated_database("search_service", "bench")
    database = Database(url, pool_size=2, statement_timeout_ms=120_000)
    try:
        store = SearchStore(database)
        indexer = EventIndexer(store)
        started = time.perf_counter()
        customers: list[dict[str, Any]] = []
        for start in range(0, args.customers, args.batch):
            events = [
                customer_event(rng, n)
                for n in range(start, min(start + args.batch, args.customers))
            ]
            indexer.apply(events)
            customers += [event.data for event in events]
        documents_seconds = time.perf_counter() - started
        started = time.perf_counter()
        per_customer = 1 + args.notes
        customer_topics: list[npt.NDArray[np.int64]] = []
        for start in range(0, args.customers, args.batch):
            batch = customers[start : start + args.batch]
            vectors, drawn = topics.draw(len(batch) * per_customer)
            customer_topics.append(drawn.reshape(len(batch), per_customer))
            indexer.apply(list(nlp_events([c["id"] for c in batch], vectors, args.notes)))
        vectors_seconds = time.perf_counter() - started
        with database.transaction() as cursor:
            cursor.execute("ANALYZE")
        vector_count = args.customers * per_customer
        print(
            f"seeded {args.customers} customers in {documents_seconds:.1f} s and"
            f" {vector_count} vectors ({DIMENSIONS} dimensions) in {vectors_seconds:.1f} s"
            f" ({vector_count / vectors_seconds:.0f} events/s)"
        )

        vector_search = VectorSearch(
            store,
            floor=settings.search_semantic_min_similarity,
            max_matches=settings.search_semantic_max_matches,
            refresh_seconds=settings.search_vector_refresh_ms / 1000,
        )
        query_vectors: dict[str, Vectors] = {}

        def embed(text: str, token: str | None) -> QueryVector:
            return QueryVector(MODEL["name"], MODEL["version"], query_vectors[text][0])

        service = SearchService(store, SemanticSearch(embed, vector_search))
        before = rss_mb()
        started = time.perf_counter()
        index = vector_search.index(MODEL["version"], DIMENSIONS)
        load_seconds = time.perf_counter() - started
        grown = rss_mb() - before
        print(
            f"load: {len(index)} vectors into memory in {load_seconds:.1f} s; arrays"
            f" {index.nbytes / 2**20:.0f} MiB ({index.nbytes / len(index):.0f} B a vector),"
            f" process RSS +{grown:.0f} MiB"
        )

        sample = [rng.randrange(args.customers) for _ in range(args.queries)]
        all_topics = np.concatenate(customer_topics)
        for number in sample:
            noisy = near(index, customers[number]["id"], topics.rng)
            query_vectors[f"narrow {number}"] = noisy
            query_vectors[f"broad {number}"] = topics.centres[all_topics[number, 0]][None]
            query_vectors[customers[number]["name"]] = topics.centres[all_topics[number, 0]][None]

        def semantic(text: str, **filters: Any) -> Callable[[], Any]:
            return lambda: service.search(SearchQuery(q=text, mode="semantic", **filters))

        kinds: dict[str, list[Callable[[], Any]]] = {
            "text": [
                lambda n=n: service.search(SearchQuery(q=customers[n]["name"])) for n in sample
            ],
            "narrow": [semantic(f"narrow {n}") for n in sample],
            "broad": [semantic(f"broad {n}") for n in sample],
            "broad+filters": [
                semantic(
                    f"broad {n}", status=customers[n]["status"], country=customers[n]["country"]
                )
                for n in sample
            ],
            "hybrid": [
                lambda n=n: service.search(SearchQuery(q=customers[n]["name"], mode="hybrid"))
                for n in sample
            ],
        }
        totals = {
            kind: statistics.median(calls[i]().total for i in range(min(10, len(calls))))
            for kind, calls in kinds.items()
        }
        print(f"{'query':<15} {'calls':>5} {'p50 ms':>8} {'p95 ms':>8} {'vs text':>8}")
        baseline = None
        for kind, calls in kinds.items():
            timed(calls[:10])  # warm the plans and caches
            p50 = row(kind, timed(calls), baseline, f"median total {totals[kind]:.0f}")
            baseline = baseline or p50

        print("matching alone (the broad queries, no SQL):")
        centres = [query_vectors[f"broad {n}"][0] for n in sample]
        floor, limit = vector_search.floor, vector_search.max_matches
        exact = timed([lambda q=q: index.match(q, floor, limit) for q in centres])
        exact_p50 = row("exact float32", exact, None, "chosen")
        matrix = index_matrix(index)
        half = matrix.astype(np.float16)
        row(
            "exact float16",
            timed([lambda q=q: half @ q.astype(np.float16) for q in centres[:10]]),
            exact_p50,
            f"{half.nbytes / 2**20:.0f} MiB instead of {matrix.nbytes / 2**20:.0f} MiB",
        )
        hnsw(matrix, centres, exact_p50)
    finally:
        database.close()
        drop_database(url)


def near(index: VectorIndex, customer_id: str, rng: np.random.Generator) -> Vectors:
    """A query close to one customer's profile vector (a little noise added)."""
    slot = index._slots["profile"][customer_id]
    own = index._rows[slot]
    return normalised(own + 0.3 * normalised(rng.standard_normal((1, DIMENSIONS)))[0])


def index_matrix(index: VectorIndex) -> Vectors:
    """The index's rows in use (a copy)."""
    used = index._size
    return np.array(index._rows[:used])


def hnsw(matrix: Vectors, queries: list[Vectors], exact_p50: float) -> None:
    """The approximate alternative, when faiss is importable."""
    try:
        import faiss  # type: ignore[import-not-found, import-untyped, unused-ignore]
    except ImportError:
        print("hnsw           (faiss is not installed: see this module's docstring)")
        return
    started = time.perf_counter()
    index = faiss.IndexHNSWFlat(DIMENSIONS, 32, faiss.METRIC_INNER_PRODUCT)
    index.hnsw.efConstruction = 40
    index.add(matrix)
    built = time.perf_counter() - started
    index.hnsw.efSearch = 128
    size = faiss.serialize_index(index).nbytes
    durations = timed([lambda q=q: index.search(q[None], 100) for q in queries])
    exact_top = np.argsort(-(matrix @ np.stack(queries).T), axis=0)[:100].T
    _, found = index.search(np.stack(queries), 100)
    recall = np.mean([len(set(a) & set(e)) / 100 for a, e in zip(found, exact_top, strict=True)])
    row(
        "hnsw top-100",
        durations,
        exact_p50,
        f"rejected: build {built:.0f} s, {size / 2**20:.0f} MiB, recall@100 {recall:.2f},"
        " no total or facets",
    )


if __name__ == "__main__":
    main()
