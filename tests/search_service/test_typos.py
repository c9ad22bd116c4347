"""Typo tolerance as users know it from Meilisearch, and accents that never matter."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from search_service.matching import allowed_typos
from tests.search_service.customer_events import CustomerHistory

Search = Callable[..., dict[str, Any]]
IndexCustomers = Callable[..., list[CustomerHistory]]


def found(search: Search, q: str) -> list[str]:
    return [hit["name"] for hit in search(q=q)["items"]]


@pytest.fixture
def people(index_customers: IndexCustomers) -> None:
    index_customers(
        {"name": "Christopher Lovelace", "company": "Wonderland Trading"},
        {"name": "Zoë Müller", "company": "Bäckerei Schön"},
        {"name": "Ivan Petrov", "company": "Kino"},
    )


@pytest.mark.usefixtures("people")
@pytest.mark.parametrize(
    ("q", "expected"),
    [
        ("lovelace", "Christopher Lovelace"),  # exact
        ("lovelase", "Christopher Lovelace"),  # 8 letters, one changed
        ("lovlace", "Christopher Lovelace"),  # 7 letters, one missing
        ("loveelace", "Christopher Lovelace"),  # 9 letters, one added
        ("christofer", "Christopher Lovelace"),  # 10 letters, two typos
        ("lowelacce", "Christopher Lovelace"),  # 9 letters, two typos
        ("chrystophr", "Christopher Lovelace"),  # 10 letters, two typos
        ("wonderlnad", "Christopher Lovelace"),  # company, two typos (a swap)
        ("mueller", "Zoë Müller"),  # 7 letters, one added
        ("baeckerei", "Zoë Müller"),  # company, 9 letters, one added ("ae" for "ä")
        ("petrof", "Ivan Petrov"),  # 6 letters, one changed
        ("xhristopher", "Christopher Lovelace"),  # 11 letters, the first changed (two typos)
        ("hristopher", "Christopher Lovelace"),  # 10 letters, the first missing (two typos)
        ("schristopher", "Christopher Lovelace"),  # 12 letters, one added first (two typos)
    ],
)
def test_a_word_may_carry_the_typos_its_length_allows(
    search: Search, q: str, expected: str
) -> None:
    assert found(search, q) == [expected]


@pytest.mark.usefixtures("people")
@pytest.mark.parametrize(
    "q",
    [
        "lovalazex",  # 9 letters, three typos
        "luvelase",  # 8 letters, two typos: one is the most under 9 letters
        "lovlaceee",  # 9 letters, three typos
        "ivun",  # 4 letters: no typo at all
        "kimo",  # 4 letters, and "kino" is a whole word away by one letter
        "petro2",  # a word with a digit gets no typo
        "bovelace",  # 8 letters, the first changed: a typo there counts as two
        "ovelace",  # 7 letters, the first missing
        "kristopher",  # 10 letters, the first changed (two) and one missing (three)
    ],
)
def test_a_word_with_more_typos_than_its_length_allows_finds_nothing(
    search: Search, q: str
) -> None:
    assert found(search, q) == []


@pytest.mark.usefixtures("people")
def test_short_words_match_exactly_or_as_a_prefix(search: Search) -> None:
    assert found(search, "ivan") == ["Ivan Petrov"]
    assert found(search, "iva") == ["Ivan Petrov"]
    assert found(search, "kin") == ["Ivan Petrov"]


@pytest.mark.usefixtures("people")
def test_a_hit_without_typos_ranks_above_one_with_typos(
    search: Search, index_customers: IndexCustomers
) -> None:
    index_customers({"name": "Lovelase Exact"})

    assert found(search, "lovelase") == ["Lovelase Exact", "Christopher Lovelace"]


@pytest.mark.usefixtures("people")
@pytest.mark.parametrize(
    ("q", "expected"),
    [
        ("Zoe Muller", "Zoë Müller"),
        ("ZOË MÜLLER", "Zoë Müller"),
        ("backerei schon", "Zoë Müller"),
        ("Çhristöphér", "Christopher Lovelace"),
    ],
)
def test_accents_and_case_never_matter(search: Search, q: str, expected: str) -> None:
    assert found(search, q) == [expected]


def test_accents_in_the_query_find_names_written_without_them(
    search: Search, index_customers: IndexCustomers
) -> None:
    index_customers({"name": "Zoe Muller"})

    assert found(search, "Zoë Müller") == ["Zoe Muller"]
    assert search(q="Zoë")["items"][0]["highlights"]["name"] == "<mark>Zoe</mark> Muller"


@pytest.mark.parametrize(
    ("word", "typos"),
    [
        ("anna", 0),
        ("maria", 1),
        ("lovelace", 1),
        ("christofer", 2),
        ("wonderlnad", 2),
        ("12345", 0),
    ],
)
def test_the_typo_allowance_grows_with_the_word(word: str, typos: int) -> None:
    assert allowed_typos(word) == typos
