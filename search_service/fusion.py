"""Hybrid ranking: the full-text ranking and the vector ranking blended by reciprocal rank fusion.

Plain Python. Each hit scores ``1 / (RRF_K + rank)`` in each ranking it is in
(rank 1 is the best), summed: a hit both rankings like beats one only one of
them puts first. Ranks, not scores, because the two scores are not on one scale
(the text score is tiers plus ``ts_rank``; the vector score a cosine whose
spread depends on the model and the query), so no weighting of the two needs
tuning. ``RRF_K = 60`` is the constant of Cormack, Clarke and Büttcher (SIGIR
2009), which damps the difference between the first few ranks.

A hit that is exactly what was typed (its email or phone, or its whole name,
accents and case ignored) gets ``EXACT_BONUS`` more, above any blend, so it comes
first however the vectors rank it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from uuid import UUID

from search_service.vectors import Matches

RRF_K = 60
#: More than any blend can reach (two rankings: at most 2 / (RRF_K + 1)).
EXACT_BONUS = 1.0


@dataclass(frozen=True)
class TextHit:
    """A full-text hit, in the text ranking's order; ``exact`` when ``q`` is its email, phone
    or whole name."""

    customer_id: UUID
    exact: bool


def reciprocal_rank_fusion(
    text_hits: Sequence[TextHit], semantic: Matches, *, k: int = RRF_K
) -> Matches:
    """Every hit of either ranking (each given best first) with its blended score, best first.

    Ties keep the text ranking's order, then the vector ranking's.
    """
    scores: dict[UUID, float] = {}
    for rank, hit in enumerate(text_hits, start=1):
        scores[hit.customer_id] = 1 / (k + rank) + (EXACT_BONUS if hit.exact else 0.0)
    for rank, customer_id in enumerate(semantic.customer_ids, start=1):
        scores[customer_id] = scores.get(customer_id, 0.0) + 1 / (k + rank)
    ranked = sorted(scores.items(), key=lambda item: -item[1])
    return Matches(
        customer_ids=[customer_id for customer_id, _ in ranked],
        scores=[score for _, score in ranked],
    )
