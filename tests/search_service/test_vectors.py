"""The in-memory vector index and the hybrid blend, in plain Python: no database, no Flask."""

from __future__ import annotations

import math
import uuid
from uuid import UUID

import numpy as np
import pytest

from search_service.fusion import EXACT_BONUS, RRF_K, TextHit, reciprocal_rank_fusion
from search_service.vectors import (
    NOTE,
    PROFILE,
    Matches,
    VectorChange,
    VectorIndex,
    unit_vector,
    vector_bytes,
    vector_from_bytes,
)
from tests.search_service.nlp_events import DIMENSIONS, cosine_of, unit

VERSION = "test-v1"
QUERY = unit_vector(unit(1))


class Feed:
    """Changes as the store's feed gives them, stamped in order."""

    def __init__(self) -> None:
        self.stamp = 0

    def change(
        self,
        customer: UUID,
        vector: list[float] | None,
        *,
        note: UUID | None = None,
        model_version: str = VERSION,
    ) -> VectorChange:
        self.stamp += 1
        return VectorChange(
            kind=PROFILE if note is None else NOTE,
            source_id=str(note or customer),
            customer_id=str(customer),
            model_version=model_version,
            vector=None if vector is None else vector_bytes(vector),
            change_seq=self.stamp,
        )


@pytest.fixture
def feed() -> Feed:
    return Feed()


def test_a_customer_scores_its_closest_vector_profile_or_note(feed: Feed) -> None:
    index = VectorIndex(VERSION, DIMENSIONS)
    by_note, by_profile, far = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    index.apply(
        [
            feed.change(by_note, cosine_of(80)),
            feed.change(by_note, cosine_of(10), note=uuid.uuid4()),
            feed.change(by_note, cosine_of(60), note=uuid.uuid4()),
            feed.change(by_profile, cosine_of(30)),
            feed.change(far, cosine_of(85)),
        ]
    )

    matches = index.match(QUERY, floor=0.5, limit=10)

    assert matches.customer_ids == [by_note, by_profile]
    assert matches.scores == pytest.approx([math.cos(math.radians(10)), math.sqrt(3) / 2])
    assert len(index) == 5
    assert index.last_change == 5


def test_the_floor_keeps_exactly_the_vectors_at_or_above_it(feed: Feed) -> None:
    index = VectorIndex(VERSION, DIMENSIONS)
    at, under = uuid.uuid4(), uuid.uuid4()
    index.apply([feed.change(at, unit(3, 4)), feed.change(under, unit(0.59, 0.8))])

    # unit(3, 4) . unit(1) is 0.6; unit(0.59, 0.8) . unit(1) is just under.
    assert index.match(QUERY, floor=0.6, limit=10).customer_ids == [at]
    assert index.match(QUERY, floor=0.61, limit=10) == Matches([], [])
    assert set(index.match(QUERY, floor=-1.0, limit=10).customer_ids) == {at, under}


def test_a_replaced_vector_scores_anew_and_one_of_another_model_leaves(feed: Feed) -> None:
    index = VectorIndex(VERSION, DIMENSIONS)
    moved, upgraded = uuid.uuid4(), uuid.uuid4()
    index.apply([feed.change(moved, cosine_of(0)), feed.change(upgraded, cosine_of(0))])

    index.apply(
        [
            feed.change(moved, cosine_of(45)),
            feed.change(upgraded, None, model_version="test-v2"),
        ]
    )

    matches = index.match(QUERY, floor=0.0, limit=10)
    assert matches.customer_ids == [moved]
    assert matches.scores == pytest.approx([math.sqrt(0.5)])
    assert len(index) == 1
    # The freed row is used again.
    index.apply([feed.change(uuid.uuid4(), cosine_of(20))])
    assert len(index) == 2


def test_a_vector_of_other_dimensions_is_not_compared(feed: Feed) -> None:
    index = VectorIndex(VERSION, DIMENSIONS)
    index.apply([feed.change(uuid.uuid4(), unit(1, dimensions=DIMENSIONS + 1))])

    assert index.match(QUERY, floor=-1.0, limit=10) == Matches([], [])
    with pytest.raises(ValueError, match="dimensions"):
        index.match(unit_vector(unit(1, dimensions=4)), floor=0.0, limit=10)


def test_the_limit_keeps_the_most_similar_ties_by_customer_id(feed: Feed) -> None:
    index = VectorIndex(VERSION, DIMENSIONS, capacity=2)
    customers = [uuid.uuid4() for _ in range(40)]
    # Added past the initial capacity: the matrix grows and keeps every row.
    index.apply(
        feed.change(customer, cosine_of(5 * (n // 4))) for n, customer in enumerate(customers)
    )

    matches = index.match(QUERY, floor=0.0, limit=6)

    best = sorted(customers[:4], key=lambda customer: customer.int >> 64)
    assert matches.customer_ids == [*best, *sorted(customers[4:8], key=lambda c: c.int >> 64)[:2]]
    assert matches.scores[:4] == [1.0] * 4
    assert len(index.match(QUERY, floor=0.0, limit=100)) == 40


def test_a_score_does_not_depend_on_what_else_the_index_holds(feed: Feed) -> None:
    rng = np.random.default_rng(3)
    vectors = rng.standard_normal((999, DIMENSIONS))
    target = uuid.uuid4()
    small, large = VectorIndex(VERSION, DIMENSIONS), VectorIndex(VERSION, DIMENSIONS)
    small.apply([feed.change(target, list(vectors[0]))])
    large.apply(
        [feed.change(target, list(vectors[0]))]
        + [feed.change(uuid.uuid4(), list(row)) for row in vectors[1:]]
    )
    query = unit_vector(vectors[0] + rng.standard_normal(DIMENSIONS) * 0.1)

    alone = small.match(query, floor=-1.0, limit=1)
    among = large.match(query, floor=-1.0, limit=1000)

    assert alone.scores[0] == among.scores[among.customer_ids.index(target)]
    assert large.nbytes >= 999 * DIMENSIONS * 4


@pytest.mark.parametrize(
    "values", [[0.0, 0.0], [], [1.0, float("nan")], [float("inf"), 1.0], [[1.0], [2.0]]]
)
def test_what_is_not_a_vector_is_refused(values: list[float]) -> None:
    with pytest.raises(ValueError, match="embedding"):
        vector_bytes(values)


def test_vectors_are_kept_normalised_as_float32() -> None:
    stored = vector_bytes([3.0, 4.0])

    assert len(stored) == 8
    assert vector_from_bytes(stored).tolist() == pytest.approx([0.6, 0.8])


def ids(count: int) -> list[UUID]:
    return [uuid.uuid4() for _ in range(count)]


def test_fusion_puts_a_hit_both_rankings_like_above_one_only_one_puts_first() -> None:
    text_only, both, vector_only = ids(3)

    fused = reciprocal_rank_fusion(
        [TextHit(text_only, exact=False), TextHit(both, exact=False)],
        Matches([vector_only, both], [0.9, 0.8]),
    )

    assert fused.customer_ids == [both, text_only, vector_only]
    assert fused.scores[0] == pytest.approx(1 / (RRF_K + 2) + 1 / (RRF_K + 2))
    assert fused.scores[1] == fused.scores[2] == pytest.approx(1 / (RRF_K + 1))


def test_fusion_puts_an_exact_match_first_however_the_vectors_rank_it() -> None:
    exact, liked = ids(2)
    others = ids(50)

    fused = reciprocal_rank_fusion(
        [TextHit(liked, exact=False), TextHit(exact, exact=True)],
        Matches([liked, *others], [0.9] * 51),
    )

    assert fused.customer_ids[0] == exact
    assert fused.scores[0] == pytest.approx(EXACT_BONUS + 1 / (RRF_K + 2))
    assert fused.customer_ids[1] == liked
    assert len(fused) == 52
