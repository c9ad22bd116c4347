"""What the NLP service publishes about a customer, built for search tests with their own vectors.

Each event is checked against the NLP event schema, as the consumer checks what it
receives. Vectors are whatever a test constructs (:func:`unit`: a few dimensions
are enough to know which customer a query is closest to).
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Sequence
from typing import Any

from shared.events.envelope import NOTE_ANALYSED, PROFILE_EMBEDDED, Event, validate_envelope
from tests.search_service.customer_events import EPOCH

MODEL = {"name": "test-encoder", "version": "test-v1"}
#: Dimensions of the vectors tests construct.
DIMENSIONS = 8


def unit(*weights: float, dimensions: int = DIMENSIONS) -> list[float]:
    """A unit vector with ``weights`` on its first axes (the rest zero), scaled to length 1."""
    padded = [*weights, *([0.0] * (dimensions - len(weights)))]
    norm = math.sqrt(sum(value * value for value in padded))
    return [value / norm for value in padded]


def cosine_of(angle_degrees: float) -> list[float]:
    """The unit vector at ``angle_degrees`` from the first axis, towards the second: its
    cosine with ``unit(1)`` is ``cos(angle)``."""
    angle = math.radians(angle_degrees)
    return unit(math.cos(angle), math.sin(angle))


def profile_embedded(
    customer_id: str,
    version: int,
    embedding: Sequence[float],
    *,
    model: dict[str, str] | None = None,
) -> Event:
    """``nlp.profile_embedded``: the vector of the customer's profile at ``version``."""
    return _checked(
        Event(
            type=PROFILE_EMBEDDED,
            source="nlp_service",
            subject=customer_id,
            version=version,
            data={"model": dict(model or MODEL), "embedding": list(embedding)},
        )
    )


def note_analysed(
    customer_id: str,
    version: int,
    embedding: Sequence[float],
    *,
    note_id: str | None = None,
    model: dict[str, str] | None = None,
) -> Event:
    """``nlp.note_analysed``: a note's sentiment and vector (a new note unless ``note_id``)."""
    return _checked(
        Event(
            type=NOTE_ANALYSED,
            source="nlp_service",
            subject=customer_id,
            version=version,
            data={
                "model": dict(model or MODEL),
                "embedding": list(embedding),
                "note": {
                    "id": note_id or str(uuid.uuid4()),
                    "created_at": EPOCH.isoformat().replace("+00:00", "Z"),
                    "sentiment": {"label": "neutral", "score": 0.9, "method": "test"},
                },
            },
        )
    )


def _checked(event: Event) -> Event:
    document: dict[str, Any] = event.to_document()
    validate_envelope(document)
    return event
