"""Which events reach which service, and which schema checks an envelope.

The declaration (``services.toml``) binds each consumer's queue to its patterns;
AMQP topic matching decides what arrives. Customer changes and NLP events share the
envelope but not the schema: the family is chosen by the type's first word.
"""

from __future__ import annotations

import uuid

import pytest

from shared.events.envelope import (
    CREATED,
    NOTE_ADDED,
    NOTE_ANALYSED,
    PROFILE_EMBEDDED,
    InvalidEvent,
    validate_envelope,
)
from shared.events.topology import (
    ROUTING_PATTERN,
    consumer_queues,
    consuming_packages,
    queues_of,
    topic_matches,
)


@pytest.mark.parametrize(
    ("pattern", "key", "expected"),
    [
        ("customer.#", "customer.created", True),
        ("customer.#", "customer", True),
        ("customer.#", "nlp.note_analysed", False),
        ("nlp.note_analysed", "nlp.note_analysed", True),
        ("nlp.note_analysed", "nlp.profile_embedded", False),
        ("*.created", "customer.created", True),
        ("*.created", "customer.note.created", False),
        ("#", "anything.at.all", True),
        ("a.#.z", "a.z", True),
        ("a.#.z", "a.b.c.z", True),
        ("a.#.z", "a.b.c", False),
    ],
)
def test_topic_patterns_match_as_rabbitmq_matches_them(
    pattern: str, key: str, expected: bool
) -> None:
    assert topic_matches(pattern, key) is expected


def test_each_consumer_takes_what_its_declaration_binds() -> None:
    assert consuming_packages(CREATED) == ("search_service", "analytics_service", "nlp_service")
    assert consuming_packages(NOTE_ANALYSED) == (
        "customer_service",
        "search_service",
        "analytics_service",
    )
    assert consuming_packages(PROFILE_EMBEDDED) == ("search_service",)
    assert set(consuming_packages()) == {q.package for q in consumer_queues("x")}
    search = queues_of("ex", "search_service")
    assert search.main == "ex.search_service"
    assert search.takes(NOTE_ADDED)
    assert search.takes(PROFILE_EMBEDDED)
    assert ROUTING_PATTERN in search.patterns
    with pytest.raises(KeyError):
        queues_of("ex", "gateway")


def nlp_envelope(**changes: object) -> dict[str, object]:
    """A valid ``nlp.note_analysed`` envelope, with ``changes``."""
    envelope: dict[str, object] = {
        "id": str(uuid.uuid4()),
        "type": NOTE_ANALYSED,
        "source": "nlp_service",
        "time": "2026-11-30T07:00:00.000000Z",
        "subject": str(uuid.uuid4()),
        "version": 2,
        "schema": 1,
        "data": {
            "model": {"name": "all-MiniLM-L6-v2", "version": "abc"},
            "embedding": [0.6, 0.8],
            "note": {
                "id": str(uuid.uuid4()),
                "created_at": "2026-11-30T07:00:00.000000Z",
                "sentiment": {"label": "neutral", "score": 0.7, "method": "head"},
            },
        },
    }
    envelope.update(changes)
    return envelope


def test_an_nlp_event_is_checked_against_the_nlp_schema() -> None:
    validate_envelope(nlp_envelope())
    embedded = nlp_envelope(type=PROFILE_EMBEDDED)
    data = dict(embedded["data"])  # type: ignore[call-overload]
    del data["note"]
    validate_envelope({**embedded, "data": data})


@pytest.mark.parametrize(
    ("changes", "where"),
    [
        ({"type": PROFILE_EMBEDDED}, "data"),  # a profile event carries no note
        ({"source": "customer_service"}, "source"),
        ({"data": {"model": {"name": "m", "version": "v"}, "embedding": []}}, "data"),
        ({"type": "nlp.unknown"}, "type"),
    ],
)
def test_a_broken_nlp_event_names_where_it_breaks(changes: dict[str, object], where: str) -> None:
    with pytest.raises(InvalidEvent, match=rf"^{where}"):
        validate_envelope(nlp_envelope(**changes))


def test_a_customer_event_is_not_checked_against_the_nlp_schema() -> None:
    with pytest.raises(InvalidEvent, match=r"^data"):
        validate_envelope(nlp_envelope(type=CREATED, source="customer_service"))
