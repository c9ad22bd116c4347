"""Semantic and hybrid search over vectors the tests construct, on the real search database.

The query's embedding comes from a table of the test's own instead of the NLP
service (test_semantic_api.py goes through the real one): each query text maps
to a unit vector, so which customers are close to it, and how close, is known.
"""

from __future__ import annotations

import math
from datetime import timedelta
from typing import Any

import pytest

from search_service.cursors import InvalidCursor
from search_service.embedder import QueryVector
from search_service.events import EventIndexer
from search_service.fusion import EXACT_BONUS
from search_service.schemas import SearchPage, SearchQuery
from search_service.semantic import VectorSearch
from search_service.service import SearchService, SemanticSearch
from search_service.store import SearchStore
from search_service.vectors import unit_vector
from tests.search_service.customer_events import EPOCH, CustomerHistory
from tests.search_service.nlp_events import (
    MODEL,
    cosine_of,
    note_analysed,
    profile_embedded,
    unit,
)

FLOOR = 0.5
#: What each query text embeds as: the first axis, unless a test says otherwise.
QUERY_VECTORS = {
    "towards the first axis": unit(1),
    "Grace Hopper": unit(1),
    "grace@navy.example": unit(1),
}


class Clock:
    """A monotonic clock the test moves."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class Semantic:
    """A search service whose queries embed through :data:`QUERY_VECTORS`."""

    def __init__(self, store: SearchStore, indexer: EventIndexer, **options: Any) -> None:
        self.indexer = indexer
        self.clock = Clock()
        self.embedded: list[tuple[str, str | None]] = []
        self.model_version = MODEL["version"]
        self.vectors = VectorSearch(
            store,
            floor=options.pop("floor", FLOOR),
            max_matches=options.pop("max_matches", 1000),
            refresh_seconds=options.pop("refresh_seconds", 0.0),
            read_size=options.pop("read_size", 3),
            clock=self.clock,
        )
        self.service = SearchService(store, SemanticSearch(self.embed, self.vectors))

    def embed(self, text: str, token: str | None) -> QueryVector:
        self.embedded.append((text, token))
        return QueryVector("test-encoder", self.model_version, unit_vector(QUERY_VECTORS[text]))

    def search(self, **params: Any) -> SearchPage:
        params.setdefault("mode", "semantic")
        params.setdefault("q", "towards the first axis")
        return self.service.search(SearchQuery.model_validate(params), "the-token")

    def customer(self, angle: float | None, **fields: Any) -> CustomerHistory:
        """A customer whose profile vector is ``angle`` degrees from the first axis (None: no
        vector), indexed with its vector."""
        history = CustomerHistory(fields)
        events = [history.events[0]]
        if angle is not None:
            events.append(profile_embedded(history.id, 1, cosine_of(angle)))
        self.indexer.apply(events)
        return history


@pytest.fixture
def semantic(search_store: SearchStore, indexer: EventIndexer) -> Semantic:
    return Semantic(search_store, indexer)


def names(page: SearchPage) -> list[str]:
    return [hit.name for hit in page.items]


def ids(page: SearchPage) -> list[str]:
    return [str(hit.id) for hit in page.items]


def test_customers_rank_by_the_cosine_of_their_vector_down_to_the_floor(
    semantic: Semantic,
) -> None:
    for name, angle in [("Far", 75.0), ("Close", 10.0), ("Closer", 5.0), ("At floor", 60.0)]:
        semantic.customer(angle, name=name)
    semantic.customer(None, name="Not embedded yet")

    page = semantic.search()

    assert names(page) == ["Closer", "Close", "At floor"]
    assert [hit.score for hit in page.items] == pytest.approx(
        [math.cos(math.radians(angle)) for angle in (5, 10, 60)], abs=1e-6
    )
    assert page.total == 3
    assert semantic.embedded == [("towards the first axis", "the-token")]
    assert [hit.highlights.name for hit in page.items] == [None] * 3


def test_a_customer_scores_its_closest_note_or_profile(semantic: Semantic) -> None:
    noted = semantic.customer(80.0, name="Close note")
    semantic.customer(20.0, name="Close profile")
    semantic.indexer.apply(
        [note_analysed(noted.id, 1, cosine_of(70)), note_analysed(noted.id, 1, cosine_of(5))]
    )

    page = semantic.search()

    assert names(page) == ["Close note", "Close profile"]
    assert page.items[0].score == pytest.approx(math.cos(math.radians(5)), abs=1e-6)


@pytest.fixture
def crowd(semantic: Semantic) -> dict[str, CustomerHistory]:
    """Five customers close to the query, one far, with distinct filters."""
    rows: list[tuple[str, float, dict[str, Any]]] = [
        ("Ada", 5.0, {"status": "active", "country": "GB", "segment": "smb", "tags": ["vip"]}),
        ("Bea", 10.0, {"status": "active", "country": "FR", "segment": "enterprise"}),
        ("Cyd", 15.0, {"status": "lead", "country": "GB", "tags": ["vip", "math"]}),
        ("Dan", 20.0, {"status": "churned", "country": "DE", "segment": "smb"}),
        ("Eve", 25.0, {"status": "lead", "country": "GB", "tags": ["math"]}),
        ("Far", 85.0, {"status": "active", "country": "GB", "tags": ["vip"]}),
    ]
    return {
        name: semantic.customer(angle, name=name, created_at=EPOCH + timedelta(days=n), **fields)
        for n, (name, angle, fields) in enumerate(rows)
    }


@pytest.mark.usefixtures("crowd")
@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({"status": "active"}, ["Ada", "Bea"]),
        ({"country": "gb"}, ["Ada", "Cyd", "Eve"]),
        ({"segment": "smb"}, ["Ada", "Dan"]),
        ({"tag": ["vip", "math"]}, ["Cyd"]),
        ({"created_after": "2025-01-03T00:00:00Z"}, ["Cyd", "Dan", "Eve"]),
        ({"created_before": "2025-01-02T00:00:00Z"}, ["Ada"]),
        ({"country": "JP"}, []),
    ],
)
def test_every_filter_narrows_the_semantic_matches(
    semantic: Semantic, filters: dict[str, Any], expected: list[str]
) -> None:
    page = semantic.search(**filters)

    assert names(page) == expected
    assert page.total == len(expected)


@pytest.mark.usefixtures("crowd")
def test_facets_and_total_count_every_match_at_or_above_the_floor(semantic: Semantic) -> None:
    page = semantic.search(limit=1)

    assert page.total == 5
    assert {entry.value: entry.count for entry in page.facets.status} == {
        "active": 2,
        "lead": 2,
        "churned": 1,
    }
    assert {entry.value: entry.count for entry in page.facets.country} == {
        "GB": 3,
        "FR": 1,
        "DE": 1,
    }
    assert {entry.value: entry.count for entry in page.facets.tag} == {"vip": 2, "math": 2}


@pytest.mark.usefixtures("crowd")
@pytest.mark.parametrize(
    ("sort", "expected"),
    [
        ("name", ["Ada", "Bea", "Cyd", "Dan", "Eve"]),
        ("-created", ["Eve", "Dan", "Cyd", "Bea", "Ada"]),
        ("created", ["Ada", "Bea", "Cyd", "Dan", "Eve"]),
    ],
)
def test_other_sorts_order_the_semantic_matches(
    semantic: Semantic, sort: str, expected: list[str]
) -> None:
    page = semantic.search(sort=sort)

    assert names(page) == expected
    assert all(hit.score is not None for hit in page.items)


def test_pages_walk_every_match_once_in_order(semantic: Semantic) -> None:
    # Groups of equal similarity, so ties cross page boundaries.
    for n in range(22):
        semantic.customer(float(5 * (n // 3)), name=f"Walker {n:02d}")
    semantic.customer(89.0, name="Too far")

    for sort in ("relevance", "name", "created", "-created"):
        seen, scores = [], []
        params: dict[str, Any] = {"sort": sort, "limit": 4}
        while True:
            page = semantic.search(**params)
            assert page.total == 22
            seen += [hit.id for hit in page.items]
            scores += [hit.score for hit in page.items]
            if page.next_cursor is None:
                break
            params["cursor"] = page.next_cursor
        assert len(seen) == len(set(seen)) == 22, sort
        if sort == "relevance":
            assert scores == sorted(scores, reverse=True)


def test_a_cursor_is_for_its_own_mode(semantic: Semantic) -> None:
    for n in range(3):
        semantic.customer(float(n), name=f"Grace Hopper {n}")
    cursor = semantic.search(limit=1).next_cursor
    assert cursor is not None

    for mode in ("text", "hybrid"):
        with pytest.raises(InvalidCursor):
            semantic.search(mode=mode, cursor=cursor, limit=1)
    # Refused before the query is embedded.
    embedded = len(semantic.embedded)
    with pytest.raises(InvalidCursor):
        semantic.search(cursor="bm90IG91cnM")
    assert len(semantic.embedded) == embedded


def test_deleted_customers_are_not_found(semantic: Semantic) -> None:
    gone = semantic.customer(5.0, name="Gone")
    semantic.customer(10.0, name="Stays")

    semantic.indexer.apply([gone.delete()])

    assert names(semantic.search()) == ["Stays"]
    semantic.indexer.apply([gone.restore()])
    assert names(semantic.search()) == ["Gone", "Stays"]


def test_only_vectors_of_the_query_s_model_version_are_compared(semantic: Semantic) -> None:
    old_model = {"name": "test-encoder", "version": "test-v0"}
    ada = semantic.customer(None, name="Ada")
    semantic.indexer.apply([profile_embedded(ada.id, 1, cosine_of(0), model=old_model)])
    semantic.customer(30.0, name="Bea")

    assert names(semantic.search()) == ["Bea"]

    # Queries of the old model find Ada's old vector, and only that.
    semantic.model_version = "test-v0"
    assert names(semantic.search()) == ["Ada"]

    # Re-embedded with the new model at a newer version, Ada leaves the old model's index.
    semantic.indexer.apply([ada.update(company="Analytical")])
    semantic.indexer.apply([profile_embedded(ada.id, 2, cosine_of(1))])
    assert names(semantic.search()) == []
    semantic.model_version = MODEL["version"]
    assert names(semantic.search()) == ["Ada", "Bea"]


def test_vectors_and_customers_arriving_later_are_found_at_the_next_refresh(
    search_store: SearchStore, indexer: EventIndexer
) -> None:
    semantic = Semantic(search_store, indexer, refresh_seconds=0.5)
    semantic.customer(10.0, name="First")
    assert names(semantic.search()) == ["First"]

    # The vector before its customer: nothing to show yet.
    later = CustomerHistory({"name": "Later"})
    indexer.apply([profile_embedded(later.id, 1, cosine_of(5))])
    semantic.clock.now += 1.0
    assert names(semantic.search()) == ["First"]

    indexer.apply([later.events[0]])
    assert names(semantic.search()) == ["Later", "First"]

    # Between two refreshes a query uses the vectors it holds.
    indexer.apply([later.update(), profile_embedded(later.id, 2, cosine_of(50))])
    semantic.clock.now += 0.1
    assert names(semantic.search()) == ["Later", "First"]
    semantic.clock.now += 0.5
    assert names(semantic.search()) == ["First", "Later"]


def test_a_first_load_reads_the_whole_feed_in_several_reads(
    search_store: SearchStore, indexer: EventIndexer
) -> None:
    writer = Semantic(search_store, indexer)
    for n in range(10):
        writer.customer(float(n), name=f"Customer {n}")

    reader = Semantic(search_store, indexer, read_size=4)

    assert len(reader.search().items) == 10
    index = reader.vectors.index(MODEL["version"], 8)
    assert len(index) == 10


def test_the_most_similar_matches_are_kept_up_to_the_limit(
    search_store: SearchStore, indexer: EventIndexer
) -> None:
    semantic = Semantic(search_store, indexer, max_matches=3)
    for n in range(5):
        semantic.customer(float(10 * n), name=f"Customer {n}")

    page = semantic.search()

    assert names(page) == ["Customer 0", "Customer 1", "Customer 2"]
    assert page.total == 3


def test_without_words_every_mode_is_a_filtered_listing(semantic: Semantic) -> None:
    semantic.customer(80.0, name="Old", created_at=EPOCH)
    semantic.customer(5.0, name="New", created_at=EPOCH + timedelta(days=1))

    for mode in ("semantic", "hybrid"):
        for nothing_shows in ("   ", "\u200b\u2066 \ufeff"):
            page = semantic.search(mode=mode, q=nothing_shows)
            assert names(page) == ["New", "Old"]
            assert [hit.score for hit in page.items] == [None, None]
    assert semantic.embedded == []


def test_the_query_is_embedded_as_it_reads(semantic: Semantic) -> None:
    semantic.customer(5.0, name="Close")

    page = semantic.search(q=" \u202etowards the first axis\u202c ")

    assert names(page) == ["Close"]
    assert semantic.embedded == [("towards the first axis", "the-token")]


def test_hybrid_puts_an_exact_name_or_email_first_then_blends_both_rankings(
    semantic: Semantic,
) -> None:
    grace = semantic.customer(85.0, name="Grace Hopper", email="grace@navy.example")
    words_only = semantic.customer(None, name="Grace Hopperton")
    both = semantic.customer(20.0, name="Grace Hoppers")
    meaning_only = semantic.customer(2.0, name="Someone Else")
    semantic.customer(80.0, name="Unrelated")

    page = semantic.search(mode="hybrid", q="Grace Hopper")

    assert ids(page)[0] == grace.id
    assert (page.items[0].score or 0) > EXACT_BONUS
    assert set(ids(page)) == {grace.id, words_only.id, both.id, meaning_only.id}
    assert page.total == 4
    assert page.items[0].highlights.name == "<mark>Grace</mark> <mark>Hopper</mark>"
    # The hit both rankings hold beats those only one of them holds.
    assert ids(page)[1] == both.id

    by_email = semantic.search(mode="hybrid", q="grace@navy.example")
    assert ids(by_email)[0] == grace.id


def test_hybrid_honours_the_filters_in_both_rankings(semantic: Semantic) -> None:
    kept = semantic.customer(30.0, name="Grace Kept", status="active")
    semantic.customer(1.0, name="Grace Filtered", status="lead")
    semantic.customer(None, name="Grace Hopper", status="lead")

    page = semantic.search(mode="hybrid", q="Grace Hopper", status="active")

    assert ids(page) == [kept.id]
    assert page.total == 1


def test_a_service_without_semantic_search_says_it_needs_the_nlp_service(
    search_store: SearchStore, empty_index: None
) -> None:
    service = SearchService(search_store)

    with pytest.raises(Exception, match="NLP service") as raised:
        service.search(SearchQuery(q="anything", mode="semantic"))

    assert getattr(raised.value, "status", None) == 503
