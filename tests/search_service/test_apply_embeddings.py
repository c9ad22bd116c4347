"""Applying the NLP service's events: the newest profile vector wins, a note's vector once."""

from __future__ import annotations

import random
import uuid
from typing import Any

import pytest

from search_service.events import EventIndexer
from search_service.vectors import vector_from_bytes
from tests.search_service import INDEX_TABLES
from tests.search_service.customer_events import CustomerHistory
from tests.search_service.nlp_events import cosine_of, note_analysed, profile_embedded, unit
from tests.support.databases import Query

EMBEDDINGS = (
    "SELECT kind, source_id, customer_id, version, model_name, model_version, vector, change_seq"
    " FROM embeddings"
)


def embeddings(query: Query) -> list[dict[str, Any]]:
    """Every stored embedding, its vector as a list of floats, without its stamp."""
    rows = query(EMBEDDINGS + " ORDER BY kind, source_id")
    return [
        {
            **{key: value for key, value in row.items() if key != "change_seq"},
            "vector": vector_from_bytes(bytes(row["vector"])).tolist(),
        }
        for row in rows
    ]


def profile_vector(query: Query, customer_id: str) -> dict[str, Any]:
    (row,) = query(EMBEDDINGS + " WHERE kind = 'profile' AND source_id = %s", (customer_id,))
    return row


def test_a_newer_profile_vector_replaces_the_held_one_and_an_older_one_does_not(
    indexer: EventIndexer, query: Query
) -> None:
    customer = str(uuid.uuid4())
    first, second, third = (
        profile_embedded(customer, version, cosine_of(10 * version)) for version in (1, 2, 3)
    )

    assert indexer.apply([second]) == 1
    stamp = profile_vector(query, customer)["change_seq"]
    assert indexer.apply([first]) == 0
    assert indexer.apply([second]) == 0
    assert profile_vector(query, customer)["change_seq"] == stamp
    assert indexer.apply([third]) == 1

    row = profile_vector(query, customer)
    assert row["version"] == 3
    assert row["change_seq"] > stamp
    assert vector_from_bytes(bytes(row["vector"])).tolist() == pytest.approx(cosine_of(30))


def test_a_note_vector_is_stored_once_per_note(indexer: EventIndexer, query: Query) -> None:
    customer, note = str(uuid.uuid4()), str(uuid.uuid4())
    event = note_analysed(customer, 1, unit(1), note_id=note)
    again_later = note_analysed(customer, 2, unit(0, 1), note_id=note)

    assert indexer.apply([event, event]) == 1
    assert indexer.apply([again_later, event]) == 0

    (row,) = query(EMBEDDINGS + " WHERE kind = 'note'")
    assert (str(row["source_id"]), str(row["customer_id"]), row["version"]) == (note, customer, 1)
    assert vector_from_bytes(bytes(row["vector"])).tolist() == pytest.approx(unit(1))


def test_duplicated_and_shuffled_nlp_and_customer_events_build_the_same_index(
    indexer: EventIndexer, query: Query
) -> None:
    events = []
    for n in range(6):
        history = CustomerHistory({"name": f"Customer {n}"})
        events += [history.events[0], profile_embedded(history.id, 1, cosine_of(n))]
        events += [
            history.update(company="Acme"),
            profile_embedded(history.id, 2, cosine_of(n + 40)),
        ]
        events += [note_analysed(history.id, 2, cosine_of(n + 70)) for _ in range(2)]
    # In one batch the older snapshot and profile vector of each customer change nothing.
    assert indexer.apply(events) == 6 * 4
    expected = (embeddings(query), query("SELECT customer_id, version FROM documents ORDER BY 1"))

    query(f"TRUNCATE {INDEX_TABLES}, embeddings")
    shuffled = events * 3
    random.Random(11).shuffle(shuffled)
    applied = sum(
        indexer.apply(shuffled[start : start + 7]) for start in range(0, len(shuffled), 7)
    )

    assert (
        embeddings(query),
        query("SELECT customer_id, version FROM documents ORDER BY 1"),
    ) == expected
    # Whatever the order, the events that end up held are counted once in effect; with the
    # newer one first, an older profile vector or snapshot changes nothing.
    assert 6 * 4 <= applied <= len(events)
    assert indexer.apply(shuffled) == 0


def test_of_several_profile_vectors_in_a_batch_only_the_newest_counts(
    indexer: EventIndexer, query: Query
) -> None:
    customer = str(uuid.uuid4())
    batch = [profile_embedded(customer, version, cosine_of(version)) for version in (2, 5, 3)]

    assert indexer.apply(batch) == 1
    assert profile_vector(query, customer)["version"] == 5


def test_a_batch_with_an_unusable_vector_writes_nothing(
    indexer: EventIndexer, query: Query
) -> None:
    ada = CustomerHistory({"name": "Ada Lovelace"})
    zero = profile_embedded(ada.id, 1, [0.0] * 8)

    with pytest.raises(ValueError, match="zeros"):
        indexer.apply([ada.events[0], note_analysed(ada.id, 1, unit(1)), zero])

    assert query("SELECT 1 FROM documents") == []
    assert query("SELECT 1 FROM embeddings") == []


def test_every_change_is_stamped_higher_than_the_last(indexer: EventIndexer, query: Query) -> None:
    customer, first_note = str(uuid.uuid4()), str(uuid.uuid4())
    indexer.apply(
        [
            profile_embedded(customer, 1, unit(1)),
            note_analysed(customer, 1, unit(1), note_id=first_note),
        ]
    )
    before = {str(row["source_id"]): row["change_seq"] for row in query(EMBEDDINGS)}

    indexer.apply([profile_embedded(customer, 2, unit(0, 1)), note_analysed(customer, 2, unit(1))])

    after = {str(row["source_id"]): row["change_seq"] for row in query(EMBEDDINGS)}
    assert after[first_note] == before[first_note]
    assert after[customer] > max(before.values())
    (new_note,) = set(after) - set(before)
    assert after[new_note] > max(before.values())
